"""Benchmarks behind `workscribe bench ...`: speed, memory and fidelity, measured, not asserted."""
