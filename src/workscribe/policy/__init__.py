"""Behaviour-cloning policies: observation features, the model, training."""
