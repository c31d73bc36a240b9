"""``promptlimits memorize {least-lp,sweep,universality}``: memorization capacity (docs/theory.md §7).

- ``least-lp``: one dataset of the hard family on the grid ``G_delta``, the
  least memorizing prompt length found by tuning beside the counting bound for
  the same model and ``rho``; the memorization tolerance is ``--tol``
  (max-abs error). ``--model random`` (default): the frozen random model, the
  family on its own output at a one-row reference prompt. ``--model
  constructed``: the token-width construction for ``(d, L, k = 1/delta)``, the
  sandwich's family and box (docs/theory.md §7.8), with its closed-form
  prompt of length ``L k^d`` as a certificate. The search is warm-started
  (:func:`promptlimits.memorization.least_prompt_length`): each ``Lp`` after
  the first starts from the best shorter prompt padded to ``Lp``, exactly
  (best error non-increasing) where the model has a key-bias column, as the
  construction does; the output says which. One line per ``Lp``: best error,
  the padded start's error, and what the second half of the restarts and of
  each run's steps changed. The per-sample form of the bound is explained in
  words (docs/theory.md §7.4).
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
    q.add_argument("--model", choices=("random", "constructed"), default="random",
                   help="random: the frozen random model (--s, --logit-scale, --model-seed, --variant); constructed: "
                        "the token-width construction for (d, L, k = 1/delta) with its closed-form certificate "
                        "(default random)")
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
    a = argparse.Namespace(**{**DEFAULTS, **ONE_DATASET, **given}, model=args.model)
    try:
        check_point(vars(a))
    except ValueError as exc:
        raise ValueError(name_option(str(exc), {_key(f): f for f in _LEAST_LP})) from None
    return a


def _random_problem(a) -> dict:
    """The random frozen model: the binary family on its own output at the reference prompt ``R_1``."""
    from ..capacity import counting_bound, prompt_lipschitz
    from ..datasets import grid
    from ..experiments.memorization import frozen_model
    from ..memorization import relative_hard_family

    model = frozen_model(vars(a))
    X = grid(a.delta, a.L, a.d)
    factors = prompt_lipschitz(model, a.rho, X=X)
    bound = counting_bound(d=a.d, L=a.L, gamma=a.gamma, tol=a.tol, rho=a.rho, q=a.q, K_P=factors.K_P, N=X.shape[0],
                           D=model.d)
    return {"model": model, "X": X, "rho": a.rho, "bound": bound, "factors": factors, "predicted": None,
            "targets": relative_hard_family(model, X, a.gamma, rho=a.rho, q=a.q, seed=a.data_seed, dataset_Lp=1),
            "lines": [f"model: random frozen weights (d={a.d}, s={a.s}, logit scale {a.logit_scale:g}, seed "
                      f"{a.model_seed}, {a.variant})",
                      "dataset: tau([R_1; X]) + gamma B on the model's own output at a one-row reference prompt "
                      f"R_1, B from --data-seed {a.data_seed}; the same dataset at every Lp"]}


def _constructed_problem(a, rho_given: bool) -> dict:
    """The token-width construction (docs/theory.md §8.6): the sandwich's family, box and closed-form certificate."""
    import numpy as np

    from .. import construct
    from ..capacity import check_rho_contains, counting_bound, prompt_lipschitz
    from ..datasets import cells_per_side, grid
    from ..experiments.memorization import RHO_MARGIN, sandwich_targets
    from ..jacobian import read_columns
    from ..memorization import compared_outputs
    from ..tuning import check_tuning_memory

    k = cells_per_side(a.delta)
    c = construct.build(a.d, a.L, k, width="token")
    if (a.q - 1) * a.gamma > c.value_range:
        raise ValueError(f"the levels span (q-1) gamma = {(a.q - 1) * a.gamma:.6g} > {c.value_range:g}, above the "
                         f"construction's value range (options --q, --gamma)")
    G = grid(a.delta, a.L, a.d)
    X, cols = c.embed(G), np.arange(a.d)
    check_tuning_memory(c.model.d, c.model.s, c.model.m + 2 * c.model.d, batch=G.shape[0], L=a.L, Lp=a.max_Lp)
    Y = sandwich_targets(G, a.gamma, a.q, a.data_seed)
    P_c = construct.lookup_prompt(c, lambda C: Y)
    rho = check_rho_contains(P_c, a.rho) if rho_given else RHO_MARGIN * check_rho_contains(P_c)
    factors = prompt_lipschitz(c.model, rho, X=X, out_cols=cols)
    bound = counting_bound(d=a.d, L=a.L, gamma=a.gamma, tol=a.tol, rho=rho, q=a.q, K_P=factors.K_P, N=G.shape[0],
                           D=int(read_columns(c.model).size))
    full = np.zeros(X.shape)
    full[..., cols] = Y
    base = np.clip(construct.lookup_prompt(c, lambda C: np.zeros_like(Y)), -rho, rho)
    err_c = float(np.abs(c.predict(P_c, G) - Y).max())
    return {"model": compared_outputs(c.model, cols), "X": X, "rho": rho, "bound": bound, "factors": factors,
            "predicted": c.Lp, "targets": lambda Lp: (full, _cut_or_pad(c.model, X, base, Lp, rho)),
            "lines": [f"model: token-width construction (d={a.d}, L={a.L}, k={k}; width w={c.model.d}, "
                      f"docs/theory.md §8.6), outputs compared on the x block; prompt box rho={rho:g} "
                      f"({'given' if rho_given else f'{RHO_MARGIN:g} x the closed-form prompt max norm'})",
                      f"dataset: F + gamma B, F = -(q-1) gamma/2, B from --data-seed {a.data_seed}; "
                      f"restart 1 at each Lp starts at the closed-form prompt of F, cut or padded to Lp rows",
                      f"construction: its closed-form prompt of length L k^d = {c.Lp} memorizes this dataset, "
                      f"max err {err_c:.3g} ({'<=' if err_c <= a.tol else '>'} tol; a forward pass)"]}


