"""Benchmark scripts, run by hand: ``python -m benchmarks.run``, ``python benchmarks/<x>.py``."""
