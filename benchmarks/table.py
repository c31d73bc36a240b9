"""The README's speed table, from the asv results stored for one machine.

Usage, from the repository root (needs only the standard library, not asv)::

    python -m benchmarks.table [--machine NAME] [--commit HASH]   # print the table
    python -m benchmarks.table --readme                           # rewrite README.md's table in place

It reads ``benchmarks/results/<machine>/machine.json`` and the newest results
file of that machine (or the one of ``--commit``), and renders markdown: the
machine (CPU, cores, RAM, as asv recorded them), the fused polynomial forward
and backward against exact attention at each ``(B, n)`` with their ratio, the
kernels' GFLOP/s (``4 n r d`` forward, ``12 n r d`` backward, as ``promptlimits
bench attention``) and their fraction of the best BLAS matmul rate measured in
the same run, the tuning step, the batched Adam runs, plan building and the cold
compile. Each time is the best of the samples asv recorded (``--record-samples``;
asv's median where it recorded none). README.md holds the output between two
marker comments; the first names the machine, and ``--readme`` rewrites the
block for that machine.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

from .common import (
    BATCHED,
    BLAS_NS,
    BS,
    EPS_P,
    NS,
    TUNING_NS,
    D,
    flops_backward,
    flops_forward,
    flops_matmul,
    parse_batched,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"

#: The README's markers; the first names the machine whose results fill the block.
BEGIN = re.compile(r"<!-- speed-table machine=(\S+) .*?-->\n")
END = "<!-- speed-table end -->"


def begin_marker(machine: str) -> str:
    return (f"<!-- speed-table machine={machine} (generated from benchmarks/results/ by "
            "`python -m benchmarks.table --readme`; do not edit by hand) -->\n")


class Results:
    """One asv results file of one machine: ``best(name, *params)`` is the best sample in seconds (or the value)."""

    def __init__(self, machine: str, results_dir: Path = RESULTS, commit: str | None = None):
        folder = Path(results_dir) / machine
        if not (folder / "machine.json").is_file():
            known = sorted(p.name for p in Path(results_dir).glob("*") if (p / "machine.json").is_file())
            raise ValueError(f"no asv results for machine {machine!r} in {results_dir} (machines: {known})")
        self.machine = json.loads((folder / "machine.json").read_text())
        runs = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json")) if p.name != "machine.json"]
        if commit is not None:
            runs = [r for r in runs if r["commit_hash"].startswith(commit)]
        if not runs:
            raise ValueError(f"no results file for machine {machine!r}" + (f" at commit {commit}" if commit else ""))
        self.run = max(runs, key=lambda r: r["date"])
        columns = self.run["result_columns"]
        self._values = {}
        for name, row in self.run["results"].items():
            entry = dict(zip(columns, row))
            params = [[ast.literal_eval(v) for v in values] for values in entry.get("params") or []]
            keys = _product(params)
            samples = entry.get("samples") or [None] * len(keys)
            for key, value, sample in zip(keys, entry["result"], samples):
                best = min(sample) if sample else value
                self._values[(name, key)] = math.nan if best is None else float(best)

    def best(self, name: str, *params) -> float:
        return self._values.get((name, tuple(params)), math.nan)


def _product(params):
    keys = [()]
    for values in params:
        keys = [k + (v,) for k in keys for v in values]
    return keys


def degree_of_rank(rank: float, d: int = D) -> int | None:
    """The degree ``g`` with ``C(d + g, g) = rank``, or ``None``."""
    for g in range(64):
        if math.comb(d + g, g) == rank:
            return g
    return None


def fmt_time(t: float) -> str:
    if not math.isfinite(t):
        return "-"
    if t < 1e-3:
        return f"{t * 1e6:.3g} µs"
    return f"{t * 1e3:.3g} ms" if t < 1 else f"{t:.3g} s"


def _ratio(a: float, b: float) -> str:
    r = a / b
    return "-" if not math.isfinite(r) else (f"{r:,.0f}x" if r >= 100 else f"{r:.2g}x" if r < 1 else f"{r:.3g}x")


def _rate(flops: float, t: float, blas: float) -> str:
    if not (math.isfinite(t) and t > 0):
        return "-"
    g = flops / t / 1e9
    return f"{g:.3g} ({g / blas:.2f})" if math.isfinite(blas) else f"{g:.3g}"


def _gflops(g: float) -> str:
    return f"{g:.3g}" if math.isfinite(g) else "-"


def _table(header, rows) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def _machine_line(res: Results, blas: float, load: float) -> str:
    m, run = res.machine, res.run
    ram = f"{int(m['ram']) / 2**30:.0f} GiB RAM" if str(m.get("ram", "")).isdigit() else f"RAM {m.get('ram', '?')}"
    when = datetime.fromtimestamp(run["date"] / 1000, tz=UTC).strftime("%Y-%m-%d")
    load_text = f"; one-minute load average {load:.2f} during the run" if math.isfinite(load) else ""
    return (f"Machine `{m['machine']}`: {m.get('cpu', '?')}, {m.get('num_cpu', '?')} cores, {ram}, "
            f"{m.get('os', '?')}; commit `{run['commit_hash'][:8]}`, {when}{load_text}. Square float64 matmuls "
            f"(n = {', '.join(f'{n:,}' for n in BLAS_NS)}) reached {_gflops(blas)} GFLOP/s (BLAS) in the same run. "
            f"d = {D}, eps_p = {EPS_P:.0e}; each time is the best of its samples (at least 3)."
            + _overload(load, m.get("num_cpu")))


def _overload(load: float, cores) -> str:
    """A warning when the load average exceeded the cores: the run shared them with other work."""
    if not (math.isfinite(load) and str(cores).isdigit() and load > int(cores)):
        return ""
    return (f" The load average was above the {int(cores)} cores: the processes shared them with other work, so "
            "times are upper bounds, the BLAS reference (long samples, always interrupted) is low, and fractions "
            "of BLAS above 1 are an artefact of the load, not kernels faster than BLAS.")


def _attention_rows(res: Results, blas: float) -> list[list[str]]:
    rows = []
    for B in BS:
        rank = res.best("bench_attention.Plan.track_rank", B)
        g = degree_of_rank(rank)
        for n in NS:
            tf = res.best("bench_attention.PolyAttention.time_forward", B, n)
            tb = res.best("bench_attention.PolyAttention.time_backward", B, n)
            ef = res.best("bench_attention.ExactAttention.time_forward", n)
            eb = res.best("bench_attention.ExactAttention.time_backward", n)
            rows.append([f"{B:g}", f"{g}, {rank:,.0f}" if g is not None else "-", f"{n:,}",
                         fmt_time(tf), fmt_time(ef), _ratio(ef, tf), _rate(flops_forward(n, rank), tf, blas),
                         fmt_time(tb), fmt_time(eb), _ratio(eb, tb), _rate(flops_backward(n, rank), tb, blas)])
    return rows


def render(machine: str, results_dir: Path = RESULTS, commit: str | None = None) -> str:
    """The markdown block for ``machine`` (the newest results file, or the one of ``commit``)."""
    res = Results(machine, results_dir, commit)
    rates = [flops_matmul(n) / res.best("bench_attention.Blas.time_matmul", n) / 1e9 for n in BLAS_NS]
    blas = max((r for r in rates if math.isfinite(r)), default=math.nan)
    load = res.best("bench_attention.track_load_average")
    out = [_machine_line(res, blas, load), ""]
    out += _table(["B", "degree, rank", "n", "forward", "exact", "exact / poly", "GFLOP/s (of BLAS)",
                   "backward", "exact", "exact / poly", "GFLOP/s (of BLAS)"], _attention_rows(res, blas))
    out += ["", "One tuning step (loss and gradient with respect to the prompt, one sequence, L = Lp = n / 2) and "
            "Adam runs of `tune_prompt` on a batch of sequences:", ""]
    rows = []
    for n in TUNING_NS:
        te = res.best("bench_tuning.TuningStep.time_step", "exact", n)
        tp = res.best("bench_tuning.TuningStep.time_step", "poly", n)
        rows.append([f"one step, n = {n:,}", fmt_time(te), fmt_time(tp), _ratio(te, tp)])
    for case in BATCHED:
        b, n, steps = parse_batched(case)
        te = res.best("bench_tuning.BatchedTuning.time_adam", case, "exact")
        tp = res.best("bench_tuning.BatchedTuning.time_adam", case, "poly")
        rows.append([f"{steps} Adam steps, {b:,} sequences of n = {n}", fmt_time(te), fmt_time(tp), _ratio(te, tp)])
    out += _table(["run", "exact", "poly", "exact / poly"], rows)
    plans = ", ".join(f"{fmt_time(res.best('bench_attention.Plan.time_make_plan', B))} (B = {B:g})" for B in BS)
    cold = res.best("bench_compile.track_compile", "cold")
    warm = res.best("bench_compile.track_compile", "warm")
    out += ["", f"Building and certifying a plan (`make_plan`) takes {plans}. From an empty Numba cache, importing "
            "`promptlimits` and making the first calls (one plan; forward and backward of one sequence and of a "
            f"batch) takes {fmt_time(cold)}, against {fmt_time(warm)} from a filled cache."]
    return "\n".join(out) + "\n"


def update_readme(path: Path = README, results_dir: Path = RESULTS) -> bool:
    """Rewrite the block between the README's markers from the results of the machine its first marker names;
    ``True`` if the file changed."""
    text = Path(path).read_text()
    machine, start, stop = readme_block(text)
    new = text[:start] + render(machine, results_dir) + text[stop:]
    if new != text:
        Path(path).write_text(new)
    return new != text


def readme_block(text: str) -> tuple[str, int, int]:
    """``(machine, start, stop)``: the machine the README's first marker names and the block's character span."""
    m = BEGIN.search(text)
    if m is None or END not in text[m.end():]:
        raise ValueError(f"README has no speed-table block ({begin_marker('NAME').strip()} ... {END})")
    return m.group(1), m.end(), text.index(END, m.end())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.table", description=__doc__.split("\n\n")[0])
    p.add_argument("--machine", help="machine in benchmarks/results/ (default: the one README.md's table names)")
    p.add_argument("--commit", help="results of this commit (prefix; default: the machine's newest)")
    p.add_argument("--readme", action="store_true", help="rewrite README.md's table in place")
    args = p.parse_args(argv)
    try:
        if args.readme:
            if args.machine or args.commit:
                raise ValueError("--readme renders the machine README.md names; edit its marker to change it")
            print("README.md updated" if update_readme() else "README.md already up to date")
            return 0
        machine = args.machine or readme_block(README.read_text())[0]
        sys.stdout.write(render(machine, commit=args.commit))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
