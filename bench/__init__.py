"""Benchmarks: ``python -m bench NAME [--quick] [--backend sqlite|postgres]`` (see ../shared/BENCH.md)."""
