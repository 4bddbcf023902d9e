"""Yosinski et al. (DeepVis toolbox): an ImageNet network grows text detectors, though
"text" is not one of its classes.

Printed words are drawn with Pillow on random crops of the bundled photographs (see
text_stimuli.py: several fonts, sizes, positions and colours, words from a fixed list,
fixed seed). Each crop is kept three times: as it is, with text, and with random pen
strokes of the same ink, colour, stroke width and place. For each block output of
efficientnet-lite0 (stem, block0..block15, head), the unit whose maximum activation over
positions best separates text from (1) no text and (2) strokes, by ROC AUC for "higher
activation = text", is chosen on half of the PHOTOGRAPHS and reported on the other half
(so a unit cannot win by recognizing a photograph), beside a null baseline that swaps
the labels within random pairs (see unit_auc.py). Text against nothing is a test any
edge detector passes; text against strokes is the control low-level cues do not solve.

The photographs "page" and "text" already hold text (print, handwriting): they are left
out of both sets and serve instead as natural text the chosen unit never saw (where do
they rank among all bundled photographs?).

    .venv/bin/python experiments/text_units.py [--quick] [--per-photo 8] [--out DIR]
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

import neuronscope as ns
from neuronscope.data.photos import PHOTO_NAMES, photo

import text_stimuli  # isort: skip  (experiments/, beside this script)
import unit_auc  # isort: skip

WITH_TEXT = ("page", "text")  # photographs that already hold text: left out of both sets
SETS = {"none": "the same crops without text",
        "strokes": "the same crops with ink-matched random strokes"}
CONTROL = "ink-matched random strokes"  # the set the conclusion rests on


def photographs(size: int) -> dict[str, torch.Tensor]:
    """Every bundled photograph [3, size, size] in [0, 1], by name. The one place that
    reads the photographs: switch datasets here."""
    return {name: photo(name, size) for name in PHOTO_NAMES}


def pair_swaps(n_pairs: int, n: int, g: torch.Generator) -> torch.Tensor:
    """`n` labellings [n, 2 * n_pairs] of (other, text) pairs: each pair's two labels
    swapped at random."""
    first = torch.rand(n, n_pairs, generator=g) < 0.5  # True: the first item "has text"
    return torch.stack([first, ~first], dim=2).reshape(n, 2 * n_pairs)


def run(model: nn.Module, per_photo: int = 8, n_photos: int | None = None, size: int = 224,
        seed: int = 0, n_null: int = 1000, layers: list[str] | None = None) -> dict[str, Any]:
    """The whole measurement for both controls: per-block results, verdicts, low-level
    cues and the settings."""
    layers = layers or unit_auc.BLOCKS
    every = photographs(size * 10 // 7)  # crops of 70-100% of this, resized to `size`
    names = [n for n in sorted(every) if n not in WITH_TEXT][:n_photos]
    order = names.copy()
    random.Random(seed).shuffle(order)
    chosen_on = set(order[:len(order) // 2])
    images, photo_of, drawn = text_stimuli.crop_triplets({n: every[n] for n in names},
                                                         per_photo, size, seed)
    start = time.perf_counter()
    maxima = unit_auc.block_maxima(model, images, layers)
    seconds = time.perf_counter() - start
    g = torch.Generator().manual_seed(seed + 1)
    kinds = text_stimuli.KINDS
    crops = torch.arange(len(photo_of)) * len(kinds)
    sel_crop = torch.tensor([n in chosen_on for n in photo_of])
    results: dict[str, Any] = {}
    for key in SETS:
        # (other, text) pairs, interleaved: even items the control, odd items the text
        idx = torch.stack([crops + kinds.index(key), crops + kinds.index("text")], 1).flatten()
        pos = torch.arange(len(idx)) % 2 == 1
        sel = sel_crop.repeat_interleave(2)
        rows = unit_auc.study({n: m[idx] for n, m in maxima.items()}, pos, sel,
                              pair_swaps(len(photo_of), n_null, g))
        results[key] = {
            "negatives": SETS[key], "n_selection": int(sel.sum()),
            "n_heldout": int((~sel).sum()),
            "low_level_auc": unit_auc.low_level_auc(images[idx], pos), "blocks": rows,
            "verdict": (unit_auc.verdict(rows, "text")
                        if set(unit_auc.DEEP) & set(rows) else None)}
    captions = [f"{n}{'' if k == 'none' else '+' + k}" for n in photo_of for k in kinds]
    return {"experiment": "text units", "model": "efficientnet-lite0", "size": size,
            "seed": seed, "n_null": n_null, "per_photo": per_photo,
            "selection_photos": sorted(chosen_on),
            "heldout_photos": sorted(set(names) - chosen_on), "excluded_photos": list(WITH_TEXT),
            "fonts": sorted(text_stimuli.fonts()), "auc": "one-sided: higher activation = text",
            "seconds": seconds, "sets": results, "drawn": drawn,
            "_images": images, "_captions": captions, "_maxima": maxima}


def show_unit(model: nn.Module, res: dict[str, Any], out: Path) -> dict[str, Any]:
    """The stroke control's unit on the bundled photographs (with "page" and "text")
    and the stimuli: a grid of its top 16, and the photographs ranked by it."""
    v = res["sets"]["strokes"]["verdict"]
    shown = unit_auc.show_unit(model, v["layer"], v["unit"], photographs(res["size"]),
                               res["_images"], res["_maxima"][v["layer"]][:, v["unit"]],
                               res["_captions"], out)
    shown["rank_of_photos_with_text"] = {n: unit_auc.rank_of(shown, n) for n in WITH_TEXT}
    return shown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="6 photographs, 2 crops each, 200 shuffles (a smoke test)")
    parser.add_argument("--per-photo", type=int, default=8, help="crops per photograph")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="neuronscope-out/text-units")
    args = parser.parse_args()
    out = Path(args.out)
    start = time.perf_counter()
    model = ns.zoo.load("efficientnet-lite0")
    res = run(model, per_photo=2 if args.quick else args.per_photo,
              n_photos=6 if args.quick else None, seed=args.seed,
              n_null=200 if args.quick else 1000)
    shown = show_unit(model, res, out)
    took = time.perf_counter() - start
    print(f"efficientnet-lite0: which unit's max activation tells crops of photographs with "
          f"printed text from the same crops without (ROC AUC, higher activation = text); "
          f"unit chosen on {len(res['selection_photos'])} photographs, AUC on "
          f"{len(res['heldout_photos'])} others ({', '.join(res['heldout_photos'])}); null: "
          f"{res['n_null']} random swaps within pairs; {took:.0f} s, "
          f"{torch.get_num_threads()} threads")
    for key, s in res["sets"].items():
        cues = ", ".join(f"{n} {a:.2f}" for n, a in s["low_level_auc"].items())
        print(f"\n text vs {s['negatives']} (chosen on {s['n_selection']} images, held out "
              f"{s['n_heldout']}); pixel cues' AUC: {cues}")
        print(unit_auc.table(s["blocks"]))
        print(f"  {key}: {s['verdict']['text']}")
    ranks = ", ".join(f"{n} #{r}" for n, r in shown["rank_of_photos_with_text"].items())
    ranks += f" of {len(shown['photos_ranked'])}"
    print(f"\n {shown['unit']} on the bundled photographs (natural text: {ranks}), highest "
          f"first: {unit_auc.listing(shown)}")
    print(f"  top 16 of photographs + stimuli ({shown['n_tied_at_top']} tied at "
          f"{shown['top_value']:.2f}, ties in a seeded random order): {', '.join(shown['top16'])}")
    said = unit_auc.conclusion(res["sets"]["strokes"]["verdict"], "text", "text", CONTROL)
    print(f"  conclusion: {said}")
    results = {k: v for k, v in res.items() if not k.startswith("_")}
    results.update(conclusion=said, shown=shown, total_seconds=took,
                   threads=torch.get_num_threads())
    unit_auc.write_json(results, out / "results.json")
    for key, s in res["sets"].items():
        unit_auc.auc_figure(s["blocks"], out / f"auc_by_block_{key}.png",
                            f"efficientnet-lite0: best text unit per block, text vs "
                            f"{s['negatives']}")
    print(f"  written: {out}/results.json, auc_by_block_none.png, auc_by_block_strokes.png, "
          "top_examples.png, photos_ranked.png")


if __name__ == "__main__":
    main()
