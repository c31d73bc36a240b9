"""``promptlimits memorize {least-lp,sweep,universality}``: memorization capacity (docs/theory.md §7).

- ``least-lp``: one dataset of the hard family on the grid ``G_delta``, the
  least memorizing prompt length found by tuning (every ``Lp`` tried is
  printed with its best error) beside the counting bound for the same model
  and ``rho``; the memorization tolerance is ``--tol`` (max-abs error).
- ``sweep``: the sandwich on the token-width construction -- the counting
  bound over the whole box ``‖P‖max <= rho``, the closed-form prompt's
  certified ``L k^d`` and the least length found by search -- against ``N``,
  and a random model's capacity curve (the experiment ``memorization``; the
  same options as ``promptlimits sweep memorization``).
- ``universality``: held-out error of the constructed transformer's
  closed-form prompts against ``k`` and ``lambda`` beside the proved bound,
  and the tuning contrasts (as ``promptlimits sweep universality``).

Every option is checked before any work: a bad value (``delta`` not dividing
``[0, 1]``, ``gamma <= 2 tol``, ``q < 2``, ``rho <= 0``, a negative seed, an unwritable
``--json``, a search too large for the machine's memory) is a one-line error
naming the option, exit 2. An exhausted search prints ``not reached within
budget``. The result depends only on the counted budgets (``--max-Lp``,
``--steps``, ``--restarts``); ``--time-limit`` is a safety net that, when it
fires, prints ``stopped by time limit`` and no least ``Lp`` (exit 1). Options
not given take the values of the memorization experiment's settings
(:data:`promptlimits.experiments.memorization.DEFAULTS` with
:data:`~promptlimits.experiments.memorization.ONE_DATASET`: a tuning search on
a random model, binary family).
"""

from __future__ import annotations

import argparse

from .._io import write_json
from ..experiments import experiment
from ._options import COUNT, NATURAL, POSITIVE, Replaced, checked, name_option, probe_output_file
from .sweep import add_experiment_parser

#: least-lp option -> (type, check, help); every default comes from the memorization experiment.
_LEAST_LP = {
    "--d": (int, COUNT, "token width"), "--L": (int, COUNT, "input length"),
    "--delta": (float, POSITIVE, "grid cell side; 1/delta must be an integer"),
    "--gamma": (float, POSITIVE, "hard-family spacing"),
    "--q": (int, COUNT, "hard-family levels (>= 2)"),
    "--tol": (float, POSITIVE, "memorization tolerance (max-abs error on outputs)"),
    "--rho": (float, POSITIVE, "prompt box ||P||max <= rho"),
    "--max-Lp": (int, COUNT, "largest prompt length tried"),
    "--steps": (int, COUNT, "L-BFGS-B iterations per run (Adam: 3x)"),
    "--restarts": (int, COUNT, "runs per prompt length"),
    "--time-limit": (float, POSITIVE, "safety net, seconds for the whole search (default: none); if it fires "
                                      "there is no result (exit 1)"),
    "--data-seed": (int, NATURAL, "seed of the bits of the dataset"), "--s": (int, COUNT, "head size"),
    "--logit-scale": (float, POSITIVE, "logit multiplier"),
    "--model-seed": (int, NATURAL, "seed of the frozen weights"),
}


def register(subparsers) -> None:
    from ..attention import VARIANTS
    from ..experiments.memorization import ONE_DATASET

    p = subparsers.add_parser("memorize", help="memorization capacity: least prompt length, bound, universality",
                              description=__doc__.strip().splitlines()[0])
    sub = p.add_subparsers(dest="memorize_command", metavar="ACTION", required=True)
    q = sub.add_parser("least-lp", help="least memorizing prompt length for one dataset, with the bound")
    point = {**experiment("memorization").module.DEFAULTS, **ONE_DATASET}
    for flag, (kind, check, helptext) in _LEAST_LP.items():
        key = _key(flag)
        q.add_argument(flag, type=kind, dest=key, default=argparse.SUPPRESS, **checked(check),
                       help=f"{helptext} (default {point[key]})" if point[key] is not None else helptext)
    q.add_argument("--variant", choices=VARIANTS, default=argparse.SUPPRESS, help="attention variant")
    q.add_argument("--time-budget", action=Replaced, instead="results depend only on --max-Lp, --steps and "
                   "--restarts; --time-limit SECONDS is a safety net that gives no result when it fires")
    q.add_argument("--json", default=None, metavar="PATH", help="also write the result as JSON")
    q.set_defaults(func=run_least_lp)
    add_experiment_parser(sub, experiment("memorization"), "sweep",
                          "memorization sandwich over the whole box against N, and a random model's capacity")
    add_experiment_parser(sub, experiment("universality"), "universality",
                          "constructed transformer: closed-form prompts against k and lambda, with the bound")


