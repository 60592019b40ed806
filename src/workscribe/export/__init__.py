"""Datasets in the formats trainers load: one module per format behind one registry (``formats``)."""
