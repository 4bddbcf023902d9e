"""The visualize command: feature visualization of units."""

from __future__ import annotations

import argparse

from ..core.errors import NeuronscopeError
from .common import load, shape


def cmd_visualize(args: argparse.Namespace) -> None:
    from ..methods.featvis import visualize
    from ..render.featvis import save_pngs

    model = load(args, need_spec=False)
    size = shape(args.size) if args.size else None
    if size is not None and len(size) not in (1, 2):
        raise NeuronscopeError(f"--size {args.size!r}: one number or H,W")
    vis = visualize(model, args.units, size=(size[0] if size and len(size) == 1 else size),
                    steps=args.steps, seed=args.seed, n_starts=args.n_starts,
                    negative=args.negative, preset=args.preset, param=args.param)
    folder = save_pngs(vis, args.out)
    print(f"{len(vis.images)} images of {len(vis.targets)} targets, {args.steps} steps -> "
          f"{folder}/grid.png")
    for label, value in zip(vis.labels, vis.activations.tolist(), strict=True):
        print(f"  {label:<24} activation {value:.4g}")
