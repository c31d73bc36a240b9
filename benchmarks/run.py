"""Run the asv suite on this machine in the current Python environment, and print the README's speed table.

Usage, from the repository root after ``pip install -e ".[bench]"``::

    python -m benchmarks.run [--machine NAME] [--bench REGEX] [--quick]

It names the machine to asv (as ``asv machine`` does, with the CPU, cores, RAM and
OS as asv detects them; the name defaults to the host name) unless asv
already knows it (``~/.asv-machine.json``), then runs ``asv run --python=same --set-commit-hash HEAD --record-samples``
with the repository root first on ``PYTHONPATH`` (so the suite times this
tree's ``promptlimits`` whatever is installed), and prints the table of
:mod:`benchmarks.table`. The results go to
``benchmarks/results/<machine>/<commit>-existing-<python>.json``. The
commit is ``git rev-parse HEAD``: commit (or stash) changes first, or the
results carry a commit they were not measured on (a dirty tree is refused
unless ``--allow-dirty``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _asv() -> list[str] | None:
    """The asv command with this repository's configuration, or ``None`` if asv is not installed."""
    if shutil.which("asv") is None:
        return None
    return ["asv", "--config", str(ROOT / "asv.conf.json")]


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def _known_machines() -> set[str]:
    path = Path.home() / ".asv-machine.json"
    if not path.exists():
        return set()
    return {k for k in json.loads(path.read_text()) if k != "version"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--machine", default=platform.node() or "unknown",
                   help="the machine's name in benchmarks/results/ (default: the host name)")
    p.add_argument("--bench", "-b", action="append", default=[], help="only benchmarks matching this regex")
    p.add_argument("--quick", action="store_true", help="each benchmark once (a check that the suite runs; "
                   "asv does not save quick results)")
    p.add_argument("--allow-dirty", action="store_true", help="run on a tree with uncommitted changes")
    args = p.parse_args(argv)
    asv = _asv()
    if asv is None:
        print('error: asv is not installed; pip install -e ".[bench]"', file=sys.stderr)
        return 2
    if _git("status", "--porcelain", "--untracked-files=no") and not args.allow_dirty:
        print("error: the tree has uncommitted changes; the results would carry HEAD's commit "
              "(commit first, or --allow-dirty)", file=sys.stderr)
        return 2
    if args.machine not in _known_machines():
        # asv's own detection of the CPU, cores, RAM and OS, saved as `asv machine` saves it (which, given a
        # name, would store only the name)
        from asv.machine import Machine, MachineCollection

        MachineCollection.save(args.machine, dict(Machine.get_defaults(), machine=args.machine))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    where = subprocess.run([sys.executable, "-c", "import promptlimits; print(promptlimits.__file__)"], env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    print(f"timing {where} on machine {args.machine!r}; load average {os.getloadavg()}", flush=True)
    cmd = [*asv, "run", "--python=same", "--set-commit-hash", _git("rev-parse", "HEAD"), "--machine", args.machine,
           "--record-samples", "--show-stderr"]
    if args.quick:
        cmd.append("--quick")
    for regex in args.bench:
        cmd += ["--bench", regex]
    status = subprocess.run(cmd, cwd=ROOT, env=env).returncode
    print(f"load average after the run {os.getloadavg()}", flush=True)
    if status or args.quick:
        return status
    from .table import render

    print(render(args.machine))
    return 0


if __name__ == "__main__":
    sys.exit(main())
