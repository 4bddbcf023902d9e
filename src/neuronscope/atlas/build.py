"""Building an atlas: every section of every unit page, resumable (see `store.py`).

Sections, in the order they are computed (cheap and most useful first):

- ``weights`` (model): first-layer filters and linear templates as PNGs.
- ``examples`` (all layers in one pass): top and bottom dataset examples with
  receptive-field crops, random examples from quantile bands, histogram, statistics.
- ``ablation`` (per layer): each unit's importance (accuracy lost when silenced alone,
  on up to `ablation_n` inputs) and class selectivity; units sorted by importance.
- ``featvis`` (per layer): feature visualizations, `n_starts` positive and one negative.
- ``dream`` (per layer): DeepDream of a bundled photograph.

Dissection labels are not computed yet (no concept method has landed); the unit
page says so.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import torch
from torch import nn
from torch.utils.data import Subset

from ..core.layers import LayerInfo, layers
from ..core.receptive import receptive_field
from ..core.spec import input_spec
from ..core.units import find_module
from ..methods.ablation import unit_sweep
from ..methods.examples import TopExamples, top_examples
from ..methods.examples.mine import data_fingerprint, model_fingerprint
from ..methods.examples.show import field_of, unit_crops
from ..methods.featvis import visualize
from ..methods.selectivity import class_selectivity
from ..render.examples import example_grid
from ..render.grid import image_grid
from ..render.weights import weight_image
from .store import AtlasStore

logger = logging.getLogger(__name__)
SECTIONS = ("weights", "examples", "ablation", "featvis", "dream")
KINDS = ("conv", "linear")


def _layer_facts(model: nn.Module, info: LayerInfo, example: torch.Tensor) -> dict[str, Any]:
    facts: dict[str, Any] = {"kind": info.kind, "module": info.module_type,
                             "shape": list(info.shape), "n_units": info.n_units}
    if info.unit_axis == 1 and len(info.shape) >= 2:
        try:
            rf = receptive_field(model, info.name, example)
            facts["receptive_field"] = {"size": list(rf.size), "stride": list(rf.stride)}
        except Exception as exc:  # noqa: BLE001 - a missing field is shown as unknown
            logger.info("no receptive field for %s: %s", info.name, exc)
    return facts


def build_atlas(model: nn.Module, data: Any, out: str, layers_: list[str] | None = None,
                sections: tuple[str, ...] = SECTIONS, name: str = "model", data_name: str = "",
                k: int = 9, steps: int = 64, n_starts: int = 2, ablation_n: int = 500,
                photo: str = "astronaut", progress: bool = True) -> AtlasStore:
    """Compute what is missing of the atlas of `model` on `data` in folder `out`.

    Finished sections are kept: a rerun after an interruption, or with more layers or
    sections, computes only what is missing.

    Example:
        >>> import tempfile, torch, torch.nn as nn
        >>> from torch.utils.data import TensorDataset
        >>> from neuronscope.core.spec import InputSpec, attach_spec
        >>> model = attach_spec(nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU(), nn.Flatten(),
        ...                     nn.Linear(2 * 6 * 6, 2)).eval(), InputSpec(shape=(3, 8, 8)))
        >>> data = TensorDataset(torch.rand(12, 3, 8, 8), torch.tensor([0, 1] * 6))
        >>> atlas = build_atlas(model, data, tempfile.mkdtemp(), sections=("examples",),
        ...                     progress=False)
        >>> sorted(atlas.manifest["layers"])
        ['0', '3']
    """
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown sections {unknown}; sections are {SECTIONS}")
    atlas = AtlasStore(out)
    atlas.set_header({"name": name, "fingerprint": model_fingerprint(model),
                      "spec": _spec_json(model)},
                     {"name": data_name, "n": len(data), "fingerprint": data_fingerprint(data)})
    model.eval()
    example = _first_input(data)
    infos = {i.name: i for i in layers(model, example)}
    chosen = layers_ or [n for n, i in infos.items() if i.kind in KINDS]
    for layer in chosen:
        if layer not in infos:
            find_module(model, layer.split("[", 1)[0])
    atlas.manifest["order"] = [n for n in infos if n in set(chosen) |
                               set(atlas.manifest["layers"])]
    for layer in chosen:
        atlas.manifest["layers"].setdefault(layer, {})
        atlas.manifest["layers"][layer]["facts"] = _layer_facts(model, infos[layer], example)
    atlas.save_manifest()
    if "weights" in sections and "weights" not in atlas.manifest["sections"]:
        _weights(model, infos, atlas)
    if "examples" in sections:
        _examples(model, data, [n for n in chosen if not atlas.done(n, "examples")], k, atlas,
                  progress)
    for layer in chosen:
        if "ablation" in sections and not atlas.done(layer, "ablation"):
            _ablation(model, data, layer, ablation_n, atlas, progress)
        if "featvis" in sections and not atlas.done(layer, "featvis"):
            _featvis(model, layer, infos[layer].n_units, steps, n_starts, atlas, progress)
        if "dream" in sections and not atlas.done(layer, "dream"):
            _dream(model, layer, steps, photo, atlas, progress)
    return atlas


def _spec_json(model: nn.Module) -> dict[str, Any]:
    spec = input_spec(model)
    return {} if spec is None else {"shape": list(spec.shape), "kind": spec.kind,
                                    "classes": spec.class_names or []}


def _first_input(data: Any) -> torch.Tensor:
    from ..methods.examples.mine import as_dataset, batch_input

    x = batch_input(as_dataset(data)[0])
    return torch.as_tensor(x).unsqueeze(0)


def _weights(model: nn.Module, infos: dict[str, LayerInfo], atlas: AtlasStore) -> None:
    spec = input_spec(model)
    files = {}
    first_conv = next((n for n, i in infos.items() if i.kind == "conv"), None)
    n_inputs = None if spec is None else int(torch.tensor(spec.shape).prod())
    for name, info in infos.items():
        module = find_module(model, name.split("[", 1)[0])
        linear_on_input = (info.kind == "linear" and n_inputs is not None
                           and getattr(module, "in_features", None) == n_inputs)
        if name == first_conv or linear_on_input:
            image = weight_image(module, input_shape=spec.shape if spec else None,
                                 class_names=spec.class_names if spec else None)
            files[name] = atlas.write_png(f"model/weights-{name}.png", image)
    atlas.manifest["sections"]["weights"] = files
    atlas.save_manifest()


def _examples(model: nn.Module, data: Any, todo: list[str], k: int, atlas: AtlasStore,
              progress: bool) -> None:
    """One pass for every layer still missing its examples. The set of layers is written
    to the manifest first (the plan), so that a resumed build mines exactly the same set
    with the same checkpoint and writes the same files."""
    plan = atlas.manifest["sections"].get("examples_plan")
    if plan is None:
        if not todo:
            return
        key = hashlib.sha256("|".join(todo).encode()).hexdigest()[:8]
        plan = {"layers": todo, "key": key}
        atlas.manifest["sections"]["examples_plan"] = plan
        atlas.save_manifest()
    layers_, key = plan["layers"], plan["key"]
    res = top_examples(model, data, layers=layers_, k=k, progress=progress,
                       checkpoint=atlas.path(f"work/examples-{key}.ckpt"))
    atlas.write_arrays(f"arrays/examples-{key}.safetensors", res.tensors(), res.meta())
    for layer in layers_:
        if atlas.done(layer, "examples"):
            continue
        _examples_layer(model, data, res, layer, atlas)
        atlas.mark(layer, "examples", {"arrays": f"arrays/examples-{key}.safetensors",
                                       "units": f"units/{layer}/examples.json"})
    del atlas.manifest["sections"]["examples_plan"]
    atlas.save_manifest()
    atlas.path(f"work/examples-{key}.ckpt").unlink(missing_ok=True)
    rest = [n for n in todo if not atlas.done(n, "examples")]
    if rest:  # asked for now, but not in the plan that was resumed
        _examples(model, data, rest, k, atlas, progress)


def _examples_layer(model: nn.Module, data: Any, res: TopExamples, layer: str,
                    atlas: AtlasStore) -> None:
    ex = res[layer]
    rf = None
    if ex.spatial_shape:
        try:
            rf = field_of(model, ex, data)
        except Exception as exc:  # noqa: BLE001 - whole images instead
            logger.info("no receptive field for %s: %s", layer, exc)
    counts, edges = ex.histogram()
    q_index, q_values = ex.quantile_examples(bands=5, per_band=2)
    mean, std, pos = ex.mean, ex.std, ex.frac_positive
    from ..methods.examples.mine import as_dataset, batch_input

    dataset = as_dataset(data)
    spec = input_spec(model)
    units = []
    for u in range(ex.n_units):
        for bottom in (False, True):
            crops, values, box = unit_crops(model, data, ex, u, bottom=bottom, rf=rf)
            side = "bottom" if bottom else "top"
            atlas.write_png(f"examples/{layer}/unit-{u:04d}-{side}.png",
                            example_grid(crops, values, box=box))
        picked = [int(i) for i in q_index[u].flatten().tolist() if i >= 0]
        if picked:
            images = torch.stack([torch.as_tensor(batch_input(dataset[i])).float()
                                  for i in picked])
            if spec is not None:
                images = spec.to_display(images)
            if images.dim() == 4:
                grid = image_grid(images, nrow=2, pad=2, scale=max(1, 48 // images.shape[-1]),
                                  normalize=None)
                atlas.write_png(f"examples/{layer}/unit-{u:04d}-random.png", grid)
        units.append({
            "top": ex.indices[u].tolist(), "top_values": ex.values[u].tolist(),
            "bottom": ex.bottom_indices[u].tolist(), "bottom_values": ex.bottom_values[u].tolist(),
            "mean": float(mean[u]), "std": float(std[u]), "positive": float(pos[u]),
            "hist": counts[u].tolist(), "edges": edges[u].tolist(),
            "bands": q_index[u].tolist(), "band_values": q_values[u].nan_to_num(0).tolist(),
        })
    atlas.write_json(f"units/{layer}/examples.json", {"layer": layer, "reduce": ex.reduce,
                                                      "count": ex.count, "units": units})


def _ablation(model: nn.Module, data: Any, layer: str, n: int, atlas: AtlasStore,
              progress: bool) -> None:
    subset = Subset(data, range(min(n, len(data))))
    sel = class_selectivity(model, subset, layer, progress=progress)
    base, each = unit_sweep(model, subset, layer, progress=progress)
    importance = (base - each).tolist()
    order = sorted(range(len(importance)), key=lambda u: (-importance[u], u))
    atlas.write_json(f"units/{layer}/ablation.json", {
        "baseline": base, "n": len(subset), "importance": importance,
        "selectivity": sel.selectivity.tolist(), "by_importance": order})
    atlas.mark(layer, "ablation", {"units": f"units/{layer}/ablation.json"})


def _featvis(model: nn.Module, layer: str, n_units: int, steps: int, n_starts: int,
             atlas: AtlasStore, progress: bool) -> None:
    targets = [f"{layer}:{u}" for u in range(n_units)]
    pos = visualize(model, targets, steps=steps, n_starts=n_starts, progress=progress)
    neg = visualize(model, targets, steps=steps, negative=True, progress=progress)
    for u in range(n_units):
        for s in range(n_starts):
            i = u * n_starts + s
            atlas.write_png(f"featvis/{layer}/unit-{u:04d}-pos{s}.png", _tile(pos.display[i]))
        atlas.write_png(f"featvis/{layer}/unit-{u:04d}-neg.png", _tile(neg.display[u]))
    atlas.write_json(f"units/{layer}/featvis.json", {
        "n_starts": n_starts, "steps": steps,
        "positive": pos.activations.view(n_units, n_starts).tolist(),
        "negative": neg.activations.tolist()})
    atlas.mark(layer, "featvis", {"units": f"units/{layer}/featvis.json"})


def _tile(image: torch.Tensor) -> Any:
    return image_grid(image.unsqueeze(0), nrow=1, pad=0, scale=max(1, 96 // image.shape[-1]),
                      normalize=None)


def _dream(model: nn.Module, layer: str, steps: int, photo: str, atlas: AtlasStore,
           progress: bool) -> None:
    from ..data.photos import photo as load_photo

    spec = input_spec(model)
    if spec is None or spec.kind != "image" or len(spec.shape) != 3:
        atlas.mark(layer, "dream", {"skipped": "the model takes no images"})
        return
    c, h, w = spec.shape
    x = load_photo(photo, size=max(h, w))[:, :h, :w]
    x = x.mean(0, keepdim=True).expand(c, -1, -1) if c != 3 else x
    dream = visualize(model, layer, init=x.unsqueeze(0), param="pixel", transforms="none",
                      steps=steps, progress=progress)
    atlas.write_png(f"layers/{layer}/dream.png", _tile(dream.display[0]))
    atlas.write_png(f"layers/{layer}/dream-source.png", _tile(x))
    atlas.mark(layer, "dream", {"image": f"layers/{layer}/dream.png", "photo": photo})
