"""``promptlimits plot DIR``: draw every figure that a folder of saved sweep results supports.

``DIR`` is a run folder of ``promptlimits reproduce`` (its results in ``DIR/results``) or a
folder of sweep results itself (``promptlimits sweep NAME --out DIR``). For every registered
experiment whose ``NAME.csv`` is there, its figures are drawn into ``--out`` (default: the
``figures`` folder beside the results) with the report's own figure code, so a saved run
redraws exactly as ``reproduce`` drew it.
"""

from __future__ import annotations

from pathlib import Path

from ..cli import UserError
from ..experiments import EXPERIMENTS
from ._options import probe_output_folder


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "plot", help="draw the figures a folder of saved sweep results supports",
        description="draw the figures of every registered experiment whose results (NAME.csv with its "
                    "NAME.json sidecar) are in DIR or DIR/results")
    p.add_argument("dir", metavar="DIR", help="a run folder of 'reproduce' or a folder of sweep results")
    p.add_argument("--out", default=None, metavar="FIGDIR",
                   help="where to write the PNG and PDF files (default: the 'figures' folder beside the results)")
    p.set_defaults(func=run)


def results_folder(folder: Path) -> tuple[Path, list]:
    """The folder holding the results, and the registered experiments found there.

    Looks in ``folder/results`` first, then in ``folder``; a :class:`UserError` naming the
    files looked for when neither holds any experiment's results.
    """
    if not folder.is_dir():
        raise UserError(f"DIR {folder}: no such folder")
    for candidate in (folder / "results", folder):
        found = [e for e in EXPERIMENTS if (candidate / f"{e.name}.csv").is_file()]
        if found:
            return candidate, found
    looked = ", ".join(f"{e.name}.csv" for e in EXPERIMENTS)
    raise UserError(f"no sweep results in {folder} or {folder / 'results'}: looked for {looked}")


def run(args) -> int:
    from .. import figures

    results, found = results_folder(Path(args.dir))
    default = results.parent / "figures" if results.name == "results" else results / "figures"
    figdir = probe_output_folder(args.out or default, "--out")
    written = []
    for exp in found:
        for stem in exp.figures:
            written += figures.draw(stem, results / f"{exp.name}.csv", figdir)
            print(f"{stem}: drawn from {results / exp.name}.csv", flush=True)
    print(f"wrote {len(written)} figure files under {figdir}")
    return 0
