"""``promptlimits reproduce``: run the experiments behind the figures and write a report.

This first version runs the prompt-tuning experiment (loss against steps for
several prompt lengths, constrained and unconstrained) and writes
``OUT/report.md``; the other experiments join it as they land.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .._io import atomic_write_text, write_json
from ..datasets import teacher
from ..model import PromptedModel
from ..tuning import tune_prompt

SCALES = ("quick", "full")


def register(subparsers) -> None:
    p = subparsers.add_parser("reproduce", help="run every experiment, draw the figures, write a report")
    p.add_argument("--scale", default="quick", help="quick (default, minutes on a laptop) or full")
    p.add_argument("--out", default="results", help="output folder (default ./results)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.scale not in SCALES:
        raise ValueError(f"unknown scale {args.scale!r}; expected one of {', '.join(SCALES)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model = PromptedModel.from_seed(2, seed=0)
    X = np.random.default_rng(0).uniform(size=(8 if args.scale == "quick" else 32, 2, 2))
    Y, _ = teacher(model, X, 3, prompt_scale=6.0, seed=10)
    rows = []
    for Lp in (1, 2, 4, 8):
        for rho in (None, 2.0):
            res = tune_prompt(model, X, Y, Lp=Lp, optimizer="lbfgs", steps=500, rho=rho, init="normal",
                              init_scale=1.0, seed=0, progress=False)
            rows.append({"Lp": Lp, "rho": rho, **res.summary()})
            print(f"Lp={Lp:<2} rho={rho!s:<4} max_err={res.max_err:.4f} B={res.B:.3f} ({res.seconds:.2f} s)")
    write_json(out / "tuning.json", rows)
    lines = ["# promptlimits report", "", "## Prompt tuning", "",
             "| Lp | rho | steps | MSE | max error | induced B |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['Lp']} | {r['rho']} | {r['steps']} | {r['mse']:.3g} | {r['max_err']:.3g} | {r['B']:.3g} |"
              for r in rows]
    lines += ["", f"Wall time: {time.perf_counter() - t0:.1f} s.", ""]
    atomic_write_text(out / "report.md", "\n".join(lines))
    print(f"wrote {out / 'report.md'}")
    return 0
