"""Yosinski et al. (DeepVis toolbox): an ImageNet network grows face detectors, though
"face" is not one of its classes.

For each block output of efficientnet-lite0 (stem, block0..block15, head), find the unit
whose maximum activation over positions best separates scikit-image's LFW faces (25x25
gray, upsampled to the model's 224 px RGB, normalized with its input spec) from
non-faces, by ROC AUC for "higher activation = face". The unit is chosen on a random
half of each set (fixed seed) and its AUC reported on the other half, beside a null
baseline from shuffled labels (see unit_auc.py).

Two sets of non-faces. (1) LFW's own: background patches of the same photos, mostly
smooth, so that edge energy alone separates them from faces (AUC ~0.99): a test any
edge detector passes. (2) Patches of the bundled photographs without people (gray,
25x25, processed as the faces), each matched to one face by edge energy: the control
that low-level cues do not solve. The best deep unit for (2) is drawn with its top
images among the bundled photographs, faces and non-faces.

    .venv/bin/python experiments/face_units.py [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

import neuronscope as ns
from neuronscope.data.photos import PHOTO_NAMES, photo

import unit_auc  # isort: skip  (experiments/, beside this script)

# people's faces, a cat's: no patches from them
WITH_FACES = tuple(n for n in ("astronaut", "camera", "chelsea", "grace_hopper")
                   if n in PHOTO_NAMES)
SETS = {"lfw": "LFW non-faces (smooth backgrounds)",
        "patches": "photo patches matched to the faces by edge energy"}
CONTROL = "edge-matched photo patches"  # the set the conclusion rests on


def lfw() -> tuple[torch.Tensor, torch.Tensor]:
    """LFW faces and non-faces [200, 25, 25] in [0, 1] at their own size (the photos
    dataset's lfw-face-000 ... lfw-nonface-099, from skimage.data.lfw_subset()) and the
    labels (True = face). The one place that reads the faces: switch datasets here."""
    names = [f"lfw-{group}-{k:03d}" for group in ("face", "nonface") for k in range(100)]
    gray = torch.stack([photo(name, 25)[0] for name in names])
    return gray, torch.arange(len(names)) < 100


def to_rgb(gray: torch.Tensor, size: int) -> torch.Tensor:
    """Gray images [N, h, w] -> RGB [N, 3, size, size] (bilinear), as the model sees them."""
    up = F.interpolate(gray[:, None], size=(size, size), mode="bilinear", align_corners=False)
    return up.clamp(0, 1).expand(-1, 3, -1, -1).contiguous()


def edge_energy(gray: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of neighbouring pixels of each image [N, h, w]."""
    return (gray.diff(dim=1).abs().mean((1, 2)) + gray.diff(dim=2).abs().mean((1, 2))) / 2


def photo_patches(faces: torch.Tensor, seed: int, per_photo: int = 150) -> torch.Tensor:
    """One patch of the bundled photographs without faces per face [F, h, w]: random
    square crops (24-112 px of the 224 px photo, gray, shrunk to the faces' size), each
    face greedily given the unused candidate closest to it in edge energy."""
    g = torch.Generator().manual_seed(seed + 2)
    h, w = faces.shape[1:]
    cands = []
    for name in (n for n in PHOTO_NAMES if n not in WITH_FACES):
        rgb = photo(name, 224)
        gray = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
        for _ in range(per_photo):
            side = int(torch.randint(24, 113, (1,), generator=g))
            top, left = (int(v) for v in torch.randint(0, 225 - side, (2,), generator=g))
            crop = gray[None, None, top:top + side, left:left + side]
            cands.append(F.interpolate(crop, size=(h, w), mode="bilinear", antialias=True,
                                       align_corners=False)[0, 0])
    pool = torch.stack(cands)
    energy, free = edge_energy(pool), torch.ones(len(pool), dtype=torch.bool)
    picked = []
    for target in edge_energy(faces).tolist():
        gap = (energy - target).abs().masked_fill(~free, float("inf"))
        i = int(gap.argmin())
        free[i] = False
        picked.append(i)
    return pool[picked].clamp(0, 1)


def halves(n: int, g: torch.Generator) -> torch.Tensor:
    """A random half of `n` items (True: the selection half)."""
    mask = torch.zeros(n, dtype=torch.bool)
    mask[torch.randperm(n, generator=g)[:n // 2]] = True
    return mask


def shuffled_labels(positive: torch.Tensor, selection: torch.Tensor, n: int,
                    g: torch.Generator) -> torch.Tensor:
    """`n` labellings [n, N], each a random permutation of the labels within each half."""
    out = positive.expand(n, -1).clone()
    for half in (selection, ~selection):
        idx = torch.nonzero(half)[:, 0]
        for r in range(n):
            out[r, idx] = positive[idx[torch.randperm(len(idx), generator=g)]]
    return out


def run(model: nn.Module, per_class: int | None = None, size: int = 224, seed: int = 0,
        n_null: int = 1000, layers: list[str] | None = None) -> dict[str, Any]:
    """The whole measurement for both sets of non-faces: per-block results, verdicts,
    low-level cues and the settings."""
    layers = layers or unit_auc.BLOCKS
    g = torch.Generator().manual_seed(seed)
    gray, positive = lfw()
    faces = gray[positive][torch.randperm(int(positive.sum()), generator=g)][:per_class]
    others = gray[~positive][torch.randperm(int((~positive).sum()), generator=g)][:per_class]
    groups = {"faces": faces, "lfw": others, "patches": photo_patches(faces, seed)}
    images = to_rgb(torch.cat(list(groups.values())), size)
    start = time.perf_counter()
    maxima = unit_auc.block_maxima(model, images, layers)
    seconds = time.perf_counter() - start
    nf = len(faces)
    face_half = halves(nf, g)
    results: dict[str, Any] = {}
    for k, key in enumerate(SETS):
        idx = torch.cat([torch.arange(nf), nf * (k + 1) + torch.arange(len(groups[key]))])
        pos = torch.arange(len(idx)) < nf
        sel = torch.cat([face_half, halves(len(groups[key]), g)])
        rows = unit_auc.study({n: m[idx] for n, m in maxima.items()}, pos, sel,
                              shuffled_labels(pos, sel, n_null, g))
        results[key] = {
            "negatives": SETS[key], "n_faces": nf, "n_nonfaces": len(groups[key]),
            "n_selection": int(sel.sum()), "n_heldout": int((~sel).sum()),
            "low_level_auc": unit_auc.low_level_auc(images[idx], pos), "blocks": rows,
            "verdict": (unit_auc.verdict(rows, "face")
                        if set(unit_auc.DEEP) & set(rows) else None)}
    captions = [f"{key}{i}" for key, grp in groups.items() for i in range(len(grp))]
    return {"experiment": "face units", "model": "efficientnet-lite0", "size": size,
            "seed": seed, "n_null": n_null, "auc": "one-sided: higher activation = face",
            "seconds": seconds, "sets": results, "_images": images, "_captions": captions,
            "_maxima": maxima}


def show_unit(model: nn.Module, res: dict[str, Any], out: Path) -> dict[str, Any]:
    """The patch verdict's unit on the bundled photographs, faces and non-faces: a grid
    of its top 16, and the photographs ranked by it."""
    v = res["sets"]["patches"]["verdict"]
    photos = {name: photo(name, res["size"]) for name in PHOTO_NAMES}
    shown = unit_auc.show_unit(model, v["layer"], v["unit"], photos, res["_images"],
                               res["_maxima"][v["layer"]][:, v["unit"]], res["_captions"], out)
    shown["rank_of_photos_with_faces"] = {n: unit_auc.rank_of(shown, n) for n in WITH_FACES}
    return shown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="16 images per set, 200 shuffles (a smoke test)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="neuronscope-out/face-units")
    args = parser.parse_args()
    out = Path(args.out)
    start = time.perf_counter()
    model = ns.zoo.load("efficientnet-lite0")
    res = run(model, per_class=16 if args.quick else None, seed=args.seed,
              n_null=200 if args.quick else 1000)
    shown = show_unit(model, res, out)
    took = time.perf_counter() - start
    print(f"efficientnet-lite0: which unit's max activation tells LFW faces from non-faces "
          f"(ROC AUC, higher activation = face); unit chosen on one half, AUC on the other; "
          f"null: {res['n_null']} shuffles within halves; {took:.0f} s, "
          f"{torch.get_num_threads()} threads")
    for key, s in res["sets"].items():
        cues = ", ".join(f"{n} {a:.2f}" for n, a in s["low_level_auc"].items())
        print(f"\n faces vs {s['negatives']} ({s['n_faces']} + {s['n_nonfaces']}; chosen on "
              f"{s['n_selection']}, held out {s['n_heldout']}); pixel cues' AUC: {cues}")
        print(unit_auc.table(s["blocks"]))
        print(f"  {key}: {s['verdict']['text']}")
    ranks = ", ".join(f"{n} #{r}" for n, r in shown["rank_of_photos_with_faces"].items())
    print(f"\n {shown['unit']} on the {len(shown['photos_ranked'])} bundled photographs "
          f"(with faces: {ranks}), highest first: "
          f"{unit_auc.listing(shown)}")
    print(f"  top 16 of photographs + faces + non-faces ({shown['n_tied_at_top']} tied at "
          f"{shown['top_value']:.2f}, ties in a seeded random order): {', '.join(shown['top16'])}")
    said = unit_auc.conclusion(res["sets"]["patches"]["verdict"], "face", "faces", CONTROL)
    print(f"  conclusion: {said}")
    results = {k: v for k, v in res.items() if not k.startswith("_")}
    results.update(conclusion=said, shown=shown, total_seconds=took,
                   threads=torch.get_num_threads())
    unit_auc.write_json(results, out / "results.json")
    for key, s in res["sets"].items():
        unit_auc.auc_figure(s["blocks"], out / f"auc_by_block_{key}.png",
                            f"efficientnet-lite0: best face unit per block, faces vs "
                            f"{s['negatives']}")
    print(f"  written: {out}/results.json, auc_by_block_lfw.png, auc_by_block_patches.png, "
          "top_examples.png, photos_ranked.png")


if __name__ == "__main__":
    main()
