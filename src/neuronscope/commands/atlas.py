"""The atlas and serve commands: build a model's microscope, and browse it."""

from __future__ import annotations

import argparse
import math
import shlex
from typing import Any

from ..core.errors import NeuronscopeError
from .common import load, model_args, nonnegative_int, plugin_arg, positive_int, writable_folder
from .inputs import data_args, data_source, load_data, source_loader, split_of
from .launch import device_name, pick_device, processes


def cmd_atlas(args: argparse.Namespace) -> None:
    from ..atlas.build import build_atlas
    from ..atlas.sections import get_section
    from ..core.units import Unit

    writable_folder(args.out)
    for target in args.gallery or ():
        Unit.parse(target)  # a malformed address: an error before any work
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
                            data_name=f"{args.data}:{split_of(args)}",
                            data_source=data_source(args), k=args.k, steps=args.steps,
                            unit_batch=args.unit_batch, ablation_n=args.ablation_n,
                            gallery=tuple(args.gallery or ()),
                            gallery_settings=({} if args.gallery_steps is None
                                              else {"steps": args.gallery_steps}),
                            lca=args.lca)
    if ranks.writer:
        _report(args, atlas, len(dataset))


def _load(args: argparse.Namespace) -> tuple[Any, Any]:
    model = load(args, need_spec=False)
    return model, load_data(args, model)


def _report(args: argparse.Namespace, atlas: Any, n: int) -> None:
    from ..atlas.view import skipped_sections

    layers = atlas.manifest["layers"]
    done = {layer: sorted(k for k, info in layers[layer].items()
                          if k != "facts" and "skipped" not in info)
            for layer in atlas.manifest.get("order", list(layers)) if layer in layers}
    print(f"atlas of {args.model} on {n:,} {args.data} inputs: {atlas.root}")
    for layer, secs in done.items():
        print(f"  {layer:<10} {', '.join(secs) or '(nothing yet)'}")
    whole = sorted(k for k, info in atlas.manifest.get("sections", {}).items()
                   if isinstance(info, dict) and "skipped" not in info and k != "examples_plan")
    if whole:
        print(f"  {'(model)':<10} {', '.join(whole)}")
    for name, why, where in skipped_sections(atlas.manifest):
        print(f"  not computed: {name}" + (f" ({', '.join(where)})" if where else "")
              + f": {why}")
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
    from ..web.multi import PREFIX, create_multi_app, slugs
    from ..web.server import allowed_hosts, open_atlas, serve

    stores = [open_atlas(a) for a in args.atlas]  # before any model loads: a wrong folder
    models = served_models(args)                   # is the likelier mistake
    if models and len(models) != len(args.atlas):
        raise NeuronscopeError(f"{len(args.atlas)} atlases and {len(models)} --model: give one "
                               "--model per atlas, in the atlases' order, or none")
    served = [(folder, *_model_and_data(store, folder, named))
              for store, folder, named in zip(stores, args.atlas, models or [None] * len(stores),
                                              strict=True)]
    hosts = allowed_hosts(args.host, args.allow_host)
    if len(args.atlas) == 1:
        _, model, data = served[0]
        app = create_app(args.atlas[0], model=model, hosts=hosts, read_timeout=args.timeout,
                         data=data)
        probe = "text probe: /probe" if app.state.microscope.reads_text else "live: /live"
        print(f"neuronscope microscope: http://{args.host}:{args.port}/  ({probe})")
    else:
        app = create_multi_app(served, hosts=hosts,
                               read_timeout=args.timeout,
                               descriptions=[describe(s.manifest) for s in stores])
        print(f"neuronscope microscope: http://{args.host}:{args.port}/  (every model)")
        for name in slugs(args.atlas):
            print(f"  {name}: http://{args.host}:{args.port}{PREFIX}{name}/")
    if hosts != ("*",) and args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"  requests must name one of: {', '.join(hosts)} (add more with --allow-host)")
    serve(app, args.host, args.port, timeout=args.timeout)


def _model_and_data(store: Any, folder: str, named: argparse.Namespace | None
                    ) -> tuple[Any, Any]:
    """How the server loads an atlas's model (on its model thread) and its data (for
    examples on demand, as the atlas recorded them): two functions, or None without a
    --model. The model takes the input shape the atlas was built at unless told another."""
    if named is None:
        return None, None
    _same_model(store.manifest, folder, named.model)
    built = store.manifest.get("model", {}).get("spec", {}).get("shape")
    if named.input_shape is None and built:
        named.input_shape = ",".join(map(str, built))
    source = store.manifest.get("data", {}).get("source")
    return ((lambda: load(named, need_spec=False)),
            source_loader(source, named.model) if source else None)


