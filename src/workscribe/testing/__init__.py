"""Data made for tests and benchmarks: synthetic spools, planted-secret corpora. Never imported by
the recorder or the processing stages."""
