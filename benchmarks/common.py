"""Sizes and settings shared by the suite's modules (and by :mod:`benchmarks.table`, which reads their results).

Every benchmark uses the library's public API with ``d = 8``, polynomial error
``eps_p = 1e-6`` and plans made for :data:`KEYS` keys, at sizes where one
process of the suite takes seconds.
"""

from __future__ import annotations

#: Head dimension of every attention benchmark.
D = 8

#: Certified relative error of the polynomial (``make_plan(..., eps_p=EPS_P)``).
EPS_P = 1e-6

#: Norm bounds of the polynomial benchmarks.
BS = [0.25, 0.5, 1.0]

#: Sequence lengths of the attention benchmarks (queries = keys = n).
NS = [1024, 4096]

#: Keys every plan is made for (the largest ``n``): one plan, so one rank, per ``B``.
KEYS = max(NS)

#: Sides of the square float64 matmuls whose best rate is the BLAS reference. Several sizes, so that on a
#: loaded machine the reference is not only a long sample (always interrupted) set against the kernels' short ones.
BLAS_NS = [512, 1024, 2048]

#: Tuning-step sizes ``n = Lp + L`` (``L = Lp = n / 2``, one sequence).
TUNING_NS = [1024, 4096]

#: Batched Adam runs, ``"SEQUENCESxNxSTEPS"``: 100 steps on 8 sequences of ``n = 32``, 10 steps on 1,024 of ``n = 64``.
BATCHED = ["8x32x100", "1024x64x10"]



class Timed:
    """asv timing attributes of the suite's classes: 3 to 7 samples (stopping after 5 s), one process.

    ``setup`` warms every benchmark up (kernels loaded, plan made), so asv's own
    warm-up is off. The table reports the best sample.
    """

    repeat = (3, 7, 5.0)
    processes = 1
    warmup_time = 0.0
    timeout = 300


def flops_forward(n: int, rank: int) -> float:
    """Flops of the fused forward with ``n`` queries and keys (``4 n r d``, as ``promptlimits bench attention``)."""
    return 4.0 * n * rank * D


def flops_backward(n: int, rank: int) -> float:
    """Flops of the fused backward (``12 n r d``, as ``promptlimits bench attention``)."""
    return 12.0 * n * rank * D


def flops_matmul(n: int) -> float:
    """Flops of an ``n x n`` by ``n x n`` matmul."""
    return 2.0 * n**3


def parse_batched(case: str) -> tuple[int, int, int]:
    """``(sequences, n, steps)`` of a :data:`BATCHED` case such as ``"8x32x100"``."""
    parts = case.split("x")
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"a batched case is SEQUENCESxNxSTEPS with positive integers, got {case!r}")
    b, n, steps = (int(p) for p in parts)
    if n < 2:
        raise ValueError(f"a batched case needs n >= 2 (half prompt, half input), got {case!r}")
    return b, n, steps
