"""Point functions for the sweep-engine tests (importable by spawned workers)."""

import os

import numpy as np


def toy(params, seed):
    """Two rows per point; deterministic given (params, seed)."""
    if os.environ.get("SWEEP_TEST_CRASH_AT") == str(params["x"]):
        os._exit(3)  # a kill: no cleanup, no exception
    rng = np.random.default_rng(seed)
    u = float(rng.random())
    return [
        {"kind": "a", "value": params["x"] * params.get("scale", 1.0) + u},
        {"kind": "b", "value": -u, "note": f"x={params['x']}", "flag": params["x"] % 2 == 0},
    ]


def failing(params, seed):
    if params["x"] == 2:
        raise RuntimeError("boom at x=2")
    return {"y": params["x"] + 1}


def check_nonneg(params):
    if params["x"] < 0:
        raise ValueError(f"x must be >= 0, got {params['x']}")
