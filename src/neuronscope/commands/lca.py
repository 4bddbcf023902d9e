"""The lca command: train a built-in model from scratch (or a model of your own on a
labelled dataset) with loss change allocation (Lan et al. 2019) and write the result
(lca.safetensors) and its HTML report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..core.errors import NeuronscopeError, did_you_mean
from .common import positive_float, positive_int, writable_folder

OWN_MODEL = (
    "{model!r} is not a built-in model with a training recipe. A model of your own "
    "(file.py:factory, torchvision:NAME) is trained from its initial weights (or --weights) "
    "on --data NAME (labelled; --split, default train) with cross-entropy on its logits: "
    "give --data. For another loss or loop, use the Python API: lca = ns.LCA(model, "
    "loss_fn, eval_data) with lca.before_step() / lca.after_step() around each optimizer "
    "step (or opt = lca.wrap(opt)), then neuronscope.render.lca_report.write_report(...)")
RESUME = ("A run killed part way resumes from its last finished epoch when the same "
          "command is given again (same MODEL, options and --out); a finished run given "
          "again only redraws its report. A folder holding a run of other settings is "
          "refused: give another --out.")


def zoo_name(model: str) -> str | None:
    """The built-in model `model` names (``zoo:NAME`` or NAME) that has a training recipe,
    None for a model of the user's own (``file.py:factory``); a built-in model without a
    recipe or an unknown name is refused, saying what to do instead.

    Example:
        >>> zoo_name("zoo:digits-mlp")
        'digits-mlp'
    """
    from ..zoo import names
    from ..zoo.recipes import RECIPES

    name = model.removeprefix("zoo:")
    if name in RECIPES:
        return name
    if name in names():
        raise NeuronscopeError(f"{name!r} comes with pretrained weights and has no training "
                               f"recipe to run with LCA; built-in models with one: "
                               f"{', '.join(RECIPES)}")
    if ":" in name:
        return None
    raise NeuronscopeError(f"no built-in model {name!r}.{did_you_mean(name, list(RECIPES))} "
                           f"Built-in models with a training recipe: {', '.join(RECIPES)}")


def overrides(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """The recipe fields the options replace; --momentum without SGD is refused."""
    from ..zoo.recipes import recipe

    fields = {k: v for k, v in (("optimizer", args.optimizer), ("lr", args.lr),
                                ("momentum", args.momentum)) if v is not None}
    optimizer = args.optimizer or recipe(name).optimizer
    if args.momentum is not None and optimizer != "sgd":
        raise NeuronscopeError(f"--momentum is SGD's; the optimizer here is {optimizer!r} "
                               "(give --optimizer sgd, or leave --momentum out)")
    return fields


def cmd_lca(args: argparse.Namespace) -> None:
    from ..core.spec import input_spec
    from ..methods.lca import train_with_lca
    from ..render.lca_report import write_report

    name = zoo_name(args.model)
    if name is None:
        own, fields = _own(args)  # refused (no --data) before anything is loaded
    else:
        for flag in ("data", "weights", "batch_size"):
            if getattr(args, flag) is not None:
                raise NeuronscopeError(f"--{flag.replace('_', '-')} is for a model of your "
                                       f"own; {name} trains by its recipe")
        fields = overrides(args, name)
        if args.optimizer and args.lr is None:
            print(f"note: --optimizer {args.optimizer} runs at the recipe's learning rate, "
                  "set for its own optimizer; give --lr to choose one")
    out = writable_folder(args.out)
    model, res = train_with_lca(own if name is None else name, epochs=args.epochs, out=out,
                                method=args.method, per_step=args.per_step,
                                eval_size=args.eval_size, nesterov=not args.plain_momentum,
                                progress=not args.no_progress, **fields)
    spec = input_spec(model)
    report = write_report(res, out, input_shape=spec.shape if spec is not None else None)
    _print(res, out, report)


def _own(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """(the user's model, train_with_lca's data and settings) from the options."""
    from .common import load
    from .inputs import load_data

    if args.data is None:
        raise NeuronscopeError(OWN_MODEL.format(model=args.model))
    model = load(args, need_spec=False)
    args.image_size = args.mean = args.std = None  # the model's own (or the data's)
    settings = {"data": load_data(args, model), "optimizer": args.optimizer or "sgd",
                "lr": args.lr or 0.01, "momentum": args.momentum or 0.0,
                "batch_size": args.batch_size or 32}
    if args.momentum is not None and settings["optimizer"] != "sgd":
        raise NeuronscopeError("--momentum is SGD's: give --optimizer sgd, or leave it out")
    return model, settings


def _print(res: Any, out: Path, report: Path) -> None:
    from ..methods.lca.train import RESULT
    from ..render.lca_report import final_loss, median_relative_error

    recipe = res.settings.get("recipe", {})
    totals = res.layer_totals()
    back = [f"{layer} ({t:+.4g})" for layer, t in totals.items() if t > 0]
    epochs = recipe.get("epochs")
    print(f"LCA of {res.settings.get('model')}: {res.n_steps} steps ({epochs} "
          f"epoch{'' if epochs == 1 else 's'}, {recipe.get('optimizer')} lr {recipe.get('lr')}), "
          f"method {res.method}")
    buffers = float(res.buffer_change.sum())
    print(f"  loss {float(res.loss[0]):.4f} -> {final_loss(res):.4f}; allocated "
          f"{float(res.total.sum()):+.5f} of the measured {float(res.loss_change.sum()):+.5f}"
          + (f" (batch-norm statistics, not allocated: {buffers:+.5f})" if buffers else "")
          + f"; median relative error {median_relative_error(res):.2e}")
    print(f"  mean fraction of parameters helping: {float(res.helping.mean()):.3f} "
          f"({float(res.helping_share.nanmean()):.3f} of those with a nonzero allocation)")
    print("  per layer: " + ", ".join(f"{layer} {t:+.4g}" for layer, t in totals.items()))
    print(f"  layers whose total is positive (went backwards): {', '.join(back) or 'none'}")
    print(f"  result: {out / RESULT}")
    print(f"  report: {report}")


def add_parsers(sub: Any) -> None:
    """The subcommands of this module, on the CLI's subparsers."""
    p = sub.add_parser(
        "lca", help="train a built-in model with loss change allocation (which layers helped)",
        description="Train a built-in model from scratch by its recipe (or a model of your "
        "own, file.py:factory, on --data with cross-entropy on its logits) with loss change "
        "allocation (Lan et al. 2019) on every step, and write lca.safetensors and a report "
        "(index.html) to --out. " + RESUME + " For another loss or your own training loop "
        "use the Python API ns.LCA (see the README).")
    p.add_argument("model", help="a built-in model with a training recipe (digits-mlp, "
                   "digits-cnn, shapes-cnn), or zoo:NAME; or a model of your own, "
                   "file.py:factory (trained on --data with cross-entropy on its logits)")
    p.add_argument("--data", help="a model of your own: the labelled dataset it trains and "
                   "is evaluated on (a built-in name or folder:PATH)")
    p.add_argument("--split", default="train", help="--data's split (default train)")
    p.add_argument("--weights", help="a model of your own: its starting weights "
                   "(safetensors or a .pt state dict)")
    p.add_argument("--input-shape", metavar="C,H,W",
                   help="a model of your own that carries no InputSpec: its input shape")
    p.add_argument("--batch-size", type=positive_int,
                   help="a model of your own: the training batch size (default 32)")
    p.add_argument("--epochs", type=positive_int, required=True,
                   help="epochs to train (LCA costs 2 to 3 evaluation passes per step, "
                   "one more with batch norm)")
    p.add_argument("--optimizer", choices=["sgd", "adam", "adamw"],
                   help="replace the recipe's optimizer (your own model: default sgd)")
    p.add_argument("--lr", type=positive_float,
                   help="replace the recipe's learning rate (your own model: default 0.01)")
    p.add_argument("--momentum", type=_momentum,
                   help="SGD's momentum (Nesterov when above 0; default: the recipe's)")
    p.add_argument("--plain-momentum", action="store_true",
                   help="SGD's momentum without Nesterov's correction, as in the paper "
                   "(the zoo trains with Nesterov)")
    p.add_argument("--method", choices=["simpson", "first_order"], default="simpson",
                   help="how each step's path integral is taken (default simpson)")
    p.add_argument("--per-step", action="store_true",
                   help="also stream every step's per-parameter allocation to OUT/steps")
    p.add_argument("--eval-size", type=positive_int, metavar="N",
                   help="measure the loss on the first N training items only (default: all)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--out", default="neuronscope-out/lca",
                   help="output folder; also where a killed run resumes from")
    p.set_defaults(func=cmd_lca)


def _momentum(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a momentum from 0 up to (not including) "
                                         f"1, such as 0.9, got {text!r}")
    return value
