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


def point_cost(params):
    """The larger ``x``, the costlier: several workers start from the last point (the sweep's order changes no
    result)."""
    return params["x"]


def failing(params, seed):
    if params["x"] == 2:
        raise RuntimeError("boom at x=2")
    return {"y": params["x"] + 1}


def check_nonneg(params):
    if params["x"] < 0:
        raise ValueError(f"x must be >= 0, got {params['x']}")


def typed(params, seed):
    """One row with a cell of every kind the CSV must give back unchanged."""
    x = params["x"]
    return {
        "label": str(x),                      # a string that looks like an int
        "count": x,                           # int
        "ratio": float(x),                    # float with integral values
        "ok": x % 2 == 0,                     # bool
        "maybe": None if x == 0 else 1.5,     # float with a missing value
        "empty": "",                          # always the empty string
        "mixed": x if x % 2 else x + 0.5,     # ints and floats: a float column
        "nan": float("nan"),                  # stored as a missing value
        "big": float("inf") if x == 1 else -2.0,
    }


def clashing(params, seed):
    """A column holding a str for one point and an int for another: refused."""
    return {"v": "a" if params["x"] == 0 else 1}


def sleepy(params, seed):
    """Record this process id in $SWEEP_TEST_PID_DIR, then sleep (a long point)."""
    import pathlib
    import time

    pathlib.Path(os.environ["SWEEP_TEST_PID_DIR"], str(os.getpid())).touch()
    time.sleep(600)
    return {"y": 0}
