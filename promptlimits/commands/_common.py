"""Options shared by several subcommands: building a model and a dataset."""

from __future__ import annotations

import numpy as np

from .._checks import check_positive_int
from ..attention import VARIANTS
from ..datasets import LipschitzTarget, grid, hard_family, teacher
from ..model import PromptedModel

DATASETS = ("teacher", "lipschitz", "hard")


def add_model_arguments(p) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--d", type=int, default=2, help="token width (default 2)")
    g.add_argument("--s", type=int, default=None, help="head size (default d)")
    g.add_argument("--m", type=int, default=None, help="feed-forward width (default 4d)")
    g.add_argument("--model-seed", type=int, default=0, help="seed of the frozen weights")
    g.add_argument("--weight-scale", type=float, default=1.0, help="multiplies the weights' std")
    g.add_argument("--variant", default="softmax", choices=VARIANTS, help="attention variant (default softmax)")
    g.add_argument("--scale", default=None, help="logit scale: a number, 1/s (default) or 1/sqrt(s)")
    g.add_argument("--load-model", default=None, metavar="PATH", help="load frozen weights from a .npz")
    g.add_argument("--save-model", default=None, metavar="PATH", help="save the frozen weights to a .npz")


def model_from_args(args) -> PromptedModel:
    if args.load_model:
        model = PromptedModel.load(args.load_model)
    else:
        scale = args.scale
        if scale is not None and scale not in ("1/s", "1/sqrt(s)"):
            try:
                scale = float(scale)
            except ValueError:
                raise ValueError(f"unknown scale {args.scale!r}; expected a number, '1/s' or '1/sqrt(s)'") from None
        model = PromptedModel.from_seed(args.d, s=args.s, m=args.m, seed=args.model_seed, scale=scale,
                                        variant=args.variant, weight_scale=args.weight_scale)
    if args.save_model:
        model.save(args.save_model)
    return model


def add_dataset_arguments(p) -> None:
    g = p.add_argument_group("dataset")
    g.add_argument("--dataset", default="teacher", choices=DATASETS, help="targets (default teacher)")
    g.add_argument("--L", type=int, default=2, help="input length (default 2)")
    g.add_argument("--batch", type=int, default=4, help="number of random input sequences (without --delta)")
    g.add_argument("--delta", type=float, default=None, help="use the grid G_delta of cell centres as inputs")
    g.add_argument("--data-seed", type=int, default=0, help="seed of inputs and targets")
    g.add_argument("--teacher-Lp", type=int, default=3, help="teacher prompt length (dataset teacher)")
    g.add_argument("--teacher-scale", type=float, default=6.0, help="teacher prompt entries in [0, this]")
    g.add_argument("--lipschitz", type=float, default=1.0, help="Lipschitz constant K (dataset lipschitz)")
    g.add_argument("--gamma", type=float, default=0.5, help="target gap (dataset hard)")


def dataset_from_args(args, model):
    """Inputs ``X`` and targets ``Y`` from the dataset options."""
    rng = np.random.default_rng(args.data_seed)
    if args.delta is not None:
        X = grid(args.delta, args.L, model.d)
    else:
        X = rng.uniform(size=(check_positive_int(args.batch, "--batch"), check_positive_int(args.L, "--L"),
                              model.d))
    if args.dataset == "teacher":
        Y, _ = teacher(model, X, args.teacher_Lp, prompt_scale=args.teacher_scale, seed=rng)
    elif args.dataset == "lipschitz":
        Y = LipschitzTarget.random(args.L, model.d, K=args.lipschitz, seed=rng)(X)
    else:
        Y = hard_family(X, args.gamma, seed=rng)
    return X, Y
