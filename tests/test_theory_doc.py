"""docs/theory.md stays citable: fixed numbering, every citation resolves, every check is named.

Code cites the theory as ``docs/theory.md §N`` or ``§N.M``; these tests fail when a
citation points at a subsection that does not exist, when the numbering has a gap,
or when a ``proofs_check`` check is added, renamed or removed without the document
saying which claim it proves.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "theory.md"

#: The section titles other modules rely on (docs/theory.md §1.5: numbers are fixed).
SECTIONS = {
    1: "Conventions",
    2: "The model",
    3: "The polynomial method and its certificates",
    4: "Error propagation",
    5: "The efficiency phase transition",
    6: "The hardness reduction",
    7: "Memorization capacity",
    8: "Constructions",
    9: "Verdicts and figures",
}

_SECTION = re.compile(r"^## §(\d+) (.+)$", re.M)
_SUBSECTION = re.compile(r"^### (\d+)\.(\d+) ", re.M)
#: ``docs/theory.md`` followed by one or more section numbers (``§3``, ``§3.2-§3.7``, ``§2.5, §5.6``).
_CITATION = re.compile(r"docs/theory\.md((?:(?:\s|,|;|-|and)*§\d+(?:\.\d+)?)+)")
_NUMBER = re.compile(r"§(\d+(?:\.\d+)?)")


def _text() -> str:
    return DOC.read_text(encoding="utf-8")


def _anchors(text: str) -> set[str]:
    """Every citable number: ``"3"`` for a section, ``"3.2"`` for a subsection."""
    found = {m.group(1) for m in _SECTION.finditer(text)}
    found |= {f"{a}.{b}" for a, b in _SUBSECTION.findall(text)}
    return found


def test_sections_are_the_fixed_nine_in_order():
    got = [(int(n), title) for n, title in _SECTION.findall(_text())]
    assert got == list(SECTIONS.items())


def test_subsections_are_numbered_without_gaps():
    text = _text()
    starts = [(m.start(), int(m.group(1))) for m in _SECTION.finditer(text)] + [(len(text), None)]
    for (begin, n), (end, _) in zip(starts, starts[1:]):
        subs = [(int(a), int(b)) for a, b in _SUBSECTION.findall(text[begin:end])]
        assert subs, f"§{n} has no subsections"
        assert subs == [(n, k) for k in range(1, len(subs) + 1)], f"§{n}: subsections {subs}"


def test_references_inside_the_document_resolve():
    text = _text()
    anchors = _anchors(text)
    missing = sorted({x for x in _NUMBER.findall(text) if x not in anchors})
    assert not missing, f"docs/theory.md refers to sections it does not have: {missing}"


def _cited_numbers(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [x for m in _CITATION.finditer(text) for x in _NUMBER.findall(m.group(1))]


def test_code_citations_resolve():
    anchors = _anchors(_text())
    sources = [p for pattern in ("promptlimits/**/*.py", "proofs_check/*.py", "figures/*.py", "tests/*.py", "*.md")
               for p in ROOT.glob(pattern)]
    bad = {str(p.relative_to(ROOT)): sorted(set(n) - anchors)
           for p in sources if (n := _cited_numbers(p)) and set(n) - anchors}
    assert not bad, f"citations of docs/theory.md sections that do not exist: {bad}"


def test_citation_pattern_reads_ranges_and_lists():
    # the parser above must see every number of a multi-section citation
    sample = "see docs/theory.md §3.2-§3.7 and docs/theory.md §2.5, §5.6; figure 5"
    assert [x for m in _CITATION.finditer(sample) for x in _NUMBER.findall(m.group(1))] == \
        ["3.2", "3.7", "2.5", "5.6"]


def test_every_check_is_documented_and_every_documented_check_exists():
    pytest.importorskip("sympy")
    from proofs_check import load_checks

    registered = {c.name for c in load_checks()}
    text = _text()
    named = set(re.findall(r"`(\d+[a-z]?\.[a-z0-9-]+)`", text))
    assert registered - named == set(), f"checks missing from docs/theory.md: {sorted(registered - named)}"
    assert named - registered == set(), f"docs/theory.md names checks that do not exist: {sorted(named - registered)}"


#: Words that point at a tracker instead of at the project ("issue 12", "the issue's reproducers").
_TRACKER = re.compile(r"\bissues?[ _-]?#?\d+|\bthe issue\b|\bthis issue\b", re.I)


def _project_text_files():
    for top in ("promptlimits", "proofs_check", "docs", "examples", "tests", "benchmarks"):
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix in {".py", ".md", ".rst", ".toml"} and "_build" not in path.parts \
                    and "auto_examples" not in path.parts:
                yield path
    yield from (ROOT / name for name in ("README.md", "CHANGELOG.md", "pyproject.toml"))


def test_no_tracker_words_in_code_docs_or_tests():
    found = []
    for path in _project_text_files():
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if _TRACKER.search(line) and path != Path(__file__).resolve():
                found.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()[:80]}")
    assert not found, "the project speaks about itself, not about its tracker:\n" + "\n".join(found)


def test_the_tracker_pattern_bites():
    assert _TRACKER.search("the binary bound of issue 5") and _TRACKER.search("Issue 12: B=3.05")
    assert not _TRACKER.search("vector lanes issued per row")
