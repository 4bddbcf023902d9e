"""The atlas and serve commands: build a model's microscope, and browse it."""

from __future__ import annotations

import argparse
import math
import shlex
from typing import Any

from .common import load, model_args, nonnegative_int, plugin_arg, positive_int, writable_folder
from .inputs import data_args, load_data
from .launch import device_name, pick_device, processes


def cmd_atlas(args: argparse.Namespace) -> None:
    from ..atlas.build import build_atlas
    from ..atlas.sections import get_section

    writable_folder(args.out)
    sections = tuple(s.strip() for s in args.sections.split(",")) if args.sections else None
    for name in sections or ():
        get_section(name)  # an unknown name: an error listing them, before any work
    device = pick_device(args.device)
    with processes(device) as ranks:
        loaded: list[Any] = []
        ranks.on_writer(lambda: loaded.extend(_load(args)))  # rank 0 first: it may train
        model, dataset = loaded or _load(args)  # and cache the model for the others
        atlas = build_atlas(model.to(device), dataset, args.out, layers=args.layers,
                            sections=sections, name=args.model,
                            data_name=f"{args.data}:{args.split}", k=args.k, steps=args.steps,
                            unit_batch=args.unit_batch)
    if ranks.writer:
        _report(args, atlas, len(dataset))


def _load(args: argparse.Namespace) -> tuple[Any, Any]:
    model = load(args, need_spec=False)
    return model, load_data(args, model)


def _report(args: argparse.Namespace, atlas: Any, n: int) -> None:
    layers = atlas.manifest["layers"]
    done = {layer: sorted(k for k, info in layers[layer].items()
                          if k != "facts" and "skipped" not in info)
            for layer in atlas.manifest.get("order", list(layers)) if layer in layers}
    print(f"atlas of {args.model} on {n:,} {args.data} inputs: {atlas.root}")
    for layer, secs in done.items():
        print(f"  {layer:<10} {', '.join(secs) or '(nothing yet)'}")
    print(f"browse it: {serve_command(args)}")


def serve_command(args: argparse.Namespace) -> str:
    """The `neuronscope serve` line that browses this atlas with the same model."""
    words = ["neuronscope", "serve", args.out, "--model", args.model]
    for option, value in (("--weights", args.weights), ("--input-shape", args.input_shape)):
        if value:
            words += [option, value]
    for plugin in args.plugin:
        words += ["--plugin", plugin]
    return shlex.join(words)


def cmd_serve(args: argparse.Namespace) -> None:
    from ..web.app import create_app
    from ..web.server import allowed_hosts, open_atlas, serve

    open_atlas(args.atlas)  # before the model loads: a wrong folder is the likelier mistake
    hosts = allowed_hosts(args.host, args.allow_host)
    model = (lambda: load(args, need_spec=False)) if args.model else None  # on the model thread
    app = create_app(args.atlas, model=model, hosts=hosts, read_timeout=args.timeout)
    print(f"neuronscope microscope: http://{args.host}:{args.port}/  (live: /live)")
    if hosts != ("*",) and args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"  requests must name one of: {', '.join(hosts)} (add more with --allow-host)")
    serve(app, args.host, args.port, timeout=args.timeout)


def port_number(text: str) -> int:
    """--port: a TCP port, 1-65535."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, not {text!r}")
    return int(text)


def seconds(text: str) -> float:
    """--timeout: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, not {text!r}")
    return value


def add_parsers(sub: Any) -> None:
    """The subcommands of this module, on the CLI's subparsers."""
    from ..atlas.sections import section_names

    p = sub.add_parser("atlas", help="build the microscope: a page of numbers and pictures "
                       "per unit (resumable; under torchrun the processes share the work)")
    model_args(p)
    data_args(p, "a labelled dataset name, or folder:PATH")
    p.add_argument("--layers", nargs="+", help="layers (default: every conv and linear layer)")
    p.add_argument("--sections", help="comma-separated subset of the sections "
                   f"({','.join(section_names())} and those of --plugin files; default: all)")
    p.add_argument("--k", type=positive_int, default=9,
                   help="dataset examples per unit and side")
    p.add_argument("--steps", type=nonnegative_int, default=64,
                   help="feature visualization steps")
    p.add_argument("--unit-batch", type=positive_int, default=64, metavar="N",
                   help="units computed together (feature visualizations, lesions, "
                   "pictures): the parts that processes share (default: 64)")
    p.add_argument("--device", type=device_name,
                   help="cpu, cuda or cuda:N (default: CUDA when there is a GPU, else the "
                   "CPU; under torchrun each rank takes cuda:LOCAL_RANK)")
    p.add_argument("--out", default="neuronscope-out/atlas", help="atlas folder")
    plugin_arg(p)
    p.set_defaults(func=cmd_atlas)

    p = sub.add_parser("serve", help="browse an atlas and probe the model live")
    p.add_argument("atlas", help="an atlas folder made by `neuronscope atlas`")
    p.add_argument("--model", help="the model, for the live page (zoo:NAME, file.py:factory)")
    p.add_argument("--weights", help="weights for file.py:factory")
    p.add_argument("--input-shape", help="input shape for a model without an InputSpec")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: this "
                   "machine only)")
    p.add_argument("--port", type=port_number, default=8000)
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="a name requests may give in their Host header, besides this "
                   "machine's loopback names and --host (repeatable; *.example.org for a "
                   "domain; '*' for any, which lets other sites' pages reach it through DNS "
                   "rebinding)")
    p.add_argument("--timeout", type=seconds, default=10.0, metavar="SECONDS",
                   help="how long a client may stay silent while sending a request "
                   "(default: 10)")
    plugin_arg(p)
    p.set_defaults(func=cmd_serve)
