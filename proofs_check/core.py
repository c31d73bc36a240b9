"""Check registry, runner and report formatting for :mod:`proofs_check`.

A *check* is a small function registered with :func:`check`. It carries a
one-line statement of the claim, where the claim comes from (a section of docs/theory.md,
a paper, or this project's own derivation) and how it is verified (the
*method*: ``"sympy identity"``, ``"sympy inequality"``, ``"exhaustive"``,
``"mpmath 50 digits"``, ...). The function

* returns a string of details (numbers, margins) when the claim holds;
* raises :class:`Failed` with the evidence when it does not;
* raises :class:`NotVerified` with a reason when it cannot be decided
  (e.g. a simulator module is missing).

Any other exception inside a check is reported as a failure with its message;
it never stops the run. A result is ``"passed"`` only when the function
returned normally.
"""

from __future__ import annotations

import importlib
import json
import textwrap
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass

PASSED = "passed"
FAILED = "failed"
NOT_VERIFIED = "not verified"

#: Topic modules, imported (and so registered) in this order by :func:`load_checks`.
TOPICS = ("features", "approx", "propagation", "jacobians", "threshold", "hardness", "capacity", "construct",
          "rounding", "gradient")


class Failed(Exception):
    """The claim is false on the evidence given in the message."""


class NotVerified(Exception):
    """The claim could not be decided; the message says why."""


@dataclass(frozen=True)
class Check:
    """A registered check (see the module docstring)."""

    name: str
    statement: str
    source: str
    method: str
    func: Callable[[], str]


@dataclass
class Result:
    """The outcome of one check.

    ``status`` is one of ``"passed"``, ``"failed"``, ``"not verified"``;
    ``details`` holds the numbers behind it (or the failure / reason).
    """

    name: str
    statement: str
    source: str
    method: str
    status: str
    details: str
    seconds: float

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def to_dict(self) -> dict:
        return asdict(self)


_REGISTRY: dict[str, Check] = {}


def check(name: str, *, statement: str, source: str, method: str):
    """Register the decorated function as a check (names must be unique)."""

    def deco(func):
        if name in _REGISTRY and _REGISTRY[name].func.__qualname__ != func.__qualname__:
            raise ValueError(f"duplicate check name {name!r}")
        _REGISTRY[name] = Check(name=name, statement=statement, source=source, method=method, func=func)
        return func

    return deco


def require(condition, message: str) -> None:
    """Raise :class:`Failed` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise Failed(message)


def load_checks() -> list[Check]:
    """Import every topic module and return the registered checks in order."""
    for topic in TOPICS:
        importlib.import_module(f"proofs_check.{topic}")
    return list(_REGISTRY.values())


def run_check(c: Check) -> Result:
    """Run one check; exceptions become failures, never crashes."""
    t0 = time.perf_counter()
    try:
        details = c.func()
        status = PASSED
        details = "" if details is None else str(details)
    except Failed as exc:
        status, details = FAILED, str(exc)
    except NotVerified as exc:
        status, details = NOT_VERIFIED, str(exc)
    except Exception as exc:  # noqa: BLE001 - a crashing check is a failed check
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" (at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})" if tb else ""
        status, details = FAILED, f"exception {type(exc).__name__}: {exc}{where}"
    return Result(name=c.name, statement=c.statement, source=c.source, method=c.method,
                  status=status, details=details, seconds=time.perf_counter() - t0)


def run_all(names=None) -> list[Result]:
    """Run every registered check (or those whose name starts with one of ``names``).

    Returns one :class:`Result` per check, in registration order.
    """
    checks = load_checks()
    if names:
        checks = [c for c in checks if any(c.name.startswith(n) for n in names)]
    return [run_check(c) for c in checks]


def all_passed(results) -> bool:
    """True only when there is at least one result and every result passed."""
    return bool(results) and all(r.passed for r in results)


def summary(results) -> str:
    counts = {s: sum(r.status == s for r in results) for s in (PASSED, FAILED, NOT_VERIFIED)}
    total = sum(r.seconds for r in results)
    return (f"{len(results)} checks: {counts[PASSED]} passed, {counts[FAILED]} failed, "
            f"{counts[NOT_VERIFIED]} not verified ({total:.1f} s)")


def format_table(results, *, style: str = "text", details: bool = True, width: int = 64) -> str:
    """The results as a table: check, statement, method, result, seconds.

    Parameters
    ----------
    results : list of Result
    style : {"text", "markdown"}
        Plain fixed-width text (statements wrapped) or a Markdown table.
    details : bool
        Append each check's details (always shown for failures and
        unverified checks in text style).
    width : int
        Wrap width of the statement column in text style.
    """
    if style == "markdown":
        lines = ["| check | statement | method | result | seconds |", "|---|---|---|---|---|"]
        for r in results:
            stmt = r.statement.replace("|", "\\|")
            lines.append(f"| {r.name} | {stmt} | {r.method} | {r.status} | {r.seconds:.2f} |")
        if details:
            lines.append("")
            for r in results:
                if r.details:
                    lines.append(f"- **{r.name}** ({r.status}): {r.details}")
        lines.append("")
        lines.append(summary(results))
        return "\n".join(lines)
    if style != "text":
        raise ValueError(f"unknown style {style!r}; expected 'text' or 'markdown'")
    wn = max([5] + [len(r.name) for r in results])
    wm = max([6] + [len(r.method) for r in results])
    wr = 12
    head = f"{'check':<{wn}}  {'statement':<{width}}  {'method':<{wm}}  {'result':<{wr}}  {'seconds':>7}"
    lines = [head, "-" * len(head)]
    for r in results:
        wrapped = textwrap.wrap(r.statement, width) or [""]
        lines.append(f"{r.name:<{wn}}  {wrapped[0]:<{width}}  {r.method:<{wm}}  {r.status:<{wr}}  {r.seconds:7.2f}")
        for extra in wrapped[1:]:
            lines.append(f"{'':<{wn}}  {extra}")
    lines.append("-" * len(head))
    lines.append(summary(results))
    shown = [r for r in results if r.details and (details or not r.passed)]
    if shown:
        lines.append("")
        lines.append("Details:")
        for r in shown:
            body = textwrap.fill(r.details, 110, initial_indent="    ", subsequent_indent="    ")
            lines.append(f"  {r.name} [{r.source}] ({r.status}):")
            lines.append(body)
    return "\n".join(lines)


def to_json(results) -> str:
    """Machine-readable results: ``{"all_passed": bool, "summary": str, "results": [...]}``."""
    return json.dumps({"all_passed": all_passed(results), "summary": summary(results),
                       "results": [r.to_dict() for r in results]}, indent=2)
