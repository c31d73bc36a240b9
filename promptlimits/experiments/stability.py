"""Stability of verdicts across runs, and the differences between two runs (docs/theory.md §9.12).

A verdict's status should not depend on the seed (docs/theory.md §9.2). This
module measures whether it does; it changes no rule.

- :func:`tally`: given the verdicts of several runs (e.g. seeds ``s, s+1, ...``),
  how often each claim came out with each status, and whether the claim is
  ``stable`` (one status in every run) or ``FLIPS``.
- :func:`compare`: which claims differ in status between two runs (e.g. the
  quick and the full scale).

A run is a sequence of verdicts -- :class:`~promptlimits.experiments.verdict.Verdict`
objects or mappings with ``claim_id``, ``title`` and ``status`` -- or the
content of a run's ``verdicts.json`` (a mapping with ``"verdicts"``, and
``"seed"`` used as the run's label).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .verdict import STATUSES

__all__ = ["MISSING", "STABLE", "FLIPS", "ClaimTally", "Tally", "tally", "Difference", "compare"]

#: The status of a claim that a run did not report.
MISSING = "missing"
STABLE = "stable"
FLIPS = "FLIPS"


def _records(run, where: str) -> list[dict]:
    """``[{"claim_id", "title", "status"}, ...]`` of one run; a ValueError on a malformed run."""
    if isinstance(run, Mapping):
        if "verdicts" not in run:
            raise ValueError(f"{where}: a mapping must hold 'verdicts' (the content of verdicts.json)")
        run = run["verdicts"]
    if isinstance(run, (str, bytes)) or not isinstance(run, Sequence):
        raise ValueError(f"{where}: expected a sequence of verdicts, got {type(run).__name__}")
    out, seen = [], set()
    for v in run:
        rec = dict(v) if isinstance(v, Mapping) else {k: getattr(v, k, None) for k in ("claim_id", "title", "status")}
        if not isinstance(rec.get("claim_id"), str) or not rec["claim_id"]:
            raise ValueError(f"{where}: a verdict without a claim_id: {v!r}")
        if rec.get("status") not in STATUSES:
            raise ValueError(f"{where}: claim {rec['claim_id']!r} has status {rec.get('status')!r}, "
                             f"not one of {', '.join(STATUSES)}")
        if rec["claim_id"] in seen:
            raise ValueError(f"{where}: claim {rec['claim_id']!r} appears twice")
        seen.add(rec["claim_id"])
        out.append({"claim_id": rec["claim_id"], "title": str(rec.get("title") or rec["claim_id"]),
                    "status": rec["status"]})
    return out


@dataclass(frozen=True)
class ClaimTally:
    """One claim over every run: the runs (labels) that gave each status, in order of first appearance."""

    claim_id: str
    title: str
    runs_by_status: tuple  # ((status, (label, ...)), ...)

    @property
    def counts(self) -> dict[str, int]:
        """``{status: number of runs}``."""
        return {s: len(labels) for s, labels in self.runs_by_status}

    @property
    def stable(self) -> bool:
        """One status in every run (a claim missing from some run is not stable)."""
        return len(self.runs_by_status) == 1 and self.runs_by_status[0][0] != MISSING

    @property
    def label(self) -> str:
        return STABLE if self.stable else FLIPS

    def describe(self) -> str:
        """E.g. ``"consistent 2 (seeds 0, 2); not consistent 1 (seed 1)"``."""
        parts = []
        for status, labels in self.runs_by_status:
            word = "seed" if len(labels) == 1 else "seeds"
            parts.append(f"{status} {len(labels)} ({word} {', '.join(map(str, labels))})")
        return "; ".join(parts)


@dataclass(frozen=True)
class Tally:
    """Every claim's statuses over the runs ``labels``, in the order claims first appear."""

    labels: tuple
    claims: tuple  # of ClaimTally

    @property
    def flips(self) -> list[str]:
        """The claim ids whose status differs between runs."""
        return [c.claim_id for c in self.claims if not c.stable]

    @property
    def stable(self) -> bool:
        return not self.flips

    def summary(self) -> str:
        k, n = len(self.labels), len(self.claims)
        s = f"{n - len(self.flips)} of {n} claims kept one status over {k} run{'s' if k != 1 else ''}"
        return s + (f"; flips: {', '.join(self.flips)}" if self.flips else "")

    def markdown(self) -> list[str]:
        """The table as Markdown lines: claim, statuses with their runs, stable/FLIPS."""
        lines = ["| # | claim | statuses (runs) | stability |", "|---|---|---|---|"]
        for i, c in enumerate(self.claims, 1):
            cells = [str(i), c.title, c.describe(), c.label]
            lines.append("| " + " | ".join(x.replace("|", "\\|").replace("\n", " ") for x in cells) + " |")
        return lines

    def text(self) -> list[str]:
        """The table as plain text lines for a terminal."""
        width = max([len(c.claim_id) for c in self.claims] + [5])
        return [f"{c.claim_id:<{width}}  {c.label:<6}  {c.describe()}" for c in self.claims]