def _key(flag: str) -> str:
    return flag[2:].replace("-", "_")


def _least_lp_settings(args) -> argparse.Namespace:
    """The search's settings (defaults from the experiment), every one checked before any work."""
    from ..experiments.memorization import DEFAULTS, ONE_DATASET, check_point

    if args.json:
        probe_output_file(args.json, "--json")
    given = {k: v for k, v in vars(args).items() if k in DEFAULTS or k in ONE_DATASET}
    a = argparse.Namespace(**{**DEFAULTS, **ONE_DATASET, **given})
    try:
        check_point(vars(a))
    except ValueError as exc:
        raise ValueError(name_option(str(exc), {_key(f): f for f in _LEAST_LP})) from None
    return a


def run_least_lp(args) -> int:
    """Search the least ``Lp`` for one dataset and print it beside the counting bound (exit 1: stopped)."""
    from ..capacity import counting_bound, prompt_lipschitz
    from ..datasets import grid
    from ..experiments.memorization import frozen_model
    from ..memorization import STOPPED, least_prompt_length, relative_hard_family

    a = _least_lp_settings(args)
    model = frozen_model(vars(a))
    X = grid(a.delta, a.L, a.d)
    bound = counting_bound(d=a.d, L=a.L, gamma=a.gamma, tol=a.tol, rho=a.rho, q=a.q, model=model, N=X.shape[0],
                           X=X)
    targets = relative_hard_family(model, X, a.gamma, rho=a.rho, q=a.q, seed=a.data_seed)
    res = least_prompt_length(model, X, targets, a.tol, rho=a.rho, max_Lp=a.max_Lp, steps=a.steps,
                              restarts=a.restarts, seed=a.data_seed, time_limit=a.time_limit)
    print(f"grid: d={a.d} L={a.L} delta={a.delta:g} N={X.shape[0]}; q={a.q} gamma={a.gamma:g} tol={a.tol:g} "
          f"rho={a.rho:g}")
    print(f"{'Lp':>4}  {'best max err':>12}  reached")
    for t in res.trials:
        print(f"{t.Lp:>4}  {t.best_max_err:>12.5g}  {'yes' if t.reached else 'no'}")
    if res.reached:
        print(f"least Lp: {res.least_Lp}")
    elif res.status == STOPPED:
        print(f"least Lp: none, {STOPPED} ({a.time_limit:g} s): the search is incomplete, which is no result")
    else:
        print(f"least Lp: not reached within budget (max Lp {a.max_Lp}, {a.steps} steps, {a.restarts} restarts)")
    f = prompt_lipschitz(model, a.rho, X=X)
    print(f"K_P = {f.K_P:.5g} (c_ff1 {f.c_ff1:.4g}, logit {f.logit_factor:.4g}, spread {f.value_spread:.4g}, "
          f"value {f.value_factor:.4g}, c_ff2 {f.c_ff2:.4g})")
    print(f"counting bound: Lp >= N L d log q / (D log M) = {bound.Lp_bound:.4g} (D = {bound.D}, M = {bound.M}, "
          f"eta* = {bound.eta:.4g}); per sample at probability {bound.alpha:g}: {bound.Lp_sample:.4g}")
    print(f"elapsed: {res.seconds:.2f} s")
    if args.json:
        out = res.summary()
        out.update({"bound": bound.as_dict(), "factors": f.as_dict(), "N": int(X.shape[0])})
        write_json(args.json, out)
        print(f"wrote {args.json}")
    return 1 if res.status == STOPPED else 0
