"""Provenance of a run: the code, the packages and the machine a report's numbers come from.

:func:`provenance` returns a plain, JSON-ready dict (docs/theory.md §9.12):

- ``commit``: ``git describe --always --tags --dirty`` and the full hash of the
  checkout that holds the imported ``promptlimits``, and whether its tracked
  files differ from the commit (``dirty``); ``"not a git checkout"`` where the
  package is not inside one (an installed wheel) or git is missing; read when
  the run starts, with ``commit_at_end`` added if the checkout changed before
  the report was written;
- ``versions``: Python, promptlimits, numpy, scipy, numba, sympy, matplotlib;
- ``cpu``: the model name from ``/proc/cpuinfo`` (``platform.processor()``
  elsewhere), the machine, the number of CPUs;
- ``blas``: the BLAS numpy was built with (``numpy.show_config``) and its
  threads, read by ``threadpoolctl`` where installed (otherwise the
  thread-limit environment variables that were set, and ``threads`` is
  ``None``);
- ``numba``: the threading layer and thread count.

The report renders it (:func:`header_lines`) and ``verdicts.json`` stores it.
Nothing here changes a result; a value that cannot be read is written as
such rather than guessed.
"""

from __future__ import annotations

import importlib
import os
import platform
import subprocess
from pathlib import Path

__all__ = ["provenance", "header_lines", "NOT_GIT", "PACKAGES", "THREAD_VARIABLES"]

#: The commit entry of a package that is not inside a git checkout.
NOT_GIT = "not a git checkout"

#: Packages whose versions are recorded, besides Python.
PACKAGES = ("promptlimits", "numpy", "scipy", "numba", "sympy", "matplotlib")

#: Environment variables that limit the threads of BLAS, OpenMP and Numba.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def _git(root: Path, *args: str) -> str | None:
    """The stripped output of ``git -C root ARGS``, or None where git fails or is missing."""
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30,
                             check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def commit_info(root: Path | None = None) -> dict:
    """``{"describe", "hash", "dirty"}`` of the checkout at ``root`` (default: the one holding the package).

    A folder that is not the top of a git checkout (e.g. site-packages inside
    some other repository) gives ``describe = "not a git checkout"`` and
    ``hash = dirty = None``.
    """
    if root is None:
        root = Path(__file__).resolve().parents[2]
    root = Path(root).resolve()
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != root:
        return {"describe": NOT_GIT, "hash": None, "dirty": None}
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {"describe": _git(root, "describe", "--always", "--tags", "--dirty"),
            "hash": _git(root, "rev-parse", "HEAD"),
            "dirty": None if status is None else bool(status)}


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = getattr(importlib.import_module(name), "__version__", "unknown")
        except ImportError:
            out[name] = "not installed"
    return out


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() in ("model name", "Model", "cpu model") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _cpu() -> dict:
    return {"model": _cpu_model(), "machine": platform.machine(), "count": os.cpu_count()}


def _blas() -> dict:
    """numpy's BLAS (name, version) and its threads (threadpoolctl where installed)."""
    import numpy as np

    try:
        deps = np.show_config(mode="dicts").get("Build Dependencies", {})
        blas = deps.get("blas", {})
        name, version = blas.get("name", "unknown"), blas.get("version", "unknown")
    except (TypeError, AttributeError, ValueError):  # numpy < 1.26 has no mode="dicts"
        name, version = "unknown", "unknown"
    out = {"name": name, "version": version, "threads": None,
           "environment": {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ}}
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        out["threads_source"] = "threadpoolctl not installed"
        return out
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    if pools:
        out["threads"] = max(int(p.get("num_threads", 0)) for p in pools)
        out["threads_source"] = "threadpoolctl: " + ", ".join(
            f"{p.get('internal_api')} {p.get('version')} ({p.get('num_threads')} threads)" for p in pools)
    else:
        out["threads_source"] = "threadpoolctl found no BLAS library loaded"
    return out


def _numba() -> dict:
    import numba

    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel function has run yet in this process
        layer = f"not yet chosen (requested: {numba.config.THREADING_LAYER})"
    return {"threading_layer": layer, "threads": numba.get_num_threads()}


def provenance(*, root: Path | None = None, started: dict | None = None) -> dict:
    """The code, packages and machine of this process (keys ``commit``, ``versions``, ``cpu``, ``blas``, ``numba``).

    ``root`` is the checkout to describe (default: the one holding the
    imported package). ``started``: the :func:`commit_info` read when the run
    began; it is the ``commit`` recorded (the code that computed the numbers),
    and if the checkout differs now (a commit or an edit during the run) the
    present state is kept as ``commit_at_end``. Every value is JSON-ready.
    """
    now = commit_info(root)
    out = {"commit": now if started is None else started}
    if started is not None and (started["hash"], started["dirty"]) != (now["hash"], now["dirty"]):
        out["commit_at_end"] = now
    return {**out, "versions": _versions(), "cpu": _cpu(), "blas": _blas(), "numba": _numba(),
            "platform": platform.platform()}


def _commit_text(c: dict) -> str:
    if c["describe"] == NOT_GIT:
        return NOT_GIT
    state = {True: "tracked files modified", False: "clean", None: "state unknown"}[c["dirty"]]
    return f"`{c['describe']}` ({c['hash']}; {state})"


def header_lines(prov: dict) -> list[str]:
    """The report's provenance, as Markdown list items."""
    commit = _commit_text(prov["commit"])
    if "commit_at_end" in prov:
        commit += (f" when the run started; {_commit_text(prov['commit_at_end'])} when it ended (the checkout "
                   "changed during the run)")
    versions = ", ".join(f"{k} {v}" for k, v in prov["versions"].items())
    cpu, blas, nb = prov["cpu"], prov["blas"], prov["numba"]
    threads = "unknown" if blas["threads"] is None else str(blas["threads"])
    env = ", ".join(f"{k}={v}" for k, v in blas["environment"].items()) or "no thread variables set"
    return [f"- Commit: {commit}",
            f"- Versions: {versions}",
            f"- CPU: {cpu['model']} ({cpu['machine']}, {cpu['count']} CPUs); {prov['platform']}",
            f"- BLAS: {blas['name']} {blas['version']}, threads {threads} ({blas['threads_source']}; {env})",
            f"- Numba: threading layer {nb['threading_layer']}, {nb['threads']} threads"]
