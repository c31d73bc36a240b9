"""``proofs_check``: machine checks of the mathematics behind ``promptlimits``.

Run ``python -m proofs_check`` (``--json`` for machine-readable output). Each
check verifies one claim of docs/theory.md (or of the papers it cites, or of this
project's own derivations) by a SymPy identity or inequality, an exhaustive
check over a finite range, or a high-precision mpmath evaluation with an
explicit margin, and imports the simulator's own functions so that code and
mathematics cannot drift apart. Topics:

* :mod:`proofs_check.features` -- multinomial identity, feature map, width C(d+g, g);
* :mod:`proofs_check.approx` -- certificates of the polynomial approximations of exp;
* :mod:`proofs_check.propagation` -- the error-propagation lemma 2 eps/(1-eps) ||V||max;
* :mod:`proofs_check.jacobians` -- softmax / Softmax_1 Jacobians and the backward passes;
* :mod:`proofs_check.threshold` -- the B = c sqrt(ln n) efficiency threshold;
* :mod:`proofs_check.hardness` -- the score gap of the Hamming-NN reduction;
* :mod:`proofs_check.capacity` -- the memorization counting bound and K_P;
* :mod:`proofs_check.construct` -- the universality construction and its error bound;
* :mod:`proofs_check.rounding` -- the a-priori bound on the kernels' floating-point rounding.

Python API: :func:`run_all` returns a list of :class:`Result`;
:func:`format_table` renders it (text or Markdown); :func:`all_passed`.
"""

from .core import (  # noqa: F401
    FAILED,
    NOT_VERIFIED,
    PASSED,
    Check,
    Failed,
    NotVerified,
    Result,
    all_passed,
    check,
    format_table,
    load_checks,
    run_all,
    run_check,
    summary,
    to_json,
)

__all__ = ["run_all", "format_table", "all_passed", "summary", "to_json", "Result", "Check",
           "Failed", "NotVerified", "check", "load_checks", "run_check", "PASSED", "FAILED", "NOT_VERIFIED"]
