"""Drawing a layer's dataset examples with the input kind that fits the data: used by the
atlas's examples section and by the dataset-examples pages alike (`ExampleDrawer`), and
the examples section's drawing of whole layers in parts (`LayerDrawing`)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..core.data import as_dataset, item_input
from ..core.errors import NeuronscopeError
from ..methods.examples import LayerExamples, TopExamples
from ..methods.examples.show import (
    Shown,
    display_inputs,
    field_of,
    item_sources,
    item_titles,
    spec_of,
    time_field,
    traces_table,
    unit_examples,
)
from ..methods.examples.steps import Along, tell_past_end
from ..render.kinds import InputKind, Media, Picture, kind_for
from .parts import Parted, unit_chunks

logger = logging.getLogger(__name__)

TABLE_BYTES = 512 * 1024**2  # a layer's traces over its examples up to this are made at once


class ExampleDrawer:
    """Pictures of one layer's examples; ``kind`` is None when no input kind can draw the
    data (then only statistics are shown).

    Example:
        >>> import torch, torch.nn as nn, neuronscope as ns
        >>> model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
        >>> x = torch.rand(10, 1, 8, 8)
        >>> drawer = ExampleDrawer(model, x, ns.top_examples(model, x, k=3, progress=False)["0"])
        >>> drawer.kind.name, drawer.unit(1).mode
        ('image', 'RGB')
    """

    def __init__(self, model: nn.Module, data: Any, ex: LayerExamples) -> None:
        self.model, self.data, self.ex = model, as_dataset(data), ex
        self.spec = spec_of(model, data)
        sample = item_input(self.data, 0)
        self.kind: InputKind | None = kind_for(self.spec, sample)
        self.photo = self.kind is not None and self.kind.photographic(sample)  # JPEG
        self.field, self.kept = None, {}
        self.clips: dict[int, Media] = {}  # item -> its file, titled (`media`)
        self.read: dict[int, torch.Tensor] = {}  # the inputs `samples` read last
        self.table, self.table_units, self.table_rows = None, [], {}
        if self.kind is not None and self.kind.needs_field and ex.spatial_shape and \
                ex.reduce == "max":  # ranked by a mean over positions: the whole input
            try:
                self.field = field_of(model, ex, self.data)
            except NeuronscopeError as exc:  # whole inputs instead of crops
                logger.info("no receptive field for %s (%s): whole inputs shown", ex.layer, exc)
        self.how = Along()  # how traces are laid along the input's steps
        if self.kind is not None and self.kind.needs_traces:
            steps = sample.shape[-1]
            self.how = Along(time_field(model, ex, self.data, steps, known=self.field),
                             self.kind.trace_width)
            tell_past_end(model, ex.layer, ex.spatial_shape, steps)

    def unit(self, unit: int, bottom: bool = False) -> Picture | None:
        """The unit's top (or bottom) examples, or None when the kind is unknown."""
        if self.kind is None:
            return None
        return self.kind.examples(self.shown(unit, bottom))

    def shown(self, unit: int, bottom: bool = False) -> Shown:
        """What drawing the unit's top (or bottom) examples takes (`unit_examples`); the
        last unit's are kept, for its media and brief."""
        assert self.kind is not None
        if (unit, bottom) not in self.kept:
            if all(u != unit for u, _ in self.kept):
                self.kept.clear()
            traces: Any = self.kind.needs_traces
            if traces and unit in self.table_units:
                column = self.table_units.index(unit)
                traces = lambda indices: torch.stack(  # noqa: E731
                    [self.table[self.table_rows[i], column] for i in indices])
            self.kept[unit, bottom] = unit_examples(
                self.model, self.data, self.ex, unit, bottom=bottom, field=self.field,
                traces=traces, sources=self.kind.sources, how=self.how)
        return self.kept[unit, bottom]

    def prepare(self, units: list[int], bands: Any = None) -> None:
        """Compute the traces of `units` (a part of the layer) over all their examples in
        one pass, for kinds that show every step (text): one forward per batch of inputs
        rather than two per unit. `bands` [units, ...]: the layer's random examples by
        quantile band, shaded too."""
        if self.kind is None or not self.kind.needs_traces or set(units) <= set(
                self.table_units):
            return
        ex = self.ex
        every = list(range(ex.n_units))
        rows = self._rows(every, bands)
        width = min(item_input(self.data, 0).shape[-1], self.how.width or 1 << 62)
        if len(rows) * len(every) * width * 4 <= TABLE_BYTES:
            units = every  # the whole layer in one pass
        else:
            rows = self._rows(units, bands)
        self.table = traces_table(self.model, self.data, ex, list(units), rows, how=self.how)
        self.table_units, self.table_rows = list(units), {i: r for r, i in enumerate(rows)}

    def _rows(self, units: list[int], bands: Any = None) -> list[int]:
        """The examples of `units`, top and bottom (and in `bands`)."""
        ex = self.ex
        return sorted({int(i) for u in units for i in
                       [*ex.indices[u].tolist(), *ex.bottom_indices[u].tolist(),
                        *([] if bands is None else bands[u].flatten().tolist())] if i >= 0})

    def media(self, unit: int, bottom: bool = False) -> list[Media]:
        """The files the kind keeps beside the examples' picture (`InputKind.media`), each
        titled by its item and class (the unit's value is under its picture)."""
        if not self._plays():
            return []
        shown = self.shown(unit, bottom)
        return self._files(shown.indices, lambda missing: [
            shown.inputs[shown.indices.index(i)] for i in missing])

    def sample_media(self, indices: list[int]) -> list[Media]:
        """`media` of the inputs at `indices` (the random examples by quantile band)."""
        if not self._plays() or not indices:
            return []
        return self._files(indices, lambda missing: [
            self.read[i] if i in self.read else display_inputs(self.model, self.data, [i])[0]
            for i in missing])

    def _plays(self) -> bool:
        return self.kind is not None and type(self.kind).media is not InputKind.media

    def _files(self, indices: list[int], inputs: Callable[[list[int]], list[torch.Tensor]]
               ) -> list[Media]:
        """The media of the items at `indices`, each made once however many units show it
        (an item's files are its own: the same for every unit) and titled by its item and
        class; none when the kind cannot make them (a sound it cannot play)."""
        assert self.kind is not None
        missing = [i for i in dict.fromkeys(indices) if i not in self.clips]
        if missing:
            sources = (item_sources(self.data, missing, self.kind.sources)
                       if self.kind.sources else None)
            made = self.kind.media(Shown(self.ex.layer, -1, False, missing, [],
                                         inputs(missing), [], spec=self.spec,
                                         sources=sources))
            if len(made) != len(missing):
                return []
            titles = item_titles(self.data, missing, getattr(self.spec, "class_names", None))
            self.clips.update({i: dataclasses.replace(m, title=t)
                               for i, m, t in zip(missing, made, titles, strict=True)})
        return [self.clips[i] for i in indices]

    def brief(self, unit: int) -> str | None:
        """A few words' worth of the unit's top examples (`InputKind.brief`), or None."""
        if self.kind is None:
            return None
        if type(self.kind).brief is InputKind.brief:
            return None
        return self.kind.brief(self.shown(unit))

    def samples(self, indices: list[int], unit: int | None = None) -> Picture | None:
        """The inputs at `indices` side by side (None for none or an unknown kind); for a
        kind that shows every step (text), shaded by `unit` where its traces are at hand."""
        if self.kind is None or not indices:
            return None
        inputs = display_inputs(self.model, self.data, indices)
        self.read = dict(zip(indices, inputs, strict=True))  # for `sample_media` next
        if (unit is not None and self.kind.needs_traces and unit in self.table_units
                and all(i in self.table_rows for i in indices)):
            column = self.table_units.index(unit)
            traces = torch.stack([self.table[self.table_rows[i], column] for i in indices])
            return self.kind.samples(inputs, self.spec, traces=traces)
        return self.kind.samples(inputs, self.spec)

    def where(self) -> str:
        """What the pictures show, in words."""
        if self.kind is None:
            return "whole inputs"
        field = (self.kind.field_size(self.field.size, self.spec)
                 if self.field is not None and not self.field.is_global else None)
        positions = bool(self.ex.spatial_shape) and any(n > 1 for n in self.ex.spatial_shape)
        return self.kind.describe(positions, field)


