"""Benchmarks: ``python -m bench NAME [--quick] [--backend sqlite|postgres]`` (see docs/benchmarks.md)."""
