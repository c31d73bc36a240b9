"""Check that the shared cost model gives the experiments exactly the values of the code it replaced.

Before ``promptlimits.poly_attention._cost`` the chain "least certified degree ->
rank -> cost against n" was computed in ``experiments/phase.py`` (``_certificate``),
``experiments/prompt_norm.py`` (``_ratio``, ``frontier_B(s, n, eps)``),
``experiments/tuning_curves.py`` (``frontier_B(n, s, eps)``) and
``PromptedModel._poly_pays``. This script extracts the old tree (``--ref``,
default the commit before the change) with ``git archive``, evaluates the old
functions there in a subprocess, evaluates the new ones here, on the grids the
experiments use (phase: every scale's B grid, n = 2^8..2^20, eps = 1e-6 and
n^-1; prompt-norm: induced norms 0.01..6 at s = 4, n_ref = 16384; tuning curves:
d = 2, 4 and n = 3..40), and prints the number of values that differ (exact
float comparison). ``_poly_pays`` is compared at the same ``eps_p`` (its cost
rule must not change) and after the ``attn_eps`` conversion (which may).

Usage: ``python tools/compare_cost_model.py [--ref COMMIT]`` from the repository root
(a few minutes: interval-arithmetic certificates for every grid point, twice).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

OLD_SIDE = r'''
import json, math, sys
import numpy as np
from promptlimits.experiments import phase, prompt_norm, tuning_curves
from promptlimits.model import PromptedModel
grid = json.loads(sys.argv[1])
out = {"phase": [phase._certificate(B * B, eps / (2.0 + eps), "auto") for eps, B in grid["phase"]],
       "ratio": [prompt_norm._ratio(4, B, 16384, 1e-6) for B in grid["ratio"]],
       "frontier": [tuning_curves.frontier_B(n, d) for d, n in grid["frontier"]],
       "pn_frontier": prompt_norm.frontier_B(4, 16384, 1e-6)}
m = PromptedModel.from_seed(2, seed=0)
out["pays"] = [m._poly_pays(B, eps, nq, nk) for B, nq, nk, eps in grid["pays"]]
print(json.dumps(out))
'''


def grids() -> dict:
    import numpy as np

    from promptlimits.experiments.phase import DEFAULT_B

    Bs = sorted(set(DEFAULT_B) | {0.1, 0.25, 0.5, 1.0, 2.0, 3.0})
    ns = [2**k for k in range(8, 21)]
    epss = [1e-6] + [float(n) ** -1.0 for n in ns]
    return {
        "phase": [[e, B] for e in epss for B in Bs],
        "ratio": [float(b) for b in np.round(np.linspace(0.01, 6.0, 200), 6)],
        "frontier": [[d, n] for d in (2, 4) for n in list(range(3, 41)) + [16384]],
        "pays": [[float(B), nq, nk, e] for B in np.round(np.linspace(0.05, 8.0, 80), 4)
                 for nq, nk in ((2, 4), (256, 512), (4, 516), (512, 1024)) for e in (1e-6, 1e-4, 1e-3)],
    }


def old_values(ref: str, grid: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "archive", "--format=tar", ref], check=True, capture_output=True).stdout
        tar_path = Path(tmp) / "old.tar"
        tar_path.write_bytes(archive)
        with tarfile.open(tar_path) as tar:
            tar.extractall(Path(tmp) / "tree", filter="data")
        res = subprocess.run([sys.executable, "-c", OLD_SIDE, json.dumps(grid)], cwd=Path(tmp) / "tree",
                             check=True, capture_output=True, text=True)
    return json.loads(res.stdout)


def new_values(grid: dict) -> dict:
    from promptlimits.experiments import prompt_norm
    from promptlimits.model import PromptedModel
    from promptlimits.poly_attention import certificate, eps_p_for_output, frontier_B, output_eps_for_eps_p

    def cert(eps, B):
        c = certificate(B * B, eps_p_for_output(eps), "auto")
        return None if c is None else [c.kind, c.degree, c.eps_p]

    m = PromptedModel.from_seed(2, seed=0)
    return {
        "phase": [cert(e, B) for e, B in grid["phase"]],
        "ratio": [list(prompt_norm._ratio(4, B, 16384, 1e-6)) for B in grid["ratio"]],
        "frontier": [frontier_B(n, d=d, eps=1e-6) for d, n in grid["frontier"]],
        "pn_frontier": frontier_B(16384, d=4, eps=1e-6),
        # the old attn_eps was the polynomial's eps_p: give the new one the output error that converts back to it
        "pays": [m._poly_pays(B, output_eps_for_eps_p(e), nq, nk) for B, nq, nk, e in grid["pays"]],
        "pays_converted": [m._poly_pays(B, e, nq, nk) for B, nq, nk, e in grid["pays"]],
    }


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isinf(a) and math.isinf(b) and a == b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", default="b1de60c", help="git commit with the old code (default b1de60c)")
    args = ap.parse_args()
    grid = grids()
    old, new = old_values(args.ref, grid), new_values(grid)
    bad = 0
    for key in ("phase", "ratio", "frontier", "pays"):
        diff = [i for i, (a, b) in enumerate(zip(old[key], new[key])) if not _same(a, b)]
        bad += len(diff)
        print(f"{key:9s}: {len(old[key]):5d} values, {len(diff)} differ" + (f" (first: {diff[:5]})" if diff else ""))
    pn = _same(old["pn_frontier"], new["pn_frontier"])
    bad += not pn
    print(f"prompt-norm frontier B*(16384) old {old['pn_frontier']} new {new['pn_frontier']}: {'same' if pn else 'DIFFERS'}")
    flips = [tuple(g) + (o, n) for g, o, n in zip(grid["pays"], old["pays"], new["pays_converted"]) if o != n]
    print(f"model auto backend after converting attn_eps (expected to change near the boundary): {len(flips)} of "
          f"{len(grid['pays'])} decisions change: {flips}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path.cwd()))
    raise SystemExit(main())
