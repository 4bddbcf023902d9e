"""Class visualizations of efficientnet-lite0 (Yosinski's and Lucid's examples).

For each class, one 224 px image optimized for the class's logit (``fc:K``) with the
"lucid" preset, saved as an 8-bit PNG; the PNG is then read back and run through the
model, and the class's softmax probability on that saved image is reported (goal in
issue #11: >= 0.9 for every class). Writes ``gallery.png`` (the images with class and
probability) and ``gallery.json``.

    .venv/bin/python experiments/class_gallery.py [--steps 256] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import neuronscope as ns
from neuronscope.core.spec import input_spec
from neuronscope.render.grid import image_grid, save_png
from neuronscope.zoo.imagenet import class_names

# Yosinski et al. 2015 (DeepVis) and Olah et al. 2017: classes whose pictures are known
CLASSES = {"school bus": 779, "hartebeest": 351, "gorilla": 366, "cheeseburger": 933,
           "flamingo": 130, "ostrich": 9, "tricycle": 870, "lemon": 951, "pelican": 144,
           "goldfish": 1, "bell pepper": 945, "black swan": 100}


def reread(display: torch.Tensor, path: Path) -> torch.Tensor:
    """Save one display-space image [3, H, W] as an 8-bit PNG and read it back."""
    Image.fromarray((display.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round()
                    .astype(np.uint8)).save(path)
    return torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1) / 255


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=256)
    parser.add_argument("--out", default="neuronscope-out/class-gallery")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = ns.zoo.load("efficientnet-lite0")
    spec, names = input_spec(model), class_names()
    start = time.perf_counter()
    vis = ns.visualize(model, [f"fc:{k}" for k in CLASSES.values()], size=224,
                       steps=args.steps, preset="lucid")
    took = time.perf_counter() - start
    images = torch.stack([reread(vis.display[i], out / f"fc-{k}.png")
                          for i, k in enumerate(CLASSES.values())])
    with torch.no_grad():
        probs = model(spec.to_model(images)).softmax(-1)
    rows = []
    for i, k in enumerate(CLASSES.values()):
        top = int(probs[i].argmax())
        rows.append({"class": k, "name": names[k], "p": float(probs[i, k]),
                     "top1": names[top], "file": f"fc-{k}.png"})
        print(f"  fc:{k:<4} {names[k]:<22} p = {probs[i, k]:.3f}  (top-1: {names[top]})")
    low = [r["name"] for r in rows if r["p"] < 0.9]
    print(f"{len(rows)} classes, {args.steps} steps, {took:.0f} s; below 0.9: "
          f"{', '.join(low) or 'none'}")
    labels = [f"{r['name']} p={r['p']:.2f}" for r in rows]
    save_png(image_grid(images, nrow=6, pad=4, normalize=None, labels=labels),
             out / "gallery.png")
    (out / "gallery.json").write_text(json.dumps({"steps": args.steps, "classes": rows},
                                                 indent=2))
    print(f"gallery: {out / 'gallery.png'}")


if __name__ == "__main__":
    main()