class ModelOption(argparse.Action):
    """``--model`` starts a model of `neuronscope serve`; ``--weights`` and
    ``--input-shape`` belong to the ``--model`` before them (given before any, to the
    first). Collected in ``args.models`` (and ``args.model_pending``)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        models = list(getattr(namespace, "models", None) or [])
        pending = dict(getattr(namespace, "model_pending", None) or {})
        if self.dest == "model":
            models.append({"model": values, "weights": None, "input_shape": None})
        else:
            target = models[-1] if models else pending
            if target.get(self.dest) is not None:
                parser.error(f"{option_string} given twice for "
                             f"{target.get('model', 'the first --model')}: give it once after "
                             "each --model")
            target[self.dest] = values
        namespace.models, namespace.model_pending = models, pending


def served_models(args: argparse.Namespace) -> list[argparse.Namespace]:
    """The models of `neuronscope serve`, in order, each as `load` takes it."""
    models = [dict(m) for m in getattr(args, "models", None) or []]
    pending = getattr(args, "model_pending", None) or {}
    if pending and not models:
        raise NeuronscopeError(f"{', '.join('--' + k.replace('_', '-') for k in pending)} "
                               "without --model: name the model they belong to")
    for key, value in pending.items():
        if models[0].get(key) is not None:
            raise NeuronscopeError(f"--{key.replace('_', '-')} given twice for "
                                   f"{models[0]['model']}")
        models[0][key] = value
    return [argparse.Namespace(**m) for m in models]


def describe(manifest: dict[str, Any]) -> str:
    """What the built-in model an atlas was made of is ("" for other models).

    Example:
        >>> describe({"model": {"name": "zoo:shapes-cnn"}})
        'AlexNet-like convnet on shapes: the class of the largest shape'
    """
    from .. import zoo

    name = str(manifest.get("model", {}).get("name") or "").removeprefix("zoo:")
    if name in zoo.RECIPES:
        return zoo.recipe(name).description
    return zoo.PRETRAINED[name].description if name in zoo.PRETRAINED else ""


def _same_model(manifest: dict[str, Any], folder: str, model: str) -> None:
    """Refuse a built-in model other than the built-in one the atlas was made of (two
    atlases' --model given in the wrong order, say); other models are checked by their
    weights when a unit is computed."""
    built = str(manifest.get("model", {}).get("name") or "")
    named = [n if ":" in n else f"zoo:{n}" for n in (built, model)]
    if built and all(n.startswith("zoo:") for n in named) and named[0] != named[1]:
        raise NeuronscopeError(f"the atlas in {folder} was made of {named[0]}, not "
                               f"{named[1]}: give each atlas its own model (one --model per "
                               "atlas, in the same order)")


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
    p.add_argument("--layers", nargs="+", help="layers (default: those the model declares, "
                   "else every conv, linear and recurrent layer)")
    p.add_argument("--sections", help="comma-separated subset of the sections "
                   f"({','.join(section_names())} and those of --plugin files; default: all)")
    p.add_argument("--k", type=positive_int, default=9,
                   help="dataset examples per unit and side")
    p.add_argument("--steps", type=nonnegative_int, default=64,
                   help="feature visualization steps")
    p.add_argument("--unit-batch", type=positive_int, default=64, metavar="N",
                   help="units computed together (feature visualizations, lesions, "
                   "pictures): the parts that processes share (default: 64)")
    p.add_argument("--ablation-n", type=positive_int, default=500, metavar="N",
                   help="inputs lesions are scored on: N of the data's, drawn at random "
                   "with a fixed seed (default: 500)")
    p.add_argument("--gallery", nargs="+", metavar="TARGET",
                   help="the gallery's targets, visualized once for the model at its input "
                   "size: classes of the output layer (fc:779) and units (block12:5)")
    p.add_argument("--gallery-steps", type=positive_int, metavar="N",
                   help="optimization steps of each gallery picture (default: "
                   "neuronscope.atlas.sections.gallery.SETTINGS)")
    p.add_argument("--lca", metavar="DIR",
                   help="a finished `neuronscope lca` run (its --out folder or its "
                   "lca.safetensors): the atlas holds its report and the model page links it")
    p.add_argument("--device", type=device_name,
                   help="cpu, cuda or cuda:N (default: CUDA when there is a GPU, else the "
                   "CPU; under torchrun each rank takes cuda:LOCAL_RANK)")
    p.add_argument("--out", default="neuronscope-out/atlas", help="atlas folder")
    plugin_arg(p)
    p.set_defaults(func=cmd_atlas)

    p = sub.add_parser("serve", help="browse atlases and probe their models live")
    p.add_argument("atlas", nargs="+", help="an atlas folder made by `neuronscope atlas`; "
                   "several are served together, each under /models/NAME/ (NAME: its "
                   "model's), with a page listing them at /")
    p.add_argument("--model", action=ModelOption, help="the atlas's model, for the live page "
                   "and units computed on demand (zoo:NAME, file.py:factory); with several "
                   "atlases, one --model per atlas in the same order")
    p.add_argument("--weights", action=ModelOption,
                   help="weights for the file.py:factory --model before it")
    p.add_argument("--input-shape", action=ModelOption,
                   help="input shape for the --model before it, a model without an InputSpec")
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
