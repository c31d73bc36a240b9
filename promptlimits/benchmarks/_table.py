"""Printing the benchmarks' tables: right-aligned columns, one title line."""

from __future__ import annotations


def print_table(title: str, header, rows) -> None:
    """Print ``title``, then ``header`` and ``rows`` in right-aligned columns, then a blank line."""
    widths = [max([len(str(h))] + [len(str(r[i])) for r in rows]) for i, h in enumerate(header)]
    print(title)
    for cells in [header, *rows]:
        print("  ".join(str(c).rjust(w) for c, w in zip(cells, widths)))
    print()