class LayerDrawing(Parted):
    """The examples section's pictures and numbers of mined layers, `unit_batch` units per
    part (`neuronscope.atlas.parts`): drawn on any rank, written by rank 0."""

    name = "examples"

    def __init__(self, section: Any, res: TopExamples, arrays: str) -> None:
        self.section, self.res, self.arrays = section, res, arrays
        self.options = section.options
        self.drawn: dict[str, tuple[ExampleDrawer, Any, Any]] = {}

    def settings(self, job: Any) -> dict[str, Any]:
        return {"k": job.option("k", self.section), "arrays": self.arrays,
                "unit_batch": job.option("unit_batch", self.section),
                "content": self.res.info.get("content")}

    def parts(self, job: Any, layer: str) -> list[Any]:
        return unit_chunks(self.res[layer].n_units, job.option("unit_batch", self.section))

    def _layer(self, job: Any, layer: str) -> tuple[ExampleDrawer, Any, Any]:
        """The layer's drawer, histograms and quantile-band examples (made once)."""
        if layer not in self.drawn:
            ex = self.res[layer]
            self.drawn[layer] = (ExampleDrawer(job.model, job.data, ex), ex.histogram(),
                                 ex.quantile_examples(bands=5, per_band=2))
        return self.drawn[layer]

    def compute_part(self, job: Any, layer: str, part: Any) -> dict[str, Any]:
        drawer, (counts, edges), (q_index, q_values) = self._layer(job, layer)
        ex, pictures, units = self.res[layer], [], []
        drawer.prepare(list(range(*part)), q_index)
        for u in range(*part):
            media: dict[str, list[Media]] = {}
            for side in ("top", "bottom"):
                picture = drawer.unit(u, bottom=side == "bottom")
                if picture is not None:
                    pictures.append((u, side, picture))
                    media[side] = drawer.media(u, bottom=side == "bottom")
            picked = [int(i) for i in q_index[u].flatten().tolist() if i >= 0]
            sample = drawer.samples(picked, u)
            if sample is not None:
                pictures.append((u, "random", sample))
                media["random"] = drawer.sample_media(picked)
            units.append({
                "top": ex.indices[u].tolist(), "top_values": ex.values[u].tolist(),
                "bottom": ex.bottom_indices[u].tolist(),
                "bottom_values": ex.bottom_values[u].tolist(),
                "mean": float(ex.mean[u]), "std": float(ex.std[u]),
                "positive": float(ex.frac_positive[u]), "hist": counts[u].tolist(),
                "edges": edges[u].tolist(), "bands": q_index[u].tolist(),
                "band_values": q_values[u].nan_to_num(0).tolist(),
                "random": bool(picked) and sample is not None})
            brief = drawer.brief(u)
            if brief is not None:
                units[-1]["brief"] = brief
            if any(media.values()):
                units[-1]["media"] = media
        return {"pictures": pictures, "units": units, "photo": drawer.photo}

    def write_part(self, job: Any, layer: str, part: Any, result: Any) -> dict[str, Any]:
        store, kinds = job.store, set()
        for u, entry in zip(range(*part), result["units"], strict=True):
            if "media" in entry:  # kept as files: the units' JSON names them
                entry["media"] = {side: [
                    {"file": self._keep(store, layer, u, f"{side}-{i}", m),
                     "element": m.element, "mime": m.mime, "title": m.title}
                    for i, m in enumerate(files)]
                    for side, files in entry["media"].items()}
        for u, tag, picture in result["pictures"]:
            path = store.write_picture(store.unit_file(self.name, layer, u, tag, ""), picture,
                                       photo=result.get("photo", False))
            if tag != "random":
                kinds.add(path.rsplit(".", 1)[1])
        return {"units": result["units"], "kinds": sorted(kinds)}

    def _keep(self, store: Any, layer: str, unit: int, tag: str, media: Media) -> str:
        """Write one medium: a dataset item's once for the whole atlas, else the unit's."""
        if media.key is None:
            return store.write_bytes(store.unit_file(self.name, layer, unit, tag,
                                                     media.suffix), media.data)
        relative = store.item_file(self.name, media.key, media.suffix)
        return relative if store.path(relative).is_file() else \
            store.write_bytes(relative, media.data)

    def finish_layer(self, job: Any, layer: str, written: list[Any]) -> dict[str, Any]:
        ex, kinds = self.res[layer], sorted({k for w in written for k in w["kinds"]})
        units = job.store.write_json(job.store.units_json(layer, self.name), {
            "layer": layer, "reduce": ex.reduce, "k": job.option("k", self.section),
            "count": ex.count,
            "units": [u for w in written for u in w["units"]],
            "picture": kinds[0] if kinds else None, "shows": self._layer(job, layer)[0].where()})
        self.drawn.pop(layer, None)  # its drawer (and the clips it keeps) is done with
        return {"arrays": self.arrays, "units": units}
