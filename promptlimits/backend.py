"""The attention backend of a model run: exact, poly or auto, with the polynomial plan kept across calls
(docs/theory.md §2.3).

A :class:`AttentionBackend` is what :class:`promptlimits.model.PromptedModel`
asks, at every forward, for the attention to use. For ``"poly"`` and
``"auto"`` it keeps one certified plan (:func:`promptlimits.poly_attention.make_plan`)
and reuses it while the induced norm ``B`` (the largest absolute entry of the
queries and keys) stays within the plan's bound; only when ``B`` crosses it is
a new plan certified. Bounds are powers of ``2^(1/16)`` (so plans made for
nearby norms are the same cached plan): ``B`` rounded up, raised by up to
``headroom`` while that costs no rank (the largest grid point up to ``B (1 +
headroom)`` whose plan has the rank of the plan for ``B``), so growing norms
re-certify about once per degree. A norm that no plan can certify for the target makes the call run
exact attention, with a note saying why: never an uncertified number.

``"auto"`` uses the plan only where it is predicted cheaper than exact
attention (:func:`promptlimits.poly_attention.poly_pays` at the plan's bound);
the decision is kept with the plan.

Every decision is reported as a :class:`Choice` (in
:class:`promptlimits.model.LossInfo`): the plan used, its bound, and the event
``"built"``, ``"reused"``, ``"recertified"``, ``"exact: cheaper"`` or
``"exact: not certifiable"``, with its ``reason`` in words (the plan certified,
and for ``"auto"`` predicted cheaper; exact predicted cheaper at these sizes;
the norm above the range a plan certifies). The backend keeps the last choice
(:attr:`AttentionBackend.last`). A tuning run makes one backend and passes it to
every step (:func:`promptlimits.tuning.tune_prompt`); a plain string backend
makes a fresh one per call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._checks import check_choice, check_real
from .poly_attention import PolyPlan, make_plan, poly_pays

BACKENDS = ("exact", "poly", "auto")

#: Default headroom: how far above the norm a new plan's bound may go (at no cost in rank).
HEADROOM = 0.25

_GRID = 16  # plan bounds are powers of 2^(1/_GRID)


@dataclass(frozen=True)
class Choice:
    """The attention one forward used: ``plan`` (``None``: exact), what happened to get it, and why.

    ``reason`` says why this attention was used, in words that stay the same
    while the decision does (the plan's bound, the sizes, the bound refused;
    not the step's norm): ``"exact attention asked"``; ``"plan certified for
    B <= ..."`` (with ``"auto"``: ``"... and predicted cheaper than exact at
    ..."``); ``"exact predicted cheaper than a plan certified for B <= ... at
    ..."``; ``"not certifiable: ..."``. ``note`` is set only where poly was
    asked and could not be certified.
    """

    plan: PolyPlan | None
    event: str
    note: str = ""
    reason: str = ""

    @property
    def backend(self) -> str:
        return "exact" if self.plan is None else "poly"


def _grid_step(B: float) -> int:
    """The least ``k`` with ``2^(k/16) >= B`` (``B`` at least ``2^-40``)."""
    return math.ceil(_GRID * math.log2(max(float(B), 2.0**-40)))


def plan_bound(B: float) -> float:
    """``B`` rounded up to a power of ``2^(1/16)`` (at least ``2^-40``)."""
    return 2.0 ** (_grid_step(B) / _GRID)


class AttentionBackend:
    """Exact, poly or auto attention for one model run, with the plan kept across calls (module docstring).

    Parameters
    ----------
    mode : {"exact", "poly", "auto"}
    attn_eps : float in (0, 1)
        Attention-output error certified by the polynomial method,
        ``||T - Att||max <= attn_eps ||V||max`` (docs/theory.md §4).
    headroom : float >= 0
        A new plan's bound may exceed ``B`` by up to this fraction (where the
        rank stays that of the plan for ``B``).
    """

    def __init__(self, mode: str = "exact", attn_eps: float = 1e-6, *, headroom: float = HEADROOM):
        self.mode = check_choice(mode, "attention backend", BACKENDS)
        self.attn_eps = check_real(attn_eps, "attn_eps", low=0.0, high=1.0, low_open=True, high_open=True)
        self.headroom = check_real(headroom, "headroom", low=0.0)
        self.plan: PolyPlan | None = None
        self.certifications = 0  # plans built (the first, then every re-certification)
        self.last: Choice | None = None  # the latest choice
        self._pays: dict = {}  # (d, scale, bound, n_queries, n_keys) -> is poly cheaper
        self._refused: dict = {}  # (d, scale, n_keys) -> (least bound refused, why)

    def __repr__(self) -> str:
        plan = "none" if self.plan is None else f"B={self.plan.B:.4g}, rank {self.plan.rank}"
        return (f"AttentionBackend({self.mode!r}, attn_eps={self.attn_eps:g}, plan: {plan}, "
                f"{self.certifications} certification(s))")

    def choose(self, *, d: int, scale: float, B: float, n_queries: int, n_keys: int) -> Choice:
        """The attention for a call with head size ``d``, logit ``scale``, induced norm ``B`` and these sizes."""
        self.last = self._choose(d, scale, B, n_queries, n_keys)
        return self.last

    def _choose(self, d, scale, B, n_queries, n_keys) -> Choice:
        if self.mode == "exact":
            return Choice(None, "exact", reason="exact attention asked")
        sizes = f"{n_queries} queries x {n_keys} keys"
        plan = self.plan
        if self._covers(plan, d, scale, B, n_keys):
            if self.mode == "auto" and not self._cheaper(d, scale, plan.B, n_queries, n_keys):
                return self._exact_cheaper(plan.B, sizes)
            return Choice(plan, "reused", reason=self._certified(plan, sizes))
        if self.mode == "auto" and not self._cheaper(d, scale, plan_bound(B), n_queries, n_keys):
            return self._exact_cheaper(plan_bound(B), sizes)
        plan, why = self._certify(d, scale, B, n_keys, (n_queries, n_keys) if self.mode == "auto" else None)
        if plan is None:
            refused = self._refused.get((d, scale, n_keys), (plan_bound(B), ""))[0]
            return Choice(None, "exact: not certifiable", f"the {self.mode} backend ran exact attention where the "
                          f"induced norm could not be certified for attn_eps = {self.attn_eps:g}: {why}",
                          reason=f"not certifiable: the induced norm is above the range a plan certifies for "
                                 f"attn_eps = {self.attn_eps:g} at {n_keys} keys (none for B <= {refused:.4g})")
        event = "built" if self.plan is None else "recertified"
        self.plan, self.certifications = plan, self.certifications + 1
        return Choice(plan, event, reason=self._certified(plan, sizes))

    def _certified(self, plan: PolyPlan, sizes: str) -> str:
        text = (f"plan certified for B <= {plan.B:.4g} (degree {plan.degree}, rank {plan.rank}, "
                f"attn_eps = {self.attn_eps:g})")
        return text + (f" and predicted cheaper than exact at {sizes}" if self.mode == "auto" else "")

    @staticmethod
    def _exact_cheaper(bound: float, sizes: str) -> Choice:
        return Choice(None, "exact: cheaper",
                      reason=f"exact predicted cheaper than a plan certified for B <= {bound:.4g} at {sizes}")

    @staticmethod
    def _covers(plan, d, scale, B, n_keys) -> bool:
        return (plan is not None and plan.d == d and plan.scale == scale and B <= plan.B
                and n_keys <= plan.max_keys)

    def _certify(self, d, scale, B, n_keys, sizes=None):
        """A plan for ``B`` with the headroom that costs no rank, else ``(None, why)``.

        The candidate bounds are the grid points from ``plan_bound(B)`` up to
        ``plan_bound(B (1 + headroom))``; the largest whose plan has the rank of
        the first is taken (with ``sizes``, only while it stays cheaper than
        exact). Certifiability only shrinks as the bound grows, so the least
        bound refused for these sizes is remembered and never tried again.
        """
        key = (d, scale, n_keys)
        refused, why = self._refused.get(key, (math.inf, ""))
        best = None
        for k in range(_grid_step(B), _grid_step(B * (1.0 + self.headroom)) + 1):
            bound = 2.0 ** (k / _GRID)
            if bound >= refused or (sizes is not None and not self._cheaper(d, scale, bound, *sizes)):
                break
            try:
                plan = make_plan(d, bound, eps=self.attn_eps, scale=scale, keys=n_keys)
            except ValueError as exc:
                refused, why = bound, str(exc)
                self._refused[key] = (refused, why)
                break
            if best is not None and plan.rank > best.rank:
                break
            best = plan
        return best, why

    def _cheaper(self, d, scale, bound, n_queries, n_keys) -> bool:
        """Is a plan certified at ``bound`` cheaper than exact attention for these sizes (:func:`poly_pays`)? Cached."""
        key = (d, scale, bound, n_queries, n_keys)
        if key not in self._pays:
            self._pays[key] = poly_pays(d, bound, eps=self.attn_eps, n_queries=n_queries, n_keys=n_keys, scale=scale)
        return self._pays[key]


def as_backend(backend, attn_eps) -> AttentionBackend:
    """``backend`` itself if it is an :class:`AttentionBackend`, else a fresh one for the mode it names."""
    if isinstance(backend, AttentionBackend):
        return backend
    return AttentionBackend(backend, attn_eps)
