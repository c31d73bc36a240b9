"""Figures of DESIGN section 8, drawn from saved sweep results.

Each module exposes ``draw(results, out_dir) -> list[Path]``: ``results`` is a
results directory (or a CSV / sidecar path, see
:func:`promptlimits.sweep.read_results`); the PNG and PDF written are
byte-identical across runs (:mod:`figures._style`).

- :mod:`figures.phase` -- figure 1, phase diagram over ``(n, B)``.
- :mod:`figures.runtime` -- figure 2, runtime against ``n``.
- :mod:`figures.hardness` -- figure 6, hardness decision accuracy.
- :mod:`figures.prompt_norm` -- figure 5 (induced ``B(P)`` against the frontier).
"""
