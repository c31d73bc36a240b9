"""Atomic file writes and the one JSON encoder of the package.

A result file is either the old one or the complete new one: it is written to a
temporary file in the same folder, flushed, ``fsync``-ed and moved over the
target with ``os.replace``. New files get the permissions the user's umask
gives (``0o666 & ~umask``, as ``open`` would), not the ``0600`` of
``tempfile.mkstemp``.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from pathlib import Path


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new, exclusively created file next to ``path``; mode 0o666 minus the umask (the kernel applies it)."""
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file next to {path}")


def atomic_write_text(path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path, obj, *, sort_keys: bool = True) -> Path:
    """Write ``obj`` as indented JSON (keys sorted unless ``sort_keys=False``), atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=sort_keys, default=jsonable) + "\n")


def probe_new_file(folder, label: str) -> None:
    """Refuse (``ValueError``, the message starting with ``label``) a ``folder`` that will not take a new file.

    The probe is an unnamed temporary file where the OS allows, removed on close: nothing is left.
    """
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ValueError(f"{label} cannot be written: {folder} refuses a new file ({exc.strerror or exc})") from None


def probe_folder(path, label: str) -> Path:
    """Refuse an output folder that cannot be made or written, before any work; nothing is created.

    The nearest existing ancestor must be a folder that accepts a new file
    (the folder itself is made later, by the work that writes into it).
    """
    existing = Path(path)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{label}: {existing} exists and is not a folder")
    probe_new_file(existing, label)
    return Path(path)


def json_line(obj) -> str:
    """``obj`` as one compact JSON line (no newline); inf is written as ``Infinity``."""
    return json.dumps(obj, default=jsonable, separators=(",", ":"))


def jsonable(x):
    """The ``default=`` of every ``json.dumps`` in the package: NumPy scalars and arrays, paths."""
    import numpy as np

    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"cannot write {type(x).__name__} as JSON")
