"""Environments: X display helpers and scripted demonstrators."""
