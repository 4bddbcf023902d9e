"""The dissect command: label every unit of some layers with a human concept (network
dissection), check each label causally, and run the null baselines."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .common import load, model_args, nonnegative_int, positive_int, writable_folder
from .inputs import check_fits
from .launch import device_name, pick_device, processes


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def _conv_layers(model: nn.Module, data: Any) -> list[str]:
    from ..core.data import first_batch
    from ..core.layers import layers

    names = [info.name for info in layers(model, first_batch(data)) if info.kind == "conv"]
    if not names:
        from ..core.errors import NeuronscopeError

        raise NeuronscopeError("the model has no convolution to dissect by default; name "
                               "the layers with --layers")
    return names


def _pictures(model: nn.Module, data: Any, found: dict[str, Any], folder: Path
              ) -> dict[str, dict[int, str]]:
    """Each detector's top images with its thresholded region outlined, as PNG files."""
    from ..core.data import batch_input, loader, move
    from ..core.model import model_device
    from ..core.recording import record
    from ..core.spec import input_spec
    from ..render.dissect import outlined

    spec = getattr(data, "spec", None) or input_spec(model)
    made: dict[str, dict[int, str]] = {}
    for name, d in found.items():
        made[name] = {}
        for u in d.detectors:
            x = batch_input(next(iter(loader(data, len(d.top[u]), d.top[u].tolist()))))
            with torch.no_grad(), record(model, [name]) as rec:
                model(move(x, model_device(model)))
            shown = spec.to_display(x) if spec is not None else x
            picture = outlined(shown, rec[name][:, u], float(d.levels[u]))
            path = folder / f"{_slug(name)}-{u}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            picture.save(path)
            made[name][u] = f"{folder.name}/{path.name}"
    return made


def cmd_dissect(args: argparse.Namespace) -> None:
    from ..core.layers import eval_mode
    from ..data.concepts import First, concept_data
    from ..methods.dissect import CONTROLS, dissect
    from ..render.dissect import detector_bars
    from ..render.dissect_report import layer_rows, write_report

    out = writable_folder(args.out)
    device = pick_device(args.device)
    model = load(args, need_spec=False).to(device)
    data = concept_data(args.concepts, model)
    data = First(data, args.limit) if args.limit else data
    check_fits(model, data, args.model, args.concepts)
    layers = args.layers or _conv_layers(model, data)
    options = dict(quantile=args.quantile, iou_threshold=args.iou_threshold, seed=args.seed,
                   batch_size=args.batch_size)
    with processes(device) as ranks:
        found = dissect(model, data, layers, causal=not args.no_causal,
                        checkpoint=args.checkpoint, **options)
        controls = {} if args.no_controls else {
            c: dissect(model, data, layers, control=c, **options) for c in CONTROLS}
        if not ranks.writer:
            return
    for name, d in found.items():
        d.save(out / "dissection" / f"{_slug(name)}.safetensors")
        for c, control in controls.items():
            control[name].save(out / f"control-{_slug(c)}" / f"{_slug(name)}.safetensors")
    with eval_mode(model):
        pictures = _pictures(model, data, found, out / "units")
    chart = detector_bars(found, out / "detectors.png", title=f"{args.model}: {args.concepts}")
    report = write_report(out / "report.html", f"Dissection of {args.model} on {args.concepts}",
                          found, controls, chart.name, pictures)
    _print(found, controls, layer_rows(found, controls), report)


def _print(found: dict[str, Any], controls: dict[str, Any], rows: list[list[Any]],
           report: Path) -> None:
    first = next(iter(found.values()))
    print(f"dissection of {len(found)} layer(s) over {first.n:,} inputs, "
          f"{len(first.concept_names)} concepts (IoU >= {first.iou_threshold:g})")
    head = ["layer", "units", "detectors", "unique concepts",
            *[f"{c}" for c in controls], "confirmed"]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for row in [head, *rows]:
        print("  " + "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))
    for name, d in found.items():
        best = sorted(d.detectors, key=lambda u: -d.ious[u])[:3]
        if best:
            print(f"  {name} best: " + ", ".join(f"{u} {d.concepts[u]} {d.ious[u]:.3f}"
                                                 for u in best))
    print(f"  report: {report}")


def add_parsers(sub: Any) -> None:
    """The subcommands of this module, on the CLI's subparsers."""
    p = sub.add_parser("dissect", help="label units with human concepts (network dissection)")
    model_args(p)
    p.add_argument("--concepts", required=True, help="concept data: 'shapes', 'colors:NAME' "
                   "(the pixel colours of any dataset, e.g. colors:photos), a Broden folder "
                   "(index.csv) or a concept folder (images/ and masks/)")
    p.add_argument("--layers", nargs="+", metavar="LAYER",
                   help="layers to dissect (default: every convolution, its raw output "
                   "before any normalization or activation)")
    p.add_argument("--quantile", type=_fraction, default=0.005,
                   help="each unit's threshold: its top quantile (default 0.005)")
    p.add_argument("--iou-threshold", type=_fraction, default=0.04,
                   help="a unit is a detector at this IoU or more (default 0.04)")
    p.add_argument("--no-causal", action="store_true",
                   help="skip the causal check of the labels")
    p.add_argument("--no-controls", action="store_true",
                   help="skip the null baselines (rotation, shuffled masks)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="of the null baselines")
    p.add_argument("--limit", type=positive_int, metavar="N",
                   help="use only the first N inputs of the concept data (a quick look)")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--checkpoint", metavar="FILE", help="save the dissection's state here as "
                   "it goes; run the same command again to resume after an interruption")
    p.add_argument("--device", type=device_name,
                   help="cpu, cuda or cuda:N (default: CUDA when there is a GPU); under "
                   "torchrun the processes share the passes")
    p.add_argument("--out", default="neuronscope-out/dissect", help="output folder")
    p.set_defaults(func=cmd_dissect)