def _cut_or_pad(model, X, P, Lp, rho):
    """``P``'s first ``Lp`` rows, or ``P`` padded to ``Lp`` rows (:func:`promptlimits.memorization.pad_prompt`)."""
    from ..memorization import pad_prompt

    return P[:Lp] if Lp <= P.shape[0] else pad_prompt(model, X, P, Lp, rho=rho)[0]


def _change(before, after) -> str:
    """``"lowered it by X"``, ``"raised it by X"`` or ``"unchanged"`` (relative change below ``1e-4``)."""
    if abs(before - after) <= 1e-4 * max(abs(before), abs(after)):
        return f"unchanged ({after:.5g})"
    return f"{'lowered' if after < before else 'raised'} it by {abs(before - after):.3g} ({before:.5g} -> {after:.5g})"


def _more_line(t, restarts: int) -> str:
    """What the second half of the restarts and of each run's steps changed at one ``Lp`` (see the legend)."""
    if t.runs == 0:
        return "the padded start is within tol: no run needed"
    if restarts == 1:
        more_r = "one restart (give --restarts 2 or more to compare)"
    elif t.half_restarts_err is None:
        more_r = f"reached at restart {t.restarts_run} of {restarts}; later restarts not run"
    else:
        more_r = f"restarts {-(-restarts // 2)} -> {restarts} " + _change(t.half_restarts_err, t.best_max_err)
    more_s = ("no tuning run" if t.half_steps_err is None else
              "steps half -> all " + _change(t.half_steps_err, t.best_max_err))
    return f"{more_r}; {more_s}"


def _per_sample_text(b) -> str:
    """The per-sample form in words: what alpha is, and why the number is what it is (docs/theory.md §7.4)."""
    import math

    bits, need = b.log2_datasets, math.log2(1 / b.alpha)
    text = (f"per-sample form: a member drawn uniformly from the family's q^(N L d) = 2^{bits:.4g} datasets (as "
            f"--data-seed draws one) is memorized at some length below (N L d ln q - ln(1/alpha)) / (D ln M) = "
            f"{b.Lp_sample:.4g} with probability at most about alpha = {b.alpha:g}")
    if b.Lp_sample == 0:
        text += (f"; it is 0 because the family has {bits:.4g} bits, not more than log2(1/alpha) = {need:.3g}: "
                 f"with so few datasets no length can be ruled out at that probability")
    return text


