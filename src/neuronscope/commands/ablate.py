"""The ablate command: a lesion study of one layer."""

from __future__ import annotations

import argparse
from typing import Any

import torch

from .common import ablation_value, load, model_args, positive_int, writable_folder
from .inputs import data_args, load_data


def cmd_ablate(args: argparse.Namespace) -> None:
    from ..methods.ablation import ablation_study
    from ..methods.selectivity import class_selectivity
    from ..render.plots import ablation_curves, importance_bars, selectivity_scatter

    out = writable_folder(args.out)
    model = load(args, need_spec=False)
    dataset = load_data(args, model)
    sel = class_selectivity(model, dataset, args.layer)
    study = ablation_study(model, dataset, args.layer, metric=args.metric, value=args.value,
                           selectivity=sel, repeats=args.repeats)
    study.save(out / "study.safetensors")
    sel.save(out / "selectivity.safetensors")
    rho = study.info.get("selectivity_importance_spearman")
    files = [ablation_curves(study, out / "curves.png"),
             importance_bars(study, out / "importance.png"),
             selectivity_scatter(sel.selectivity, study.importance, study.layer,
                                 out / "selectivity.png", rho)]
    top = torch.argsort(study.importance, descending=True)[:5].tolist()
    how = "split at the layer" if study.info["fast"] else f"full passes ({study.info['why_slow']})"
    print(f"{study.layer}: {len(study.importance)} units, {args.metric} {study.baseline:.4f} on "
          f"{len(dataset):,} {args.data} inputs ({how})")
    print("  most important: " + ", ".join(f"{u} ({float(study.importance[u]):+.4f})"
                                            for u in top))
    print(f"  area under the cumulative curve: random {study.area('random'):.4f}, "
          f"most important first {study.area('importance'):.4f}, most selective first "
          f"{study.area('selectivity'):.4f}")
    print(f"  Spearman(selectivity, importance) = {rho:.3f}")
    print("  plots: " + ", ".join(str(f) for f in files))


def add_parsers(sub: Any) -> None:
    """The subcommands of this module, on the CLI's subparsers."""
    p = sub.add_parser("ablate", help="silence units one by one and in groups (lesion study)")
    model_args(p)
    data_args(p, "a labelled dataset name, or folder:PATH")
    p.add_argument("--layer", required=True, help="the layer whose units are silenced")
    p.add_argument("--metric", choices=["accuracy", "loss"], default="accuracy")
    p.add_argument("--value", type=ablation_value, default=0.0, help="what a silenced unit "
                   "outputs: a number or 'mean' (its dataset mean)")
    p.add_argument("--repeats", type=positive_int, default=5,
                   help="random orders for the curves")
    p.add_argument("--out", default="neuronscope-out/ablate", help="output folder")
    p.set_defaults(func=cmd_ablate)
