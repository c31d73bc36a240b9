"""Shared figure helpers: Agg backend, fixed style, deterministic PNG + PDF.

Determinism: PDF metadata without ``CreationDate``/``Producer``-dependent
dates, PNG without the ``Software`` text chunk, a fixed hash salt for SVG ids
and fixed DPI, so the same results give byte-identical files.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=True)
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "svg.hashsalt": "promptlimits",
    "pdf.compression": 6,
}


def new_figure(ncols=1, nrows=1, size=(6.0, 4.0)):
    """A figure and axes with the project style."""
    plt.rcParams.update(STYLE)
    return plt.subplots(nrows, ncols, figsize=size, squeeze=False, constrained_layout=True)


def save(fig, out_dir, stem: str) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf`` under ``out_dir`` deterministically; close ``fig``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("SOURCE_DATE_EPOCH", "0")
    paths = []
    png, pdf = out / f"{stem}.png", out / f"{stem}.pdf"
    fig.savefig(png, metadata={"Software": None})
    fig.savefig(pdf, metadata={"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None})
    paths += [png, pdf]
    plt.close(fig)
    return paths


def load(results, name: str):
    """Results of sweep ``name`` from a directory, or from a given CSV / sidecar path."""
    from promptlimits.sweep import read_results

    p = Path(results)
    return read_results(p, name=name) if p.is_dir() else read_results(p)
