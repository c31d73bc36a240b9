"""``promptlimits memorize {least-lp,sweep,universality}``: memorization capacity (DESIGN section 6).

- ``least-lp``: one dataset of the hard family on the grid ``G_delta``, the
  least memorizing prompt length found by tuning (every ``Lp`` tried is
  printed with its best error) beside the counting bound for the same model
  and ``rho``.
- ``sweep``: least ``Lp`` against ``N``, ``eps`` and ``rho`` (sweep
  ``memorization``), results under ``--out``.
- ``universality``: held-out error of tuned prompts for Lipschitz targets
  against ``Lp`` and ``delta`` (sweep ``universality``).

Bad input (``delta`` not dividing ``[0, 1]``, ``gamma <= 2 eps``, ``rho <= 0``)
is a one-line error, exit 2; an exhausted search prints ``not reached within
budget``.
"""

from __future__ import annotations

import json
import time

from .._io import write_json

SCALES = ("tiny", "quick", "full")


def _model_args(p):
    g = p.add_argument_group("model")
    g.add_argument("--s", type=int, default=8, help="head size (default 8)")
    g.add_argument("--logit-scale", type=float, default=1.0, help="logit multiplier (default 1)")
    g.add_argument("--variant", default="softmax", help="softmax or softmax1")
    g.add_argument("--model-seed", type=int, default=0, help="seed of the frozen weights")


def _run_args(p):
    g = p.add_argument_group("running")
    g.add_argument("--scale", default="quick", choices=SCALES, help="size of the sweep (default quick)")
    g.add_argument("--out", required=True, help="results directory")
    g.add_argument("--workers", type=int, default=None, help="processes (default one per CPU; 0/1 in-process)")
    g.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    g.add_argument("--seed", type=int, default=0, help="base seed of the sweep")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def register(subparsers) -> None:
    p = subparsers.add_parser("memorize", help="memorization capacity: least prompt length, bound, universality",
                              description=__doc__.strip().splitlines()[0])
    sub = p.add_subparsers(dest="memorize_command", metavar="ACTION", required=True)

    q = sub.add_parser("least-lp", help="least memorizing prompt length for one dataset, with the bound")
    q.add_argument("--d", type=int, default=1, help="token width (default 1)")
    q.add_argument("--L", type=int, default=1, help="input length (default 1)")
    q.add_argument("--delta", type=float, default=0.25, help="grid cell side; 1/delta must be an integer")
    q.add_argument("--gamma", type=float, default=0.02, help="hard-family gap (default 0.02)")
    q.add_argument("--eps", type=float, default=0.005, help="max-abs error target (default 0.005)")
    q.add_argument("--rho", type=float, default=4.0, help="prompt box ||P||max <= rho (default 4)")
    q.add_argument("--max-Lp", type=int, default=16, help="largest prompt length tried (default 16)")
    q.add_argument("--steps", type=int, default=200, help="L-BFGS-B iterations per run (Adam: 3x)")
    q.add_argument("--restarts", type=int, default=2, help="runs per prompt length")
    q.add_argument("--time-budget", type=float, default=None, help="seconds for the whole search")
    q.add_argument("--data-seed", type=int, default=0, help="seed of the bits of the dataset")
    q.add_argument("--json", default=None, metavar="PATH", help="also write the result as JSON")
    _model_args(q)
    q.set_defaults(func=run_least_lp)

    for name, helptext, fn in (("sweep", "least Lp against N, eps and rho with the counting bound", run_sweep_cmd),
                               ("universality", "held-out error of tuned prompts against Lp and delta",
                                run_universality)):
        r = sub.add_parser(name, help=helptext)
        _run_args(r)
        if name == "sweep":
            r.add_argument("--max-Lp", type=int, default=None, help="override the scale's largest Lp")
        r.add_argument("--steps", type=int, default=None, help="override the scale's step budget")
        r.add_argument("--restarts", type=int, default=None, help="override the scale's restarts")
        r.add_argument("--rho", type=float, default=None, help="override rho")
        _model_args(r)
        r.set_defaults(func=fn)


