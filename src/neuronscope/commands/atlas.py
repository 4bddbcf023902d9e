"""The atlas and serve commands: build a model's microscope, and browse it."""

from __future__ import annotations

import argparse

from .common import load


def cmd_atlas(args: argparse.Namespace) -> None:
    from .. import data
    from ..atlas.build import build_atlas
    from ..core.spec import attach_spec, input_spec

    model = load(args, need_spec=False)
    dataset = data.load(args.data, split=args.split)
    if input_spec(model) is None and getattr(dataset, "spec", None) is not None:
        attach_spec(model, dataset.spec)
    sections = tuple(args.sections.split(",")) if args.sections else None
    atlas = build_atlas(model, dataset, args.out, layers=args.layers, sections=sections,
                        name=args.model, data_name=f"{args.data}:{args.split}", k=args.k,
                        steps=args.steps)
    done = {layer: sorted(k for k, info in v.items() if k != "facts" and "skipped" not in info)
            for layer, v in atlas.manifest["layers"].items()}
    print(f"atlas of {args.model} on {len(dataset):,} {args.data} inputs: {atlas.root}")
    for layer, secs in done.items():
        print(f"  {layer:<10} {', '.join(secs) or '(nothing yet)'}")
    print(f"browse it: neuronscope serve {args.out} --model {args.model}")


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from ..web.app import create_app

    model = load(args, need_spec=False) if args.model else None
    loopback = args.host in ("127.0.0.1", "localhost", "::1")
    app = create_app(args.atlas, model=model, hosts=("127.0.0.1", "localhost", "::1", "[::1]")
                     if loopback else ("*",))
    print(f"neuronscope microscope: http://{args.host}:{args.port}/  (live: /live)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
