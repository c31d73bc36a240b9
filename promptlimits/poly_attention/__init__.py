"""Almost-linear attention by the polynomial method (AAttC), forward and backward.

docs/theory.md §3 (the polynomial method) and §4 (error propagation); Alman and
Song, "Fast Attention Requires Bounded Entries" (NeurIPS 2023) for the forward
pass and "The Fine-Grained Complexity of Gradient Computation for Training
Large Language Models" (NeurIPS 2024) for the backward pass.

With ``exp`` replaced on the logit range ``[-R, R]`` by a certified polynomial
``p`` (:mod:`promptlimits.polyapprox`) and ``p(s q.k) = phi_L(q) . phi_R(k)``
(:mod:`promptlimits.features`, width ``r = C(d+g, g)``),

    T_i = N_i / D_i,   N_i = phi_L(q_i) S_V,   D_i = d0 + phi_L(q_i) s_1,
    S_V = sum_j phi_R(k_j) v_j^T   (r x d_v),   s_1 = sum_j phi_R(k_j)   (r),

with ``d0 = 0`` for softmax and ``d0 = 1`` for Softmax_1. This is
``diag(U1 (U2^T 1))^-1 U1 (U2^T V)`` with ``U1 = phi_L(Q)``, ``U2 = phi_R(K)``,
computed in O(n r d) time.

Two errors, two names (docs/theory.md §4): ``eps_p`` is the polynomial's
certified relative error, ``|p(x) - e^x| <= eps_p e^x`` on ``[-R, R]``; ``eps``
is the attention-output error, ``||T - Att||max <= eps ||V||max``. If
``eps_p < 1``, every approximate weight lies within a factor ``1 +- eps_p`` of
the exact one, so

    ||T - Att||max <= F(eps_p) ||V||max,   F(eps_p) = 2 (1 - sqrt(1 - eps_p^2)) / eps_p

(:meth:`PolyPlan.output_bound`; ``F`` is the sharp constant, attained by two keys). The conversion lives in
:func:`output_eps_for_eps_p` and its inverse :func:`eps_p_for_output`, and
nowhere else; :func:`make_plan` takes either target, :func:`poly_attention`
the output one.

Rounding (docs/theory.md §4.6). The bound above is for exact arithmetic. The
kernels' float64 rounding is bounded a priori, for any summation order and
task split, by a relative error ``delta(n)`` of order ``2 (n + r + 3g) u
e^(2R)`` (``u = 2^-53``; :mod:`._rounding`), added to ``eps_p`` before the
conversion, so :meth:`PolyPlan.output_bound` is a true bound of what the code
returns (fused, factors, float32). A target is met by the least degree whose
certificate plus ``delta(n)`` fits it; where the rounding alone exceeds it the
plan is refused, naming the largest certifiable norm, from closed forms
before any interval arithmetic.

Gradient (docs/theory.md §4.5). The backward differentiates ``p``, so its
distance from exact attention's gradient needs the derivative's certificate
``|p'(x) - e^x| <= eps_dp e^x`` (:attr:`ExpApprox.eps_dp
<promptlimits.polyapprox.ExpApprox.eps_dp>`) besides ``eps_p``;
:meth:`PolyPlan.gradient_bound` returns the bounds on ``||dX_p - dX||max``,
``X = Q, K, V`` (:class:`GradientBound`), plus an a-priori bound on the backward
kernels' float64 rounding (docs/theory.md §4.6.1), so they bound what
:meth:`PolyPlan.backward` returns.

Cost (docs/theory.md §5): the least certified degree ``g*`` gives the rank
``r* = C(d + g*, g*)`` and the cost ratio ``r*/n`` against exact attention;
:func:`least_cost`, :func:`least_rank`, :func:`frontier_B` and
:func:`poly_pays` compute this chain for every experiment and the model.

Kernels
-------
``method="fused"`` never forms an ``n x r`` or ``n x n`` matrix: a key pass
accumulates ``S_V`` and ``s_1``, a query pass forms ``N_i`` and ``D_i``, both
eight rows at a time. The eight rows' monomials fill an ``r x 8`` block (one
vector multiply per monomial, by the runs of :mod:`promptlimits.features`); the
columns of ``V`` go in tiles of eight, and the blocks that meet them are LLVM
vector code on eight doubles (``_simd``): per monomial row, one chain of eight
FMAs into a row of ``S_V``, or nine eight-lane accumulators for ``N`` and ``D``.
The rows are split into tasks by the problem's size alone and the tasks' partial
sums added in task order, so results are bitwise the same on any number of
threads; one-task problems run on the calling thread, larger ones on up to
``numba.get_num_threads()`` threads that never wait for a busy core
(``_threads``). Extra memory is O(r (d_v + 16)) per task. The backward pass
reuses these blocks (:meth:`PolyPlan.backward`). From rank 65,536 on, the key
passes walk the monomial tree depth first, 64 keys at a time (``_tree``): the
same forward sums to the last bit, a row of ``S_V`` read and written once per
64 keys, no monomial block in memory. A batch of sequences of
one length runs in one kernel call per pass (:meth:`PolyPlan.forward_batch`,
:meth:`PolyPlan.backward_batch`, ``_batch``): each sequence is cut into the
tasks it would get alone, so every sequence's result equals, to the last bit,
what it gets alone, on any number of threads; a lone sequence is a batch of
one. ``method="factors"``
materialises ``U1`` and ``U2`` (``n x r``) and uses BLAS; it is for small ``n``
and for tests.

Layout: ``_kernels`` (the Numba kernels, one task each), ``_tree`` (the key
passes of large ranks), ``_simd`` (their eight-wide vector blocks), ``_threads`` (the task split and the threads),
``_plan`` (:class:`PolyPlan`, :func:`make_plan`), ``_batch`` (the drivers, batched), ``_error`` (the
conversion), ``_cost`` (the cost model), ``_rounding`` (the kernels' rounding
bound), ``_gradient`` (the gradient bound); the public names are re-exported here.
"""

from ._cost import (
    Cost,
    certificate,
    certified_degree,
    frontier_B,
    largest_certifiable_B,
    least_certified,
    least_cost,
    least_rank,
    logit_range,
    poly_pays,
)
from ._error import eps_p_for_output, output_eps_for_eps_p
from ._gradient import GradientBound
from ._plan import (
    DEFAULT_EPS,
    METHODS,
    VARIANTS,
    FloatOverflow,
    PolyPlan,
    make_plan,
    poly_attention,
    poly_attention_backward,
)

__all__ = [
    "PolyPlan",
    "FloatOverflow",
    "make_plan",
    "poly_attention",
    "poly_attention_backward",
    "DEFAULT_EPS",
    "METHODS",
    "VARIANTS",
    "eps_p_for_output",
    "output_eps_for_eps_p",
    "GradientBound",
    "logit_range",
    "certificate",
    "certified_degree",
    "least_certified",
    "largest_certifiable_B",
    "least_rank",
    "least_cost",
    "Cost",
    "frontier_B",
    "poly_pays",
]
