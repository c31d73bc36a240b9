"""The report of ``promptlimits reproduce``: verdicts, timing and ``proofs_check``, as Markdown.

:func:`render` writes a table (claim, status, test strength), then one section
per claim -- the claim, its figures, the numbers measured, the settings, the
rule, the result that would have made it fail, and the verdict -- then the
time of each step and the table of ``python -m proofs_check``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .verdict import Verdict

__all__ = ["render", "verdict_section"]


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def verdict_section(i: int, v: Verdict) -> list[str]:
    """The lines of claim ``i``'s section."""
    figs = ", ".join(f"`figures/{f}.png`" for f in v.figures)
    lines = ["", f"## {i}. {v.title}", "", f"**Claim.** {v.claim}", "", f"**Figure.** {figs}", "",
             "**Measured.**", ""]
    lines += [f"- {x}" for x in v.numbers]
    lines += ["", f"**Settings.** {v.settings}", "", f"**Rule.** {v.rule}", "",
              f"**Would have failed if.** {v.falsifier}", "", f"**Test strength.** {v.strength}", "",
              f"**Verdict: {v.status}.** {v.why}"]
    return lines


def render(scale: str, verdicts: Sequence[Verdict], seconds: Mapping[str, float], proofs) -> str:
    """The whole report (Markdown text, ending with a newline).

    Parameters
    ----------
    scale : str
        The scale the experiments ran at.
    verdicts : sequence of Verdict
        In report order.
    seconds : mapping
        Wall time of each step, in seconds.
    proofs : list
        The results of ``proofs_check.run_all()``.
    """
    from proofs_check import all_passed, format_table

    lines = ["# promptlimits report", "",
             f"Scale `{scale}`. Each section states a claim, the figure that shows it, the numbers measured "
             "in this run, the settings, the rule applied, the result that would have made it fail, and a "
             "verdict. Results: `results/`; figures: `figures/`.", "",
             "| # | claim | verdict | test strength |", "|---|---|---|---|"]
    lines += [f"| {i} | {_cell(v.title)} | {v.status} | {_cell(v.strength)} |" for i, v in enumerate(verdicts, 1)]
    for i, v in enumerate(verdicts, 1):
        lines += verdict_section(i, v)
    lines += ["", "## Timing", "", "| step | seconds |", "|---|---|"]
    lines += [f"| {k} | {t:.1f} |" for k, t in seconds.items()]
    lines += ["", "## proofs_check", "",
              f"`python -m proofs_check`: {'every check holds' if all_passed(proofs) else 'SOME CHECKS FAIL'}.",
              "", format_table(proofs, style="markdown")]
    return "\n".join(lines) + "\n"
