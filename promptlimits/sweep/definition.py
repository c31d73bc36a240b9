"""A sweep's definition: :class:`SweepDef`, TOML loading, points, seeds, names.

Nothing here runs a point; :mod:`promptlimits.sweep.run` does.
"""

from __future__ import annotations

import hashlib
import importlib
import itertools
import json
import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: The value types a parameter or a result cell may hold.
SCALARS = (bool, int, float, str, type(None))
#: Columns every row carries besides the parameters; no parameter may use these names.
RESERVED = ("point_id", "seed")


class SweepError(ValueError):
    """A sweep cannot run or its results cannot be read (reported as one line).

    ``options``, when given, names the command-line options that act on the
    problem (e.g. ``"--resume or --out"``); it is appended to the message in
    parentheses so the one line serves both the library and the CLI.
    """

    def __init__(self, message: str, *, options: str | None = None):
        self.message, self.options = message, options
        super().__init__(message if options is None else f"{message} (command line: {options})")


def plain(v, where: str):
    """``v`` as a plain Python scalar (NumPy scalars unwrapped)."""
    if isinstance(v, np.generic):
        v = v.item()
    if not isinstance(v, SCALARS):
        raise SweepError(f"{where} must be a scalar (number, string, bool), got {type(v).__name__}")
    return v


def scalar(v, where: str):
    """``v`` as a plain Python scalar, finite if a float (a parameter)."""
    v = plain(v, where)
    if isinstance(v, float) and not math.isfinite(v):
        raise SweepError(f"{where} must be finite, got {v}")
    return v


def _check_target(spec, what: str) -> str:
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise SweepError(f"{what} must be a 'module:function' string, got {spec!r}")
    return spec


def _check_key(k, where: str) -> None:
    if not isinstance(k, str) or k in RESERVED:
        raise SweepError(f"{where} key {k!r} is not allowed (reserved or not a string)")


def _tidy_grid(grid) -> dict:
    if not isinstance(grid, Mapping):
        raise SweepError(f"grid must be a mapping of parameter -> list, got {type(grid).__name__}")
    out = {}
    for k, vals in grid.items():
        _check_key(k, "grid")
        if isinstance(vals, (str, bytes)) or not hasattr(vals, "__iter__"):
            raise SweepError(f"grid entry {k!r} must be a list, got {type(vals).__name__}")
        vals = tuple(scalar(v, f"grid value {k}") for v in vals)
        if not vals:
            raise SweepError(f"grid entry {k!r} is empty: give at least one value")
        out[k] = vals
    return out


def _tidy_params(p, where: str) -> dict:
    if not isinstance(p, Mapping):
        raise SweepError(f"{where} must be a mapping, got {type(p).__name__}")
    for k, v in p.items():
        _check_key(k, where)
        if isinstance(v, (list, tuple)):
            raise SweepError(f"{where}.{k} must be one value (number, string, bool), got an array {list(v)!r}: "
                             "a list of values goes in [grid] (one point per value)")
    return {k: scalar(v, f"{where}.{k}") for k, v in p.items()}


