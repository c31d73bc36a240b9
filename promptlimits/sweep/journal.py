"""The checkpoint ledger ``<name>.journal.jsonl``: reading, validating, appending.

Its first line holds the definition hash; each later line holds one finished
point, ``{"point_id": i, "rows": [...]}``, written with one ``write`` call,
flushed and ``fsync``-ed. On resume the whole journal is validated before any
new point is computed:

* a final line without ``\\n`` (a kill during the write) is dropped;
* every other line must decode and match its point's schema
  (:func:`row_problem`): ``point_id`` in range, ``rows`` a non-empty list of
  objects, each carrying the point's ``point_id``, parameters and seed
  unchanged, and scalar values only. A point with no rows or malformed rows
  is corruption: the error names the file and the line, and the file is
  refused, never overwritten;
* a point recorded twice is accepted only if both lines are byte-identical
  (a deterministic point recomputed, e.g. by two runs that shared a folder);
  the copy is ignored. Two different records of one point are refused, naming
  both lines, since either could be the wrong one.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from .._io import json_line
from .definition import SCALARS, SweepError, definition_changes


def _same(value, expected) -> bool:
    """``value`` is ``expected`` unchanged (an int parameter may come back as the float of a float column)."""
    if type(value) is float and type(expected) is int:
        return value == expected
    return type(value) is type(expected) and value == expected


def row_problem(rows, point_id: int, params: dict, seed: int) -> str | None:
    """What is wrong with ``rows`` as the result of point ``point_id`` (``None`` if nothing)."""
    if not isinstance(rows, list):
        return f"the rows of point {point_id} are not a list"
    if not rows:
        return f"point {point_id} has no rows"
    expected = {"point_id": point_id, **params, "seed": seed}
    for j, row in enumerate(rows):
        if not isinstance(row, dict):
            return f"row {j} of point {point_id} is not an object"
        for k, v in expected.items():
            if k not in row:
                return f"row {j} of point {point_id} has no {k!r}, the definition says {v!r}"
            if not _same(row[k], v):
                return f"row {j} of point {point_id} has {k}={row[k]!r}, the definition says {v!r}"
        for k, v in row.items():
            if not isinstance(v, SCALARS) or (isinstance(v, float) and math.isnan(v)):
                return f"column {k!r} of row {j} of point {point_id} is not a scalar: {v!r}"
    return None


def _corrupt(path: Path, lineno: int, problem: str) -> SweepError:
    return SweepError(f"{path} is corrupt at line {lineno}: {problem}; refusing to touch it")


def different_definition(path: Path, old: dict | None, old_hash, new: dict, new_hash: str) -> SweepError:
    """The refusal of results written by another definition, naming the settings that differ."""
    changes = definition_changes(old, new) if isinstance(old, dict) else []
    if changes:
        shown = "; ".join(changes[:4]) + (f"; and {len(changes) - 4} more" if len(changes) > 4 else "")
        what = f"the settings differ (old -> new): {shown}"
    else:  # a file from before definitions were recorded with the hash
        what = f"definition hash {str(old_hash)[:12]} != {new_hash[:12]}"
    return SweepError(f"{path} belongs to a different sweep definition: {what}; resume with the old settings "
                      "or choose another output folder", options="--out")


def _header(path: Path, line: bytes, definition_hash: str, definition: dict | None) -> None:
    try:
        header = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SweepError(f"{path} is corrupt (bad header line); refusing to touch it") from None
    if not isinstance(header, dict) or "definition_hash" not in header:
        raise SweepError(f"{path} is not a promptlimits sweep journal; refusing to touch it")
    if header["definition_hash"] != definition_hash:
        raise different_definition(path, header.get("definition"), header["definition_hash"], definition or {},
                                   definition_hash)


def _record(path: Path, lineno: int, line: bytes, params: list[dict], seeds: list[int]) -> tuple[int, list]:
    try:
        rec = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _corrupt(path, lineno, "not JSON") from None
    if not isinstance(rec, dict) or set(rec) != {"point_id", "rows"}:
        raise _corrupt(path, lineno, "not a point record {point_id, rows}")
    pid = rec["point_id"]
    if type(pid) is not int or not 0 <= pid < len(params):
        raise _corrupt(path, lineno, f"point_id {pid!r} is not in 0..{len(params) - 1}")
    problem = row_problem(rec["rows"], pid, params[pid], seeds[pid])
    if problem is not None:
        raise _corrupt(path, lineno, problem)
    return pid, rec["rows"]


def read_journal(path: Path, definition_hash: str, params: list[dict], seeds: list[int],
                 definition: dict | None = None) -> tuple[dict[int, list[dict]], int]:
    """Validated finished points of a journal: ``(rows by point id, bytes to keep)`` (module docstring).

    ``definition`` (:meth:`SweepDef.to_dict`) lets a journal of another
    definition be refused naming the settings that differ.
    """
    data = path.read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    keep = len(data) - len(tail)
    if not lines:
        if tail:  # header itself cut short: nothing finished yet
            return {}, 0
        raise SweepError(f"{path} is empty; delete it or choose another output folder")
    _header(path, lines[0], definition_hash, definition)
    done: dict[int, list[dict]] = {}
    first_line: dict[int, int] = {}
    for lineno, line in enumerate(lines[1:], start=2):
        pid, rows = _record(path, lineno, line, params, seeds)
        if pid in done:
            if line != lines[first_line[pid] - 1]:
                raise SweepError(f"{path} is corrupt: lines {first_line[pid]} and {lineno} hold different "
                                 f"rows for point {pid}; refusing to touch it")
            continue
        done[pid], first_line[pid] = rows, lineno
    return done, keep


class Journal:
    """Appends finished points to a journal; creates the folder and the file only with the first point.

    ``keep`` is ``None`` for a new journal, else the number of valid bytes of
    the existing one (a half-written last line beyond it is cut off).
    """

    def __init__(self, path: Path, header: dict, keep: int | None):
        self.path, self.header, self.keep, self.fh = path, header, keep, None

    def _open(self) -> None:
        if self.keep is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.fh = open(self.path, "xb")
        else:
            self.fh = open(self.path, "r+b")
            self.fh.truncate(self.keep)
            self.fh.seek(self.keep)
        if not self.keep:
            self._write(self.header)

    def _write(self, obj) -> None:
        self.fh.write((json_line(obj) + "\n").encode())  # one write per unit
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def add(self, point_id: int, rows: list[dict]) -> None:
        if self.fh is None:
            self._open()
        self._write({"point_id": point_id, "rows": rows})

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None
