"""Offline evaluation: predicted actions scored against recorded ones (screen actions in ``metrics``,
next command and next edit in ``coding``), beside simple baselines."""