def _check_count(v, name: str, low: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise SweepError(f"{name} must be an integer >= {low}, got {v!r}")


@dataclass(frozen=True)
class SweepDef:
    """A declarative sweep (see :mod:`promptlimits.sweep`).

    Parameters
    ----------
    name : str
        Used for the file names ``<name>.csv`` / ``.json``; letters, digits,
        ``-`` and ``_``.
    point : str
        ``"module:function"`` of the point function ``fn(params, seed)``.
    grid : mapping of str to list
        Expanded as a Cartesian product (first key slowest). Empty lists are an
        error.
    points : sequence of mappings
        Explicit points, run before the grid's.
    fixed : mapping
        Parameters shared by every point (a point's own value wins).
    repeats : int
        Copies of each point (each with its own seed).
    seed : int
        Base of the ``SeedSequence`` that gives every point its seed.
    check, summary : str, optional
        ``"module:function"`` of a point validator and of a summary of the rows.
    description : str
        Free text, stored in the sidecar (not hashed).
    """

    name: str
    point: str
    grid: Mapping[str, Any] = field(default_factory=dict)
    points: tuple = ()
    fixed: Mapping[str, Any] = field(default_factory=dict)
    repeats: int = 1
    seed: int = 0
    check: str | None = None
    summary: str | None = None
    description: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or not all(
            ch.isalnum() or ch in "-_" for ch in self.name
        ):
            raise SweepError(f"sweep name must be letters, digits, '-' or '_', got {self.name!r}")
        _check_target(self.point, "point")
        for attr in ("check", "summary"):
            if getattr(self, attr) is not None:
                _check_target(getattr(self, attr), attr)
        grid = _tidy_grid(self.grid)
        fixed = _tidy_params(self.fixed, "fixed")
        pts = [_tidy_params(p, f"points[{j}]") for j, p in enumerate(self.points)]
        _check_count(self.repeats, "repeats", 1)
        _check_count(self.seed, "seed", 0)
        if not grid and not pts:
            raise SweepError(f"sweep {self.name!r} has no points: give a non-empty grid or points")
        object.__setattr__(self, "grid", grid)
        object.__setattr__(self, "fixed", fixed)
        object.__setattr__(self, "points", tuple(pts))

    def to_dict(self) -> dict:
        """The definition as plain JSON data."""
        return {
            "name": self.name,
            "point": self.point,
            "grid": {k: list(v) for k, v in self.grid.items()},
            "points": [dict(p) for p in self.points],
            "fixed": dict(self.fixed),
            "repeats": self.repeats,
            "seed": self.seed,
            "check": self.check,
            "summary": self.summary,
            "description": self.description,
        }

    @property
    def hash(self) -> str:
        """SHA-256 of the canonical JSON of the definition (without description)."""
        d = self.to_dict()
        d.pop("description")
        blob = json.dumps(d, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


#: The keys of a sweep file, each with the TOML type it must have (:func:`load_sweep`).
TOML_KEYS = {
    "name": (str, "a string (letters, digits, '-', '_')"),
    "point": (str, "a 'module:function' string"),
    "grid": (dict, "a table [grid] of parameter = [values]"),
    "points": (list, "an array of tables [[points]]"),
    "fixed": (dict, "a table [fixed] of parameter = value"),
    "repeats": (int, "an integer >= 1"),
    "seed": (int, "an integer >= 0"),
    "check": (str, "a 'module:function' string"),
    "summary": (str, "a 'module:function' string"),
    "description": (str, "a string"),
}

_TOML_TYPES = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
               dict: "a table"}


def _toml_type(v) -> str:
    return next((name for t, name in _TOML_TYPES.items() if type(v) is t), type(v).__name__)


def default_check(point: str) -> str | None:
    """``"module:check_point"`` when the point function's module defines one (an experiment's validator)."""
    mod, _, _ = point.partition(":")
    try:
        fn = getattr(importlib.import_module(mod), "check_point", None)
    except ImportError:
        return None
    return f"{mod}:check_point" if callable(fn) else None


def load_sweep(path) -> SweepDef:
    """Read a :class:`SweepDef` from a TOML file (the keys of :data:`TOML_KEYS`).

    An unknown key or a value of the wrong TOML type is refused naming the
    key and the type it must have. Without a ``check`` key, the point
    function's module's ``check_point`` (every experiment has one) checks the
    points, so a bad parameter is refused before the run starts.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise SweepError(f"{path}: not valid TOML: {exc}") from None
    for key, value in data.items():
        if key not in TOML_KEYS:
            raise SweepError(f"{path}: unknown key {key!r}; a sweep file holds {', '.join(TOML_KEYS)}")
        kind, expected = TOML_KEYS[key]
        if type(value) is not kind:
            raise SweepError(f"{path}: key {key!r} must be {expected}, got {_toml_type(value)} {value!r}")
    for key in ("name", "point"):
        if key not in data:
            raise SweepError(f"{path}: missing required key {key!r} ({TOML_KEYS[key][1]})")
    if "points" in data:
        data["points"] = tuple(data["points"])
    if "check" not in data:
        data["check"] = default_check(_check_target(data["point"], f"{path}: key 'point'"))
    try:
        return SweepDef(**data)
    except SweepError as exc:
        raise SweepError(f"{path}: {exc.message}") from None


def definition_changes(old: Mapping, new: Mapping) -> list[str]:
    """The settings in which two definitions (:meth:`SweepDef.to_dict`) differ, as ``"key: old -> new"``.

    ``grid`` and ``fixed`` are compared parameter by parameter, explicit
    ``points`` by count and then by the first point that differs; the
    description is ignored (it is not hashed).
    """
    out = []
    for key in ("name", "point", "check", "summary", "repeats", "seed"):
        if old.get(key) != new.get(key):
            out.append(f"{key}: {old.get(key)!r} -> {new.get(key)!r}")
    for table in ("grid", "fixed"):
        a, b = old.get(table) or {}, new.get(table) or {}
        for k in list(a) + [k for k in b if k not in a]:
            if a.get(k, _MISSING) != b.get(k, _MISSING):
                out.append(f"{table}.{k}: {_shown(a.get(k, _MISSING))} -> {_shown(b.get(k, _MISSING))}")
    a, b = list(old.get("points") or []), list(new.get("points") or [])
    if a != b:
        out += _points_changes(a, b)
    return out


def _points_changes(a: list, b: list) -> list[str]:
    """How two lists of explicit points differ: their count, each parameter's values, else the first point."""
    out = [] if len(a) == len(b) else [f"points: {len(a)} -> {len(b)} explicit points"]
    for k in dict.fromkeys([k for p in a + b for k in p]):
        va = list(dict.fromkeys(p.get(k, _MISSING) for p in a))
        vb = list(dict.fromkeys(p.get(k, _MISSING) for p in b))
        if set(map(repr, va)) != set(map(repr, vb)):
            out.append(f"points' {k}: {_values(va)} -> {_values(vb)}")
    if len(out) == (len(a) != len(b)):  # same values, other combinations or order: the first point that differs
        j = next((j for j, (p, q) in enumerate(zip(a, b)) if p != q), min(len(a), len(b)))
        if j < min(len(a), len(b)):
            keys = [k for k in dict.fromkeys(list(a[j]) + list(b[j])) if a[j].get(k, _MISSING) != b[j].get(k, _MISSING)]
            out.append(f"points[{j}]: " + ", ".join(f"{k} {_shown(a[j].get(k, _MISSING))} -> "
                                                     f"{_shown(b[j].get(k, _MISSING))}" for k in keys))
    return out


def _values(values: list) -> str:
    shown = [_shown(v) for v in values]
    return "[" + ", ".join(shown if len(shown) <= 6 else shown[:3] + ["..."] + shown[-2:]) + "]"


_MISSING = object()


def _shown(v) -> str:
    if v is _MISSING:
        return "(absent)"
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def expand_points(sweep: SweepDef) -> list[dict]:
    """The sweep's points, in point order (explicit points, then the grid)."""
    base = [{**sweep.fixed, **p} for p in sweep.points]
    if sweep.grid:
        keys = list(sweep.grid)
        for combo in itertools.product(*(sweep.grid[k] for k in keys)):
            base.append({**sweep.fixed, **dict(zip(keys, combo))})
    if sweep.repeats == 1:
        return base
    return [{**p, "repeat": r} for p in base for r in range(sweep.repeats)]


def point_seeds(sweep: SweepDef, n_points: int) -> list[int]:
    """Seed of point ``i``: child ``i`` of ``SeedSequence(sweep.seed)``, as a 63-bit int."""
    children = np.random.SeedSequence(sweep.seed).spawn(n_points)
    return [int(c.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)) for c in children]


def resolve(spec: str) -> Callable:
    """The callable named by ``"module:function"``."""
    mod, _, fn = spec.partition(":")
    try:
        obj = getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as exc:
        raise SweepError(f"cannot import {spec!r}: {exc}") from None
    if not callable(obj):
        raise SweepError(f"{spec!r} is not callable")
    return obj
