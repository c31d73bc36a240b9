"""Options shared by several subcommands: building a model and a dataset.

Every value is checked when the command line is read (naming its flag); the
model file, the output files and the memory a run needs are checked by
:func:`check_model_and_dataset` before any work.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from .._checks import check_memory, check_positive_float
from ..attention import VARIANTS
from ..datasets import LipschitzTarget, cells_per_side, grid, hard_family, teacher
from ..model import PromptedModel
from ..tuning import tuning_bytes
from ._options import COUNT, NATURAL, NONNEGATIVE, POSITIVE, Replaced, checked, name_option, probe_output_file

DATASETS = ("teacher", "lipschitz", "hard")
_NAMED_SCALES = ("1/s", "1/sqrt(s)")


def _logit_scale(value: str, name: str):
    """``--logit-scale``: ``1/s``, ``1/sqrt(s)`` or a finite number > 0."""
    if value in _NAMED_SCALES:
        return value
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number > 0, '1/s' or '1/sqrt(s)', got {value!r}") from None
    return check_positive_float(number, name)


#: The options that build a model, with their defaults (applied only without ``--load-model``): their
#: defaults are ``None`` on the command line, so an option given with ``--load-model`` can be told apart.
MODEL_DEFAULTS = {"d": 2, "s": None, "m": None, "model_seed": 0, "weight_scale": 1.0, "variant": "softmax",
                  "scale": None}


def add_model_arguments(p) -> None:
    g = p.add_argument_group("model (a loaded model keeps its own: --load-model refuses a different value)")
    g.add_argument("--d", type=int, default=None, **checked(COUNT), help="token width (default 2)")
    g.add_argument("--s", type=int, default=None, **checked(COUNT), help="head size (default d)")
    g.add_argument("--m", type=int, default=None, **checked(COUNT), help="feed-forward width (default 4d)")
    g.add_argument("--model-seed", type=int, default=None, **checked(NATURAL),
                   help="seed of the frozen weights (default 0)")
    g.add_argument("--weight-scale", type=float, default=None, **checked(NONNEGATIVE),
                   help="multiplies the weights' std (default 1)")
    g.add_argument("--variant", default=None, choices=VARIANTS, help="attention variant (default softmax)")
    g.add_argument("--logit-scale", dest="scale", metavar="SCALE", default=None, **checked(_logit_scale),
                   help="logit multiplier: a number, 1/s (default) or 1/sqrt(s)")
    g.add_argument("--scale", dest="replaced_scale", action=Replaced,
                   instead="the logit multiplier is --logit-scale (--scale is the size of a sweep run)")
    g.add_argument("--load-model", default=None, metavar="PATH",
                   help="load the frozen weights --save-model PATH wrote (PATH.npz; PATH itself if only it "
                        "exists)")
    g.add_argument("--save-model", default=None, metavar="PATH",
                   help="save the frozen weights to PATH (.npz appended unless PATH ends in it)")


def _loaded_value(model: PromptedModel, key: str, value):
    """``(what the loaded model has for option key, the option's value in the same terms)``."""
    if key == "scale":
        named = {"1/s": 1.0 / model.s, "1/sqrt(s)": 1.0 / np.sqrt(model.s)}
        return model.scale, float(named.get(value, value))
    if key in ("model_seed", "weight_scale"):
        return model.metadata.get("seed" if key == "model_seed" else "weight_scale"), value
    return getattr(model, key), value


def check_loaded_options(args, model: PromptedModel) -> None:
    """Refuse a model option given with ``--load-model`` that disagrees with the loaded model (one line)."""
    for key in MODEL_DEFAULTS:
        value = getattr(args, key)
        if value is None:
            continue
        have, want = _loaded_value(model, key, value)
        if have != want:
            flag = "--logit-scale" if key == "scale" else "--" + key.replace("_", "-")
            shown = "unknown" if have is None else f"{have:.6g}" if isinstance(have, float) else have
            has = (f"d = {model.d}, s = {model.s}, m = {model.m}" if key in ("d", "s", "m")
                   else f"{key.replace('model_', '')} = {shown}")
            raise ValueError(f"{flag} {value} conflicts with --load-model {args.load_model}, whose model has "
                             f"{has}; drop {flag}")


def fill_model_defaults(args) -> None:
    """The model options not given take their defaults (:data:`MODEL_DEFAULTS`)."""
    for key, default in MODEL_DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, default)