def run_least_lp(args) -> int:
    """Search the least ``Lp`` for one dataset and print it beside the counting bound (exit 1: stopped)."""
    from ..memorization import LEAST_CHANGE, STOPPED, least_prompt_length

    a = _least_lp_settings(args)
    pr = _constructed_problem(a, "rho" in vars(args)) if a.model == "constructed" else _random_problem(a)
    bound, f, rho = pr["bound"], pr["factors"], pr["rho"]
    res = least_prompt_length(pr["model"], pr["X"], pr["targets"], a.tol, rho=rho, max_Lp=a.max_Lp, steps=a.steps,
                              restarts=a.restarts, seed=a.data_seed, time_limit=a.time_limit, warm_start=True)
    print(f"grid: d={a.d} L={a.L} delta={a.delta:g} N={bound.N}; q={a.q} gamma={a.gamma:g} tol={a.tol:g} rho={rho:g}")
    for line in pr["lines"]:
        print(line)
    exact = res.padding != LEAST_CHANGE
    print("search: each Lp after the first starts from the best shorter prompt padded to Lp; "
          + ("the padding splits rows along the key-bias column (copies' weights sum to the row's, so the outputs "
             "are unchanged up to rounding): the best error cannot rise with Lp" if exact else
             "softmax gives every row positive weight and this model has no key-bias column to split, so no "
             "padding leaves the outputs unchanged (padded start below): the best error can rise with Lp"))
    print("legend: 'restarts h -> R' compares the best of the first h = ceil(R/2) restarts with all R; 'steps "
          "half -> all' the best over the runs of the error after half of each run's step budget with after all of it; "
          "unchanged: relative change below 1e-4")
    print(f"{'Lp':>4}  {'best max err':>12}  reached  {'padded start':>12}  more restarts; more steps")
    for t in res.trials:
        start = "-" if t.start_err is None else f"{t.start_err:.5g}"
        print(f"{t.Lp:>4}  {t.best_max_err:>12.5g}  {'yes' if t.reached else 'no ':<7}  {start:>12}  "
              f"{_more_line(t, a.restarts)}")
    if res.reached:
        print(f"least Lp: {res.least_Lp}")
    elif res.status == STOPPED:
        print(f"least Lp: none, {STOPPED} ({a.time_limit:g} s): the search is incomplete, which is no result")
    else:
        print(f"least Lp: not reached within budget (max Lp {a.max_Lp}, {a.steps} steps, {a.restarts} restarts)")
    if pr["predicted"] is not None:
        print(f"construction predicts: Lp <= L k^d = {pr['predicted']}" + (
            f" (above --max-Lp {a.max_Lp}: not searched)" if pr["predicted"] > a.max_Lp else ""))
    print(f"K_P = {f.K_P:.5g} (c_ff1 {f.c_ff1:.4g}, logit {f.logit_factor:.4g}, spread {f.value_spread:.4g}, "
          f"value {f.value_factor:.4g}, c_ff2 {f.c_ff2:.4g})")
    print(f"counting bound: Lp >= N L d log q / (D log M) = {bound.Lp_bound:.4g} (D = {bound.D}, M = {bound.M}, "
          f"eta* = {bound.eta:.4g}) if every member of the family is memorized")
    print(_per_sample_text(bound))
    print(f"elapsed: {res.seconds:.2f} s")
    if args.json:
        out = res.summary()
        out.update({"bound": bound.as_dict(), "factors": f.as_dict(), "N": int(bound.N), "model": a.model,
                    "rho": rho, "predicted_Lp": pr["predicted"]})
        write_json(args.json, out)
        print(f"wrote {args.json}")
    return 1 if res.status == STOPPED else 0
