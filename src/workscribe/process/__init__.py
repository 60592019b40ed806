"""Raw events to actions, observations and episodes: pure functions."""