def _model(args, d):
    from ..model import PromptedModel

    return PromptedModel.from_seed(d, s=args.s, seed=args.model_seed, scale=args.logit_scale, variant=args.variant)


def run_least_lp(args) -> int:
    """Search the least ``Lp`` for one dataset and print it beside the counting bound."""
    from ..capacity import counting_bound, prompt_lipschitz
    from ..datasets import grid
    from ..memorization import least_prompt_length, relative_hard_family

    # validate everything before any tuning
    model = _model(args, args.d)
    X = grid(args.delta, args.L, args.d)
    bound = counting_bound(d=args.d, L=args.L, gamma=args.gamma, eps=args.eps, rho=args.rho, model=model,
                           N=X.shape[0])
    targets = relative_hard_family(model, X, args.gamma, rho=args.rho, seed=args.data_seed)
    res = least_prompt_length(model, X, targets, args.eps, rho=args.rho, max_Lp=args.max_Lp, steps=args.steps,
                              restarts=args.restarts, seed=args.data_seed, time_budget=args.time_budget)
    print(f"grid: d={args.d} L={args.L} delta={args.delta:g} N={X.shape[0]}; gamma={args.gamma:g} eps={args.eps:g} "
          f"rho={args.rho:g}")
    print(f"{'Lp':>4}  {'best max err':>12}  reached")
    for t in res.trials:
        print(f"{t.Lp:>4}  {t.best_max_err:>12.5g}  {'yes' if t.reached else 'no'}")
    if res.reached:
        print(f"least Lp: {res.least_Lp}" + ("" if res.bisected else " (bisection cut short: an Lp that suffices)"))
    else:
        print(f"least Lp: not reached within budget (max Lp {args.max_Lp}, {args.steps} steps, "
              f"{args.restarts} restarts)")
    f = prompt_lipschitz(model, args.rho)
    print(f"K_P = {f.K_P:.5g} (c_ff1 {f.c_ff1:.4g}, logit {f.logit_factor:.4g}, spread {f.value_spread:.4g}, "
          f"value {f.value_factor:.4g}, c_ff2 {f.c_ff2:.4g})")
    print(f"counting bound: Lp >= N L log 2 / log M = {bound.Lp_bound:.4g} (M = {bound.M}, eta* = {bound.eta:.4g})")
    print(f"elapsed: {res.seconds:.2f} s")
    if args.json:
        out = res.summary()
        out.update({"bound": bound.as_dict(), "factors": f.as_dict(), "N": int(X.shape[0])})
        write_json(args.json, out)
        print(f"wrote {args.json}")
    return 0


def _overrides(args, keys):
    out = {}
    for attr, key in keys:
        v = getattr(args, attr, None)
        if v is not None:
            out[key] = v
    out.update({"s": args.s, "logit_scale": args.logit_scale, "variant": args.variant, "model_seed": args.model_seed})
    return out


def _run(sweep, args):
    from ..sweep import read_results, run_sweep

    t0 = time.perf_counter()
    run_sweep(sweep, args.out, workers=args.workers, resume=args.resume, progress=not args.no_progress)
    res = read_results(args.out, name=sweep.name)
    print(f"{sweep.name}: {len(res.rows)} rows in {time.perf_counter() - t0:.1f} s -> {args.out}")
    print(json.dumps(res.meta.get("summary"), indent=1, sort_keys=True, default=str))
    return 0


def run_sweep_cmd(args) -> int:
    from ..experiments.memorization import make_sweep

    ov = _overrides(args, (("max_Lp", "max_Lp"), ("steps", "steps"), ("restarts", "restarts"), ("rho", "rho")))
    return _run(make_sweep(args.scale, seed=args.seed, **ov), args)


def run_universality(args) -> int:
    from ..experiments.universality import make_sweep

    ov = _overrides(args, (("steps", "steps"), ("restarts", "restarts"), ("rho", "rho")))
    return _run(make_sweep(args.scale, seed=args.seed, **ov), args)
