"""The report of ``promptlimits reproduce``: verdicts, provenance, timing and ``proofs_check``.

- :func:`render` writes ``report.md``: the scale and seed, the provenance
  (:mod:`.provenance`), a table (claim, status, test strength), one section per
  claim -- the claim, its figures, the numbers measured, the settings, the
  rule, the result that would have made it fail, and the verdict -- then the
  time of each step and the table of ``python -m proofs_check``.
- :func:`verdicts_document` is the same verdict table, machine-readable, for
  ``verdicts.json`` (:func:`write_verdicts`, :func:`read_verdicts`), which
  :mod:`.stability` tallies over seeds and compares between runs.
- :func:`render_stability` writes ``stability.md``.

At the ``tiny`` scale the sizes cannot test a claim: the report calls each
status a smoke-test result, not a verdict (docs/theory.md §9.12).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from .._io import write_json
from .provenance import header_lines
from .stability import Difference, Tally
from .verdict import Verdict

__all__ = ["render", "verdict_section", "SMOKE_SCALE", "is_smoke", "verdict_records", "verdicts_document",
           "write_verdicts", "read_verdicts", "VERDICTS_FILE", "comparison_lines", "render_stability"]

#: The scale whose statuses are a smoke test, not verdicts.
SMOKE_SCALE = "tiny"

#: The machine-readable verdict table beside ``report.md``.
VERDICTS_FILE = "verdicts.json"

#: Bumped when the layout of ``verdicts.json`` changes.
VERDICTS_FORMAT = 1

_SMOKE_NOTE = ("**Smoke test.** At the `tiny` scale the sizes are far too small to test any claim: each section "
               "shows that its experiment, rule and figure run end to end, and the status its rule gave is a "
               "smoke-test result, not a verdict on the claim. Run `--scale quick` or `--scale full` for verdicts.")


def is_smoke(scale: str) -> bool:
    """Whether a run at ``scale`` is a smoke test (its statuses are not verdicts)."""
    return scale == SMOKE_SCALE


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _status_line(v: Verdict, smoke: bool) -> str:
    if smoke:
        return f"**Smoke test, not a verdict: the rule gave {v.status}.** {v.why}"
    return f"**Verdict: {v.status}.** {v.why}"


def verdict_section(i: int, v: Verdict, *, smoke: bool = False, figures: bool = True) -> list[str]:
    """The lines of claim ``i``'s section (``smoke``: a smoke test's status line; ``figures``: drawn or not)."""
    figs = ", ".join(f"`figures/{f}.png`" for f in v.figures) if figures else "not drawn in this run"
    lines = ["", f"## {i}. {v.title}", "", f"**Claim.** {v.claim}", "", f"**Figure.** {figs}", "",
             "**Measured.**", ""]
    lines += [f"- {x}" for x in v.numbers]
    lines += ["", f"**Settings.** {v.settings}", "", f"**Rule.** {v.rule}", "",
              f"**Would have failed if.** {v.falsifier}", "", f"**Test strength.** {v.strength}", "",
              _status_line(v, smoke)]
    return lines


def comparison_lines(differences: Sequence[Difference], this: str, other: str) -> list[str]:
    """Markdown lines saying which claims differ in status between run ``this`` and run ``other``."""
    if not differences:
        return [f"Every claim has the same status in {this} and in {other}."]
    lines = [f"{len(differences)} claim{'s differ' if len(differences) != 1 else ' differs'} in status:", "",
             f"| claim | {_cell(this)} | {_cell(other)} |", "|---|---|---|"]
    lines += [f"| {_cell(d.title)} | {d.status_a} | {d.status_b} |" for d in differences]
    return lines


def render(scale: str, verdicts: Sequence[Verdict], seconds: Mapping[str, float], proofs, *,
           seed: int | None = None, provenance: Mapping | None = None, figures: bool = True,
           comparison: tuple[str, Sequence[Difference]] | None = None) -> str:
    """The whole report (Markdown text, ending with a newline).

    Parameters
    ----------
    scale : str
        The scale the experiments ran at (``tiny``: a smoke test).
    verdicts : sequence of Verdict
        In report order.
    seconds : mapping
        Wall time of each step, in seconds.
    proofs : list or None
        The results of ``proofs_check.run_all()``; None where it was not run.
    seed : int, optional
        The base seed of the sweeps.
    provenance : mapping, optional
        :func:`promptlimits.experiments.provenance.provenance` of the run.
    figures : bool
        Whether the figures were drawn.
    comparison : (str, list of Difference), optional
        Another run's folder and the claims whose status differs from it.
    """
    from proofs_check import all_passed, format_table

    smoke = is_smoke(scale)
    seed_text = f", seed {seed}" if seed is not None else ""
    lines = ["# promptlimits report" + (" (smoke test)" if smoke else ""), "",
             f"Scale `{scale}`{seed_text}. Each section states a claim, the figure that shows it, the numbers "
             "measured in this run, the settings, the rule applied, the result that would have made it fail, "
             f"and {'the status the rule gave' if smoke else 'a verdict'}. Results: `results/`; "
             f"{'figures: `figures/`' if figures else 'no figures drawn'}; the verdict table: `{VERDICTS_FILE}`."]
    if smoke:
        lines += ["", _SMOKE_NOTE]
    if provenance is not None:
        lines += ["", "## Provenance", "", *header_lines(provenance), f"- Scale `{scale}`{seed_text}",
                  "- Wall time per step: see Timing"]
    status_head = "smoke test: the rule gave" if smoke else "verdict"
    lines += ["", "## Claims", "", f"| # | claim | {status_head} | test strength |", "|---|---|---|---|"]
    lines += [f"| {i} | {_cell(v.title)} | {v.status} | {_cell(v.strength)} |" for i, v in enumerate(verdicts, 1)]
    if comparison is not None:
        other, differences = comparison
        lines += ["", f"## Compared with `{other}`", "",
                  *comparison_lines(differences, "this run", f"`{other}`")]
    for i, v in enumerate(verdicts, 1):
        lines += verdict_section(i, v, smoke=smoke, figures=figures)
    lines += ["", "## Timing", "", "| step | seconds |", "|---|---|"]
    lines += [f"| {k} | {t:.1f} |" for k, t in seconds.items()]
    if "figures" in seconds and "proofs_check" in seconds:
        lines += ["", "The figures and `proofs_check` run side by side, in two processes: the total is less than "
                      "the sum of the steps."]
    lines += ["", "## proofs_check", ""]
    if proofs is None:
        lines += ["`python -m proofs_check` was not run with this run (its checks do not depend on the seed)."]
    else:
        lines += [f"`python -m proofs_check`: {'every check holds' if all_passed(proofs) else 'SOME CHECKS FAIL'}.",
                  "", format_table(proofs, style="markdown")]
    return "\n".join(lines) + "\n"


def verdict_records(verdicts: Sequence[Verdict], scale: str, seed: int | None) -> list[dict]:
    """One ``{claim_id, title, status, scale, seed}`` per verdict, in report order."""
    return [{"claim_id": v.claim_id, "title": v.title, "status": v.status, "scale": scale, "seed": seed}
            for v in verdicts]


def verdicts_document(verdicts: Sequence[Verdict], *, scale: str, seed: int | None, provenance: Mapping,
                      seconds: Mapping[str, float], proofs_check: str) -> dict:
    """The content of ``verdicts.json``: the verdict table with the run's scale, seed, provenance and timing.

    ``proofs_check`` is ``"every check holds"``, ``"some checks fail"`` or
    ``"not run"``.
    """
    return {"format": VERDICTS_FORMAT, "scale": scale, "seed": seed, "smoke_test": is_smoke(scale),
            "proofs_check": proofs_check, "seconds": dict(seconds), "provenance": dict(provenance),
            "verdicts": verdict_records(verdicts, scale, seed)}


def write_verdicts(folder, document: Mapping) -> Path:
    """Write ``folder/verdicts.json`` atomically."""
    return write_json(Path(folder) / VERDICTS_FILE, document, sort_keys=False)


def read_verdicts(folder, label: str | None = None) -> dict:
    """The ``verdicts.json`` of the run in ``folder``; a ValueError naming ``label`` (default the folder)."""
    label = label or str(folder)
    path = Path(folder) / VERDICTS_FILE
    if not Path(folder).is_dir():
        raise ValueError(f"{label}: folder {folder} does not exist")
    if not path.is_file():
        raise ValueError(f"{label}: {path} does not exist (not a finished reproduce run)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{label}: cannot read {path} ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("verdicts"), list) or "scale" not in doc:
        raise ValueError(f"{label}: {path} is not a verdict table of promptlimits reproduce")
    return doc


def render_stability(t: Tally, docs: Sequence[Mapping], *, scale: str, folders: Sequence[str],
                     provenance: Mapping) -> str:
    """``stability.md``: each claim's statuses over the runs in ``docs`` (one ``verdicts.json`` each)."""
    seeds = ", ".join(str(d.get("seed")) for d in docs)
    lines = ["# promptlimits verdict stability" + (" (smoke test)" if is_smoke(scale) else ""), "",
             f"Scale `{scale}`, {len(docs)} run{'s' if len(docs) != 1 else ''} with seeds {seeds}, each a "
             "`promptlimits reproduce` in its own folder (results, `report.md`, `verdicts.json`; no figures "
             "and no proofs_check, which do not depend on the seed). A claim is **stable** when every run gave "
             "it the same status and **FLIPS** otherwise. Stability is measured here, not enforced: no rule "
             "reads it (docs/theory.md §9.12)."]
    if is_smoke(scale):
        lines += ["", "At the `tiny` scale the statuses are smoke-test results, not verdicts on the claims."]
    lines += ["", f"**{t.summary()}.**", "", *t.markdown(), "", "## Runs", "", "| seed | folder | seconds |",
              "|---|---|---|"]
    lines += [f"| {d.get('seed')} | `{f}` | {d.get('seconds', {}).get('total', float('nan')):.1f} |"
              for d, f in zip(docs, folders)]
    lines += ["", "## Provenance", "", *header_lines(provenance)]
    return "\n".join(lines) + "\n"