def tally(runs: Sequence, labels: Sequence | None = None) -> Tally:
    """How often each claim came out with each status over ``runs``.

    Parameters
    ----------
    runs : sequence
        One entry per run: a sequence of verdicts (``Verdict`` or mappings
        with ``claim_id``, ``title``, ``status``) or a ``verdicts.json``
        mapping.
    labels : sequence, optional
        A label per run (e.g. its seed). Default: each ``verdicts.json``
        mapping's ``"seed"``, else the run's index.

    Returns
    -------
    Tally
        A claim that some run lacks counts as :data:`MISSING` there (and so
        is not stable).

    Raises
    ------
    ValueError
        No run (``K < 1``), labels of the wrong length or repeated, a
        malformed run (an unknown status, a claim given twice).
    """
    if isinstance(runs, (str, bytes, Mapping)) or not isinstance(runs, Sequence):
        raise ValueError(f"runs must be a sequence of runs, got {type(runs).__name__}")
    if len(runs) < 1:
        raise ValueError("a stability tally needs at least one run (K >= 1), got 0")
    if labels is None:
        labels = [r.get("seed", i) if isinstance(r, Mapping) else i for i, r in enumerate(runs)]
    labels = tuple(labels)
    if len(labels) != len(runs):
        raise ValueError(f"{len(labels)} labels for {len(runs)} runs")
    if len(set(labels)) != len(labels):
        raise ValueError(f"run labels must differ, got {list(labels)}")
    records = [_records(r, f"run {lab}") for r, lab in zip(runs, labels)]
    titles: dict[str, str] = {}
    for recs in records:
        for rec in recs:
            titles.setdefault(rec["claim_id"], rec["title"])
    claims = []
    for cid, title in titles.items():
        by_status: dict[str, list] = {}
        for recs, lab in zip(records, labels):
            status = next((r["status"] for r in recs if r["claim_id"] == cid), MISSING)
            by_status.setdefault(status, []).append(lab)
        claims.append(ClaimTally(cid, title, tuple((s, tuple(v)) for s, v in by_status.items())))
    return Tally(labels, tuple(claims))


@dataclass(frozen=True)
class Difference:
    """A claim whose status differs between two runs (:data:`MISSING` where a run lacks it)."""

    claim_id: str
    title: str
    status_a: str
    status_b: str


def compare(a, b) -> list[Difference]:
    """The claims whose status differs between runs ``a`` and ``b`` (same forms as a run of :func:`tally`).

    Claims in order of first appearance in ``a``, then those only in ``b``;
    an empty list when every claim has the same status in both.
    """
    ra, rb = _records(a, "first run"), _records(b, "second run")
    sa = {r["claim_id"]: r for r in ra}
    sb = {r["claim_id"]: r for r in rb}
    out = []
    for r in ra + [r for r in rb if r["claim_id"] not in sa]:
        cid = r["claim_id"]
        x, y = sa.get(cid, {}).get("status", MISSING), sb.get(cid, {}).get("status", MISSING)
        if x != y:
            out.append(Difference(cid, r["title"], x, y))
    return out
