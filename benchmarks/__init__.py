"""The asv (airspeed velocity) suite of promptlimits: a benchmark history stored per machine.

Run it with ``python -m benchmarks.run`` from the repository root (docs/benchmarks.md);
``python -m benchmarks.table`` prints the README's speed table from the stored results.
The library never imports this package.
"""
