"""``promptlimits tune``: build a frozen model and a dataset, tune a soft prompt, print a summary.

Every option is checked before any work (values when read; then the model
file, a model option that disagrees with ``--load-model``, the output files
and the memory one tuning step needs). The summary names the attention
backend used and, on a ``why`` line per backend, the reason the backend gave
(:attr:`promptlimits.backend.Choice.reason`): the plan certified (and, for
``auto``, predicted cheaper), exact predicted cheaper at these sizes, or the
norm above the range a plan certifies.
"""

from __future__ import annotations

from .._io import write_json
from ..backend import BACKENDS
from ..tuning import INITS, OPTIMIZERS, tune_prompt
from ._common import (
    add_dataset_arguments,
    add_model_arguments,
    check_model_and_dataset,
    dataset_from_args,
    model_from_args,
)
from ._options import COUNT, FRACTION, NATURAL, NONNEGATIVE, POSITIVE, checked


def register(subparsers) -> None:
    p = subparsers.add_parser("tune", help="tune a soft prompt on a frozen model and print a summary")
    add_model_arguments(p)
    add_dataset_arguments(p)
    g = p.add_argument_group("tuning")
    g.add_argument("--Lp", type=int, default=4, **checked(COUNT), help="prompt length (default 4)")
    g.add_argument("--optimizer", default="lbfgs", choices=OPTIMIZERS, help="optimizer (default lbfgs)")
    g.add_argument("--steps", type=int, default=1000, **checked(NATURAL),
                   help="Adam steps or L-BFGS-B iterations (default 1000)")
    g.add_argument("--lr", type=float, default=0.05, **checked(POSITIVE), help="Adam step size")
    g.add_argument("--rho", type=float, default=None, **checked(POSITIVE), help="box constraint ||P||max <= rho")
    g.add_argument("--init", default="normal", choices=INITS, help="initial prompt (default normal)")
    g.add_argument("--init-scale", type=float, default=3.0, **checked(NONNEGATIVE), help="scale of the initial prompt")
    g.add_argument("--target", type=float, default=None, **checked(POSITIVE), help="stop at this max-abs error")
    g.add_argument("--seed", type=int, default=0, **checked(NATURAL), help="seed of the initial prompt")
    g.add_argument("--backend", default="exact", choices=BACKENDS, help="attention backend (default exact)")
    g.add_argument("--attn-eps", type=float, default=1e-6, **checked(FRACTION),
                   help="certified error asked of the poly backend, in (0, 1)")
    g.add_argument("--json", default=None, metavar="PATH", help="also write the summary as JSON")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def reason_lines(reasons: dict) -> list[str]:
    """Why each backend was used (:attr:`promptlimits.tuning.TuneResult.reasons`): one line per backend."""
    if len(reasons) == 1:
        return [entry["reason"] for entry in reasons.values()]
    total = sum(entry["steps"] for entry in reasons.values())
    return [f"{backend} at {entry['steps']} of {total} evaluations: {entry['reason']}"
            for backend, entry in reasons.items()]


def run(args) -> int:
    loaded = check_model_and_dataset(args, Lp=args.Lp, outputs={"--json": args.json})
    model = model_from_args(args, loaded)
    X, Y = dataset_from_args(args, model)
    res = tune_prompt(model, X, Y, Lp=args.Lp, optimizer=args.optimizer, steps=args.steps, lr=args.lr,
                      rho=args.rho, init=args.init, init_scale=args.init_scale, target_max_err=args.target,
                      seed=args.seed, progress=False if args.quiet else None, backend=args.backend,
                      attn_eps=args.attn_eps)
    summary = res.summary()
    used = sorted(set(res.history["backend"]))
    summary.update({"backend": "+".join(used), "d": model.d, "L": X.shape[1], "N": X.shape[0], "dataset": args.dataset,
                    "variant": model.variant, "scale": model.scale})
    width = max(len(k) for k in summary)
    keys = ("dataset", "d", "L", "N", "Lp", "optimizer", "backend", "steps", "mse", "max_err", "B", "seconds",
            "reached_target") + (("certifications",) if args.backend != "exact" else ())
    for key in keys:
        print(f"{key:<{width}}  {summary[key]}")
        if key == "backend":
            for line in reason_lines(res.reasons):
                print(f"{'why':<{width}}  {line}")
    for note in res.notes:
        print(f"note: {note}")
    if args.json:
        summary["backend_reasons"] = res.reasons
        summary["P"] = res.P.tolist()
        summary["history"] = res.history
        write_json(args.json, summary)
        print(f"wrote {args.json}")
    return 0
