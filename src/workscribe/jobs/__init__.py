"""Jobs that run the whole system end to end: collecting demonstrations under a real recorder, the
demo, the small behaviour-cloning pipeline. They compose the stages; the CLI and the benchmarks call them."""
