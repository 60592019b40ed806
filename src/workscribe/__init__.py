"""workscribe: consent-first recording of computer work for behaviour-cloning datasets."""

__version__ = "0.1.0"