def load_model(path) -> PromptedModel:
    """``--load-model``: a model file written by ``--save-model`` (same suffix rule,
    :meth:`PromptedModel.file_to_read`), or a one-line error naming the option."""
    file = PromptedModel.file_to_read(path)
    if not file.is_file():
        also = "" if file == Path(path) else f" (nor {file})"
        raise ValueError(f"--load-model {path}: no such file{also}")
    try:
        return PromptedModel.load(file)
    except (ValueError, TypeError, KeyError, AttributeError, OSError, EOFError, zipfile.BadZipFile):
        raise ValueError(f"--load-model {path} is not a promptlimits model file (a .npz written by "
                         "--save-model)") from None


def model_from_args(args, loaded: PromptedModel | None = None) -> PromptedModel:
    """The frozen model (``loaded``, or built from the options) and ``--save-model``."""
    model = loaded or PromptedModel.from_seed(args.d, s=args.s, m=args.m, seed=args.model_seed, scale=args.scale,
                                              variant=args.variant, weight_scale=args.weight_scale)
    if args.save_model:
        model.save(args.save_model)
    return model


def add_dataset_arguments(p) -> None:
    g = p.add_argument_group("dataset")
    g.add_argument("--dataset", default="teacher", choices=DATASETS, help="targets (default teacher)")
    g.add_argument("--L", type=int, default=2, **checked(COUNT), help="input length (default 2)")
    g.add_argument("--batch", type=int, default=4, **checked(COUNT),
                   help="number of random input sequences (without --delta)")
    g.add_argument("--delta", type=float, default=None, **checked(POSITIVE),
                   help="use the grid G_delta of cell centres as inputs")
    g.add_argument("--data-seed", type=int, default=0, **checked(NATURAL), help="seed of inputs and targets")
    g.add_argument("--teacher-Lp", type=int, default=3, **checked(COUNT),
                   help="teacher prompt length (dataset teacher)")
    g.add_argument("--teacher-scale", type=float, default=6.0, **checked(NONNEGATIVE),
                   help="teacher prompt entries in [0, this]")
    g.add_argument("--lipschitz", type=float, default=1.0, **checked(POSITIVE),
                   help="Lipschitz constant K (dataset lipschitz)")
    g.add_argument("--gamma", type=float, default=0.5, **checked(POSITIVE), help="target gap (dataset hard)")


def check_model_and_dataset(args, *, Lp: int, outputs: dict) -> PromptedModel | None:
    """Everything checkable before any work; returns the ``--load-model`` model (or ``None``).

    ``outputs`` maps flags to the paths they write (``None`` when not given):
    each is probed. The memory of one tuning step at the largest prompt
    length ``Lp`` is estimated from the sizes and refused above the machine's.
    """
    for flag, path in {"--save-model": _model_file(args.save_model), **outputs}.items():
        if path:
            probe_output_file(path, flag)
    loaded = load_model(args.load_model) if args.load_model else None
    if loaded is not None:
        check_loaded_options(args, loaded)
    fill_model_defaults(args)
    d, s, m = (loaded.d, loaded.s, loaded.m) if loaded else (args.d, args.s or args.d, args.m or 4 * args.d)
    if args.delta is not None:
        try:
            k = cells_per_side(args.delta)
        except ValueError as exc:
            raise ValueError(name_option(str(exc), {"delta": "--delta"})) from None
        batch, sizes = k ** (args.L * d), f"--delta {args.delta:g} (N = {k}^{args.L * d})"
    else:
        batch, sizes = args.batch, f"--batch {args.batch}"
    sizes += f", --L {args.L}, --Lp {Lp}"
    if args.dataset == "teacher" and args.teacher_Lp > Lp:
        Lp, sizes = args.teacher_Lp, sizes + f", --teacher-Lp {args.teacher_Lp}"
    model = (f"the model of --load-model (d = {d}, s = {s}, m = {m})" if loaded else
             ", ".join(f"--{k} {getattr(args, k)}" for k in ("d", "s", "m") if getattr(args, k) is not None))
    check_memory(tuning_bytes(d, s, m, batch=batch, L=args.L, Lp=Lp), f"tuning with {sizes}, {model}")
    return loaded


def _model_file(path):
    """The file ``PromptedModel.save`` writes for ``path`` (``None``: no file)."""
    return None if path is None else str(PromptedModel.file_for(path))


def dataset_from_args(args, model):
    """Inputs ``X`` and targets ``Y`` from the dataset options."""
    rng = np.random.default_rng(args.data_seed)
    if args.delta is not None:
        X = grid(args.delta, args.L, model.d)
    else:
        X = rng.uniform(size=(args.batch, args.L, model.d))
    if args.dataset == "teacher":
        Y, _ = teacher(model, X, args.teacher_Lp, prompt_scale=args.teacher_scale, seed=rng)
    elif args.dataset == "lipschitz":
        Y = LipschitzTarget.random(args.L, model.d, K=args.lipschitz, seed=rng)(X)
    else:
        Y = hard_family(X, args.gamma, seed=rng)
    return X, Y
