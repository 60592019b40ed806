"""Offline evaluation of behaviour-cloning models: predicted actions scored against recorded ones."""
