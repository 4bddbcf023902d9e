"""Which unit of each block best tells two sets of images apart (shared by face_units.py
and text_units.py).

Each unit's score for an image is its maximum activation over positions. A unit's ROC
AUC is the chance that a random positive image (a face, a photo with text) scores higher
than a random negative one (ties count one half): 1.0 fires for every positive first, 0.5
is chance, below 0.5 the unit prefers negatives. It is one-sided on purpose: a detector
must fire FOR the positives, so a unit that fires for non-faces does not count as a face
detector (no max(AUC, 1 - AUC)).

The best unit of thousands on a hundred images looks better than it is, so the unit is
chosen on a selection half and its AUC reported on a held-out half. The null baseline
runs the same choice on labels shuffled in a way the caller gives (within each half for
independent images, within each pair for paired ones): the best selection AUC under
shuffled labels shows how far the choice alone lifts the maximum, and the held-out AUC of
the unit chosen on shuffled labels (scored on shuffled held-out labels) gives the
p-value of the held-out AUC.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

import neuronscope as ns
from neuronscope.render.grid import image_grid, save_png

BLOCKS = ["stem", *[f"block{i}" for i in range(16)], "head"]  # efficientnet-lite0's blocks
DEEP = [f"block{i}" for i in range(10, 16)] + ["head"]  # where a face or text unit may live
EARLY = ["stem", *[f"block{i}" for i in range(5)]]  # low-level features, for comparison


def block_maxima(model: nn.Module, images: torch.Tensor, layers: Sequence[str],
                 batch_size: int = 25) -> dict[str, torch.Tensor]:
    """Each unit's maximum activation over positions, per image: {layer: [N, units]}.

    `images` [N, 3, H, W] are in display space ([0, 1]); the model's input spec maps
    them to model space. All layers are recorded in one forward pass per batch.
    """
    spec = ns.input_spec(model)
    if spec is None:
        raise ValueError("the model has no input spec: cannot normalize its images")
    parts: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    with torch.no_grad(), ns.record(model, list(layers)) as rec:
        for start in range(0, len(images), batch_size):
            model(spec.to_model(images[start:start + batch_size]))
            for name in layers:
                out = rec[name]
                parts[name].append(out.flatten(2).amax(2) if out.dim() > 2 else out)
    return {name: torch.cat(p).double() for name, p in parts.items()}


def average_ranks(x: torch.Tensor) -> torch.Tensor:
    """Ranks 1..N of each column of `x` [N, U] (ties share their average rank).

    Example:
        >>> average_ranks(torch.tensor([[3.0], [1.0], [3.0]])).flatten().tolist()
        [2.5, 1.0, 2.5]
    """
    cols = x.T.contiguous()  # [U, N]
    ordered, order = cols.sort(dim=1, stable=True)
    lo = torch.searchsorted(ordered, ordered, side="left")
    hi = torch.searchsorted(ordered, ordered, side="right")
    ranks = torch.empty_like(cols, dtype=torch.float64)
    ranks.scatter_(1, order, (lo + hi + 1).double() / 2)
    return ranks.T


def auc_from_ranks(ranks: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """ROC AUC (Mann-Whitney) of every column of `ranks` [N, U] for labels `positive`
    [N] or [R, N] (bool; one row per labelling): [U] or [R, U]."""
    pos = positive.double()
    n_pos = pos.sum(-1, keepdim=True)
    n_neg = positive.shape[-1] - n_pos
    if bool((n_pos == 0).any()) or bool((n_neg == 0).any()):
        raise ValueError("AUC needs at least one positive and one negative image")
    return (pos @ ranks - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def auc(scores: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """ROC AUC of each column of `scores` [N, U] for "higher score = positive".

    Example:
        >>> auc(torch.tensor([[0.1, 5.0], [0.9, 5.0], [0.2, 5.0]]),
        ...     torch.tensor([False, True, False])).tolist()
        [1.0, 0.5]
    """
    return auc_from_ranks(average_ranks(scores), positive)


def low_level_auc(images: torch.Tensor, positive: torch.Tensor) -> dict[str, float]:
    """AUC of simple pixel statistics of `images` [N, C, H, W] (gray = channel mean) for
    the labels: how far a task could be solved without any detector.

    Example:
        >>> x = torch.zeros(4, 1, 8, 8); x[2:] += torch.rand(2, 1, 8, 8)
        >>> low_level_auc(x, torch.tensor([False, False, True, True]))["edge energy"]
        1.0
    """
    gray = images.double().mean(1)
    edges = (gray.diff(dim=1).abs().mean((1, 2)) + gray.diff(dim=2).abs().mean((1, 2))) / 2
    h, w = gray.shape[1:]
    centre = gray[:, h // 3:h - h // 3, w // 3:w - w // 3].mean((1, 2)) - gray.mean((1, 2))
    cues = {"brightness": gray.mean((1, 2)), "contrast": gray.std((1, 2)),
            "edge energy": edges, "centre - mean": centre}
    values = auc(torch.stack(list(cues.values()), 1), positive)
    return {name: float(v) for name, v in zip(cues, values, strict=True)}


def study_layer(scores: torch.Tensor, positive: torch.Tensor, selection: torch.Tensor,
                null_labels: torch.Tensor) -> dict[str, Any]:
    """Choose the unit on the selection images, report it on the others, and the null.

    `scores` [N, U]; `positive`, `selection` [N] bool; `null_labels` [R, N] bool, the
    shuffled labellings. Returns plain numbers (JSON-ready).
    """
    held = ~selection
    r_sel, r_held = average_ranks(scores[selection]), average_ranks(scores[held])
    sel_auc = auc_from_ranks(r_sel, positive[selection])
    held_auc = auc_from_ranks(r_held, positive[held])
    unit = int(sel_auc.argmax())  # ties: the lowest unit number
    null_sel = auc_from_ranks(r_sel, null_labels[:, selection])  # [R, U]
    null_units = null_sel.argmax(1)
    null_held = auc_from_ranks(r_held, null_labels[:, held]).gather(1, null_units[:, None])[:, 0]
    null_best_sel = null_sel.max(1).values
    observed = float(held_auc[unit])
    top = sel_auc.argsort(descending=True, stable=True)[:5].tolist()
    return {
        "n_units": scores.shape[1], "unit": unit,
        "selection_auc": float(sel_auc[unit]), "heldout_auc": observed,
        "null_selection_max_mean": float(null_best_sel.mean()),
        "null_selection_max_p95": float(null_best_sel.quantile(0.95)),
        "null_heldout_mean": float(null_held.mean()),
        "null_heldout_p95": float(null_held.quantile(0.95)),
        "null_heldout_p99": float(null_held.quantile(0.99)),
        "p_value": (1 + int((null_held >= observed).sum())) / (1 + len(null_held)),
        "heldout_max_auc_biased": float(held_auc.max()),  # chosen on the held-out half itself
        "top5_by_selection": [{"unit": u, "selection_auc": float(sel_auc[u]),
                               "heldout_auc": float(held_auc[u])} for u in top],
    }


def study(maxima: dict[str, torch.Tensor], positive: torch.Tensor, selection: torch.Tensor,
          null_labels: torch.Tensor) -> dict[str, dict[str, Any]]:
    """`study_layer` for every layer of `maxima`, in order."""
    return {name: study_layer(s, positive, selection, null_labels) for name, s in maxima.items()}


def table(rows: dict[str, dict[str, Any]]) -> str:
    """The per-block table: best unit, selection and held-out AUC, null baselines."""
    lines = [f"  {'block':<8} {'units':>5} {'unit':>5} {'select':>7} {'held-out':>8} "
             f"{'null sel':>8} {'null held':>9} {'p':>7}",
             f"  {'':<8} {'':>5} {'':>5} {'AUC':>7} {'AUC':>8} {'max p95':>8} "
             f"{'p95':>9} {'':>7}"]
    for name, r in rows.items():
        lines.append(f"  {name:<8} {r['n_units']:>5} {r['unit']:>5} {r['selection_auc']:>7.3f} "
                     f"{r['heldout_auc']:>8.3f} {r['null_selection_max_p95']:>8.3f} "
                     f"{r['null_heldout_p95']:>9.3f} {r['p_value']:>7.4f}")
    return "\n".join(lines)


def verdict(rows: dict[str, dict[str, Any]], what: str, min_auc: float = 0.9,
            alpha: float = 0.01, margin: float = 0.05) -> dict[str, Any]:
    """The best deep unit (highest SELECTION AUC among block10..head, so the held-out
    half stays unseen) and whether it is a `what` detector by this measure: held-out AUC
    >= `min_auc` and p-value <= `alpha`. The best early unit (stem..block4, by held-out
    AUC) is the low-level yardstick: the deep unit goes beyond it when its held-out AUC
    is at least `margin` higher; otherwise the measure cannot tell a detector from a
    low-level feature."""
    deep = [n for n in DEEP if n in rows]
    if not deep:
        raise ValueError(f"no deep block ({', '.join(DEEP)}) among {', '.join(rows)}")
    layer = max(deep, key=lambda n: rows[n]["selection_auc"])
    r = rows[layer]
    ok = r["heldout_auc"] >= min_auc and r["p_value"] <= alpha
    text = (f"{layer}:{r['unit']} (best deep unit by selection AUC) has held-out AUC "
            f"{r['heldout_auc']:.3f} (null 99th percentile {r['null_heldout_p99']:.3f}, "
            f"p = {r['p_value']:.4f}): {'IS' if ok else 'is NOT'} a {what} detector by this "
            f"measure (held-out AUC >= {min_auc} and p <= {alpha})")
    early = {n: rows[n]["heldout_auc"] for n in EARLY if n in rows}
    beyond = None
    if early:
        low = max(early, key=early.__getitem__)
        beyond = r["heldout_auc"] >= early[low] + margin
        text += (f"; the best early unit ({low}:{rows[low]['unit']}) reaches "
                 f"{early[low]:.3f}, so "
                 + ("the deep unit goes beyond low-level features" if beyond else
                    f"low-level features do about as well (within {margin}): this measure "
                    f"cannot tell a {what} detector from a low-level feature"))
    return {"layer": layer, "unit": r["unit"], "heldout_auc": r["heldout_auc"],
            "p_value": r["p_value"], "detector": ok, "beyond_low_level": beyond,
            "min_auc": min_auc, "alpha": alpha, "margin": margin,
            "early_heldout_auc": early, "text": text}


def conclusion(v: dict[str, Any], what: str, stimuli: str, control: str) -> str:
    """One sentence from a `verdict` against the control set `control`: is the best deep
    unit a `what` detector (firing for `stimuli`) beyond low-level features?"""
    unit = f"{v['layer']}:{v['unit']}"
    if v["detector"] and v["beyond_low_level"]:
        return (f"YES: {unit} fires for {stimuli} over {control} (held-out AUC "
                f"{v['heldout_auc']:.3f}, p = {v['p_value']:.4f}) and does better than any "
                f"early unit: a {what} detector by this measure")
    if v["detector"]:
        return (f"NOT SHOWN: {unit} separates {stimuli} from {control} (held-out AUC "
                f"{v['heldout_auc']:.3f}), but early units do about as well")
    said = (f"NO: the best deep unit {unit} reaches held-out AUC {v['heldout_auc']:.3f} "
            f"against {control} (p = {v['p_value']:.4f}; a detector needs >= {v['min_auc']})")
    if v["p_value"] <= v["alpha"] and v["beyond_low_level"]:
        said += (f"; it is {what}-selective beyond chance and beyond any early unit, but "
                 "weaker than a detector")
    return said


def auc_figure(rows: dict[str, dict[str, Any]], path: str | Path, title: str) -> Path:
    """Selection and held-out AUC of each block's chosen unit, with the null baselines."""
    from matplotlib.figure import Figure  # a bare Figure draws off-screen

    names = list(rows)
    x = range(len(names))
    fig = Figure(figsize=(max(6.0, 0.45 * len(names) + 2), 4.0), dpi=100)
    ax = fig.subplots()
    ax.plot(x, [rows[n]["selection_auc"] for n in names], "o-", color="tab:blue",
            label="chosen unit, selection half")
    ax.plot(x, [rows[n]["heldout_auc"] for n in names], "s-", color="tab:red",
            label="chosen unit, held-out half")
    ax.plot(x, [rows[n]["null_selection_max_p95"] for n in names], "--", color="tab:blue",
            alpha=0.6, label="shuffled labels: best selection AUC (95th pct)")
    ax.plot(x, [rows[n]["null_heldout_p95"] for n in names], ":", color="tab:red",
            alpha=0.8, label="shuffled labels: held-out AUC (95th pct)")
    ax.axhline(0.5, color="gray", lw=0.8)
    ax.set_xticks(list(x), names, rotation=60, fontsize=8)
    ax.set_ylim(min(0.3, min(rows[n]["heldout_auc"] for n in names) - 0.05), 1.02)
    ax.set_ylabel("ROC AUC (higher activation = positive)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out


def ranking(values: torch.Tensor, seed: int = 0) -> list[int]:
    """Indices of `values`, highest first; ties (a ReLU6 unit pegged at 6, or silent at 0)
    in a random order drawn from `seed`, so that the first k of many tied items are a
    fair sample of them rather than the lowest indices.

    Example:
        >>> sorted(ranking(torch.tensor([1.0, 3.0, 3.0, 0.0]))[:2])
        [1, 2]
    """
    shuffle = torch.randperm(len(values), generator=torch.Generator().manual_seed(seed))
    return shuffle[values[shuffle].argsort(descending=True, stable=True)].tolist()


def ranked_grid(images: torch.Tensor, values: torch.Tensor, captions: Sequence[str],
                path: str | Path, k: int = 16, side: int = 112) -> tuple[Path, list[int]]:
    """The `k` images with the highest `values` (see `ranking` for ties), shrunk to `side`
    px and labelled "value caption", as one PNG. Returns the path and the indices shown,
    best first."""
    order = ranking(values)[:k]
    shown = F.interpolate(images[order].float(), size=(side, side), mode="bilinear",
                          antialias=True, align_corners=False)
    labels = [f"{float(values[i]):.2f} {captions[i]}" for i in order]  # the value never cut
    grid: Image.Image = image_grid(shown, nrow=min(len(order), math.ceil(math.sqrt(k))),
                                   pad=2, normalize=None, labels=labels)
    return save_png(grid, path), order


def show_unit(model: nn.Module, layer: str, unit: int, photos: dict[str, torch.Tensor],
              stimuli: torch.Tensor, values: torch.Tensor, captions: Sequence[str],
              out: Path) -> dict[str, Any]:
    """`layer`:`unit` on the bundled `photos` (run here) and the `stimuli` (their
    `values`, already measured): a grid of its top 16 of all (top_examples.png) and the
    photographs ranked by it (photos_ranked.png)."""
    names = list(photos)
    images = torch.stack(list(photos.values()))
    on_photos = block_maxima(model, images, [layer])[layer][:, unit]
    pool_values = torch.cat([on_photos, values.double()])
    labels = [*names, *captions]
    grid, order = ranked_grid(torch.cat([images, stimuli]), pool_values, labels,
                              out / "top_examples.png")
    ranked = ranking(on_photos)
    ranked_grid(images, on_photos, names, out / "photos_ranked.png", k=len(names))
    top = float(pool_values.max())
    return {"unit": f"{layer}:{unit}", "top16": [labels[i] for i in order],
            "n_tied_at_top": int((pool_values == top).sum()), "top_value": top,
            "photos_ranked": [names[i] for i in ranked],
            "photo_values": {n: float(v) for n, v in zip(names, on_photos, strict=True)},
            "grid": str(grid)}


def listing(shown: dict[str, Any]) -> str:
    """The photographs in `shown` ranked, each with its value: "astronaut 5.07, ..."."""
    return ", ".join(f"{n} {shown['photo_values'][n]:.2f}" for n in shown["photos_ranked"])


def rank_of(shown: dict[str, Any], name: str) -> int:
    """The photograph's rank in `shown` (1 = highest; tied photographs share the best
    rank of their group)."""
    values = shown["photo_values"]
    return 1 + sum(v > values[name] for v in values.values())


def write_json(data: dict[str, Any], path: str | Path) -> Path:
    """`data` as indented JSON (parent folders created)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2) + "\n")
    return out
