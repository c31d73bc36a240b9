"""Benchmarks run by ``promptlimits bench`` (print tables; never timed tests)."""
