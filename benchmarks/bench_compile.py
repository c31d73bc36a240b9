"""Cold compile: seconds from ``import promptlimits`` to the end of the first calls, in a fresh process.

Numba caches the compiled kernels on disk (``NUMBA_CACHE_DIR``); a new
installation, or a change to a kernel, compiles them again. Each measurement
runs a new Python process with ``NUMBA_CACHE_DIR`` set to a fresh temporary
directory: ``cold`` times that first process (every kernel the calls use is
compiled), ``warm`` a second process on the same directory (kernels loaded from
the cache), so ``cold - warm`` is the compile time. The calls are those of a
tuning run on the poly backend: one plan (``B = 0.5``), the forward and backward
of one sequence and of a batch of two.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from .common import EPS_P, D

#: Run in the fresh process; prints the seconds from before the import to after the calls.
_SCRIPT = f"""
import time
t0 = time.perf_counter()
import numpy as np
import promptlimits
plan = promptlimits.make_plan({D}, 0.5, eps_p={EPS_P!r}, keys=4096)
rng = np.random.default_rng(0)
Q = rng.uniform(-0.5, 0.5, (64, {D}))
plan(Q, Q, Q)
plan.backward(Q, Q, Q, Q)
Qb = rng.uniform(-0.5, 0.5, (2, 64, {D}))
plan.forward_batch(Qb, Qb, Qb)
plan.backward_batch(Qb, Qb, Qb, Qb)
print(time.perf_counter() - t0)
"""


def first_calls_seconds(cache_dir: str) -> float:
    """Seconds of :data:`_SCRIPT` in a new Python process whose Numba cache is ``cache_dir``."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def track_compile(cache):
    """Seconds to import and run the first calls from an empty (``cold``) or filled (``warm``) Numba cache."""
    with tempfile.TemporaryDirectory(prefix="promptlimits-numba-") as tmp:
        cold = first_calls_seconds(tmp)
        return cold if cache == "cold" else first_calls_seconds(tmp)


track_compile.params = ["cold", "warm"]
track_compile.param_names = ["cache"]
track_compile.unit = "seconds"
track_compile.timeout = 600
