"""A sweep's results: the tidy CSV, its typed reader, and :class:`Results`.

Every column holds one type, recorded in the sidecar's ``column_types``:
``"int"``, ``"float"``, ``"bool"`` or ``"str"``, followed by ``"|None"`` when
some cells are empty (``None``; NaN results are stored as ``None``), or
``"None"`` when every cell is empty. A column that mixes ints and floats is a
float column (its ints are converted, exactly); any other mix is refused. A
``"str"`` column without ``|None`` reads an empty cell back as ``""``; a column
holding both ``""`` and ``None`` is refused (the CSV cannot tell them apart).

:func:`read_results` converts every cell by its column's type and checks the
file against its sidecar: the header, each cell (an int column holds canonical
integers, a float column exact ``repr`` floats), and every point's number of
rows (``rows_per_point``). Nothing is guessed: a CSV without a typed sidecar is
an error naming the file.
"""

from __future__ import annotations

import collections
import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .definition import SweepError

_TYPE_NAMES = {bool: "bool", int: "int", float: "float", str: "str"}
_BASE_TYPES = tuple(_TYPE_NAMES.values())


def columns(rows: list[dict]) -> list[str]:
    """Every column of ``rows``, in order of first appearance."""
    cols: dict[str, None] = {}
    for r in rows:
        for k in r:
            cols.setdefault(k, None)
    return list(cols)


def _kind(v) -> str:
    if v is None:
        return "None"
    if isinstance(v, str) and v == "":
        return "empty"
    return _TYPE_NAMES[type(v)]


def _column_type(col: str, first_point: dict[str, int]) -> str:
    """The type of a column from ``{kind: first point id holding it}`` (see the module docstring)."""
    kinds = set(first_point) - {"None"}
    if "empty" in kinds:
        if "None" in first_point:
            raise SweepError(f"column {col!r} holds both empty strings (point {first_point['empty']}) and missing "
                             f"values (point {first_point['None']}); the CSV cannot tell them apart")
        kinds = (kinds - {"empty"}) | {"str"}
    if kinds == {"int", "float"}:
        kinds = {"float"}
    if len(kinds) > 1:
        a, b = sorted(kinds)[:2]
        where = {k: first_point.get(k, first_point.get("empty")) for k in (a, b)}
        raise SweepError(f"column {col!r} holds {a} (point {where[a]}) and {b} (point {where[b]}); "
                         "a column holds one type (ints and floats mix as float)")
    if not kinds:
        return "None"
    (base,) = kinds
    return base + ("|None" if "None" in first_point else "")


def tidy_rows(rows: list[dict]) -> tuple[list[dict], dict[str, str]]:
    """Give every row every column, ints in float columns as floats; return ``(rows, column_types)``."""
    cols = columns(rows)
    seen: dict[str, dict[str, int]] = {c: {} for c in cols}
    for r in rows:
        for c in cols:
            seen[c].setdefault(_kind(r.get(c)), r["point_id"])
    types = {c: _column_type(c, seen[c]) for c in cols}
    floats = {c for c, t in types.items() if t.startswith("float")}
    out = []
    for r in rows:
        row = {c: r.get(c) for c in cols}
        for c in floats:
            v = row[c]
            if type(v) is int:
                if float(v) != v:
                    raise SweepError(f"column {c!r} of point {r['point_id']}: the int {v} has no exact float")
                row[c] = float(v)
        out.append(row)
    return out, types


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)  # round-trips exactly
    return str(v)


def csv_text(rows: list[dict]) -> str:
    """The CSV of tidy rows (every row has every column)."""
    buf = io.StringIO()
    cols = columns(rows)
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow([_cell(r[c]) for c in cols])
    return buf.getvalue()


def _parse(cell: str, typ: str):
    """A CSV cell as its column's type; ``ValueError`` if it is not one written by :func:`csv_text`."""
    base, _, rest = typ.partition("|")
    if cell == "":
        if base == "str" and not rest:
            return ""
        if base == "None" or rest == "None":
            return None
        raise ValueError("an empty cell in a column without missing values")
    if base == "str":
        return cell
    if base == "bool" and cell in ("True", "False"):
        return cell == "True"
    if base == "int" and str(v := int(cell)) == cell:
        return v
    if base == "float" and repr(v := float(cell)) == cell:
        return v
    raise ValueError(f"not a {base} as written by promptlimits")


