"""The examples command: top and bottom dataset examples of every unit."""

from __future__ import annotations

import argparse
from typing import Any

from ..core.errors import NeuronscopeError
from .common import load, model_args, positive_int, unit_list, writable_file, writable_folder
from .inputs import data_args, load_data


def cmd_examples(args: argparse.Namespace) -> None:
    from ..atlas.examples_page import write_examples
    from ..methods.examples import top_examples

    out = writable_folder(args.out)
    checkpoint = (writable_file(args.checkpoint, "--checkpoint") if args.checkpoint
                  else out / "examples.ckpt")
    model = load(args, need_spec=False)
    dataset = load_data(args, model)
    which = ", ".join(args.layer) if args.layer else "every conv, linear and recurrent layer"
    print(f"mining {which} of {args.model} over {len(dataset):,} {args.data} inputs "
          f"(resumable: {checkpoint})")
    res = top_examples(model, dataset, layers=args.layer, k=args.k, reduce=args.reduce,
                       batch_size=args.batch_size, checkpoint=checkpoint)
    saved = res.save(out / "examples.safetensors")
    if not args.checkpoint:
        checkpoint.unlink(missing_ok=True)  # the result is saved: a rerun starts afresh
    chosen = args.units
    if chosen is not None:
        for name in res:
            bad = [u for u in chosen if u >= res[name].n_units]
            if bad:
                raise NeuronscopeError(f"--units: {name} has units 0-{res[name].n_units - 1}, "
                                       f"not {bad[0]}")
    folders = write_examples(model, dataset, res, out,
                             units={name: chosen for name in res} if chosen else None)
    print(f"mined {len(dataset):,} {args.data} items; examples of {len(folders)} layers:")
    for name, folder in folders.items():  # text is drawn in the page: no folder
        where = f"{folder}/" if folder.is_dir() else "the page"
        print(f"  {name:<12} {res[name].n_units:>5} units -> {where}")
    print(f"results: {saved}  (load with ns.TopExamples.load)")
    print(f"open {out / 'index.html'}")


def add_parsers(sub: Any) -> None:
    """The subcommands of this module, on the CLI's subparsers."""
    p = sub.add_parser("examples", help="the dataset inputs that drive each unit most and least")
    model_args(p)
    data_args(p, "a dataset name (shapes, digits, ...) or folder:PATH")
    p.add_argument("--layer", action="append", help="a layer (repeat for several; default: "
                   "every conv, linear and recurrent layer)")
    p.add_argument("--k", type=positive_int, default=9,
                   help="examples per unit and side (default 9)")
    p.add_argument("--reduce", choices=["max", "mean"], default="max",
                   help="how a unit's map becomes one number per input")
    p.add_argument("--units", type=unit_list,
                   help="units to draw, e.g. 0-15,40 (default: all)")
    p.add_argument("--batch-size", type=positive_int, default=256)
    p.add_argument("--checkpoint", help="resume file (default OUT/examples.ckpt)")
    p.add_argument("--out", default="neuronscope-out/examples", help="output folder")
    p.set_defaults(func=cmd_examples)