@dataclass
class Results:
    """Rows and sidecar of a finished sweep."""

    rows: list[dict]
    meta: dict
    csv_path: Path | None = None

    @property
    def columns(self) -> list[str]:
        return columns(self.rows)

    def column(self, name: str, dtype=None) -> np.ndarray:
        """One column as an array (missing cells become NaN for numeric columns)."""
        vals = [r.get(name) for r in self.rows]
        if dtype is None and all(v is None or isinstance(v, (int, float)) for v in vals):
            return np.array([np.nan if v is None else v for v in vals], dtype=float)
        return np.array(vals, dtype=dtype if dtype is not None else object)


def _locate(path: Path, name: str | None) -> tuple[Path, Path]:
    if path.is_dir():
        if name is None:
            metas = sorted(path.glob("*.json"))
            if len(metas) != 1:
                found = [m.stem for m in metas]
                raise SweepError(f"{path} holds {len(metas)} sweeps {found}; say which with name=")
            path = metas[0]
        else:
            path = path / f"{name}.json"
    if path.suffix == ".json":
        return path.with_suffix(".csv"), path
    return path, path.with_suffix(".json")


def _read_sidecar(meta_path: Path, csv_path: Path) -> dict:
    if not meta_path.exists():
        raise SweepError(f"{csv_path} has no sidecar {meta_path.name}: its column types are unknown")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise SweepError(f"{meta_path} is corrupt (not JSON)") from None
    types = meta.get("column_types") if isinstance(meta, dict) else None
    if not isinstance(types, dict) or not all(
        isinstance(t, str) and t.partition("|")[0] in (*_BASE_TYPES, "None") and t.partition("|")[2] in ("", "None")
        for t in types.values()
    ):
        raise SweepError(f"{meta_path} records no valid column types (written by an older promptlimits?); "
                         "rerun the sweep")
    per_point = meta.get("rows_per_point")
    if not isinstance(per_point, list) or not all(type(k) is int and k >= 1 for k in per_point):
        raise SweepError(f"{meta_path} records no valid rows per point; rerun the sweep")
    if types.get("point_id") != "int":
        raise SweepError(f"{meta_path} records no int column point_id")
    return meta


def _read_csv(csv_path: Path, types: dict[str, str]) -> list[dict]:
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            records = list(csv.reader(fh))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SweepError(f"{csv_path} is not a CSV written by promptlimits: {exc}") from None
    if not records:
        raise SweepError(f"{csv_path} is empty")
    header, cols = records[0], list(types)
    if header != cols:
        raise SweepError(f"{csv_path}: header {header[:4]}... does not match the sidecar's columns {cols[:4]}...")
    rows = []
    for lineno, rec in enumerate(records[1:], start=2):
        if len(rec) != len(cols):
            raise SweepError(f"{csv_path} is corrupt at line {lineno}: {len(rec)} cells, expected {len(cols)}")
        row = {}
        for c, cell in zip(cols, rec):
            try:
                row[c] = _parse(cell, types[c])
            except ValueError as exc:
                raise SweepError(f"{csv_path} is corrupt at line {lineno}, column {c!r} "
                                 f"({types[c]}): {cell[:20]!r}: {exc}") from None
        rows.append(row)
    return rows


def _check_rows_per_point(csv_path: Path, rows: list[dict], per_point: list[int]) -> None:
    ids = [r["point_id"] for r in rows]
    if ids == [i for i, k in enumerate(per_point) for _ in range(k)]:
        return
    counts = collections.Counter(ids)
    for i, k in enumerate(per_point):
        if counts.get(i, 0) != k:
            raise SweepError(f"{csv_path} holds {counts.get(i, 0)} row(s) of point {i}; its sidecar records {k}")
    unknown = sorted(set(counts) - set(range(len(per_point))), key=str)
    if unknown:
        raise SweepError(f"{csv_path} holds rows of point {unknown[0]}, which its sidecar does not record")
    raise SweepError(f"{csv_path} holds its rows out of point order")


def read_results(path, name: str | None = None) -> Results:
    """Load a sweep's results from its CSV, its sidecar JSON or its directory.

    Cells are converted by the sidecar's ``column_types``; the header, every
    cell and every point's row count are checked against the sidecar, and a
    mismatch is a :class:`SweepError` naming the file (and line or point).
    """
    csv_path, meta_path = _locate(Path(path), name)
    if not csv_path.exists():
        raise SweepError(f"no results at {csv_path}")
    meta = _read_sidecar(meta_path, csv_path)
    rows = _read_csv(csv_path, meta["column_types"])
    _check_rows_per_point(csv_path, rows, meta["rows_per_point"])
    return Results(rows=rows, meta=meta, csv_path=csv_path)
