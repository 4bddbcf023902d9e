"""The dataset-examples section: per unit its top and bottom examples (drawn by the input
kind: whole images, or crops around the receptive field; shaded text), random examples
from quantile bands, a histogram and statistics. All layers are mined in one pass over
the data.

Inputs are ranked by the unit's mean over positions (option ``reduce="mean"``), the
measure the feature visualizations maximize, so that a unit page compares like with
like; ``reduce="max"`` ranks by the peak and draws crops around it. By default the input
kind chooses (`InputKind.reduce`: text ranks by the peak, each snippet shown around it),
else the mean."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from ...core.data import item_input
from ...core.errors import ResultFileError
from ...methods.examples import TopExamples, top_examples
from ...methods.examples.runs import checkpoint_path
from ...render.kinds import kind_for
from ..drawing import LayerDrawing
from ..parts import run_parts
from . import Section, register_section

logger = logging.getLogger(__name__)


@register_section
class Examples(Section):
    name, title, scope, order = "examples", "Dataset examples", "pass", 20
    options = {"k": 9, "unit_batch": 64, "reduce": None}
    needs = ("data",)
    distributed = True
    on_demand, demand_scope = True, "layer"

    def compute_layers(self, job: Any, layers: list[str]) -> None:
        """One pass for every layer still missing its examples. The set of layers is
        written to the manifest first (the plan), so that a resumed build mines exactly
        the same set with the same checkpoint and writes the same files. Under torchrun
        every rank mines its shard of the data (the results are merged on every rank) and
        draws its share of the units; rank 0 writes."""
        store, ranks = job.store, job.ranks
        plan = store.manifest["sections"].get("examples_plan")
        if plan is None:
            reduce = _reduce(job, self)
            plan = {"layers": layers, "key": _key(layers, reduce), "reduce": reduce}
            store.manifest["sections"]["examples_plan"] = plan
            if ranks.writer:
                store.save_manifest()
        key = plan["key"]
        work = store.path(store.work_file(self.name, key if ranks.world == 1
                                          else f"{key}-of{ranks.world}"))
        own = checkpoint_path(work, ranks.rank, ranks.world)  # this rank's file

        def mine() -> TopExamples:
            return top_examples(job.model, job.data, plan["layers"], k=job.option("k", self),
                                reduce=plan.get("reduce", "max"), progress=job.progress,
                                checkpoint=work)

        try:
            res = mine()
        except ResultFileError as exc:  # a damaged or outdated checkpoint: a cache, redone
            logger.warning("atlas: cannot resume from %s (%s); mining again", own, exc)
            own.unlink(missing_ok=True)
            res = mine()
        arrays = store.arrays_file(self.name, key)
        if ranks.writer:
            store.write_result(arrays, res)
        todo = ranks.share([n for n in plan["layers"] if not store.done(n, self.name)])
        if ranks.world == 1:
            for layer in todo:
                store.mark(layer, self.name, {"arrays": arrays,
                                              "units": self.draw_layer(job, res, layer, arrays)})
        else:
            run_parts(LayerDrawing(self, res, arrays), job, todo,
                      lambda layer, entry: store.mark(layer, self.name, entry))
        del store.manifest["sections"]["examples_plan"]
        if ranks.writer:
            store.save_manifest()
        own.unlink(missing_ok=True)
        rest = ranks.share([n for n in layers if not store.done(n, self.name)])  # rank 0 marks
        if rest:  # asked for now, but not in the plan that was resumed
            self.compute_layers(job, rest)

    def compute_unit(self, job: Any, layer: str, unit: int,
                     progress: Callable[[float], None] | None = None) -> None:
        """Mine and draw the whole layer (one pass over the data serves all its units) as a
        build of this layer alone would, and record it in `AtlasStore.layer_json`."""
        tell = progress or (lambda fraction: None)
        store, reduce, k = job.store, _reduce(job, self), job.option("k", self)
        res = top_examples(job.model, job.data, [layer], k=k, reduce=reduce, progress=False,
                           callback=lambda done, total: tell(0.5 * done / total))
        arrays = store.write_result(store.arrays_file(self.name, _key([layer], reduce)), res)
        drawing = LayerDrawing(self, res, arrays)
        parts = drawing.parts(job, layer)
        written = []
        for i, part in enumerate(parts):
            written.append(drawing.write_part(job, layer, part,
                                              drawing.compute_part(job, layer, part)))
            tell(0.5 + 0.5 * (i + 1) / len(parts))
        store.write_json(store.layer_json(layer, self.name),
                         drawing.finish_layer(job, layer, written))

    def adopts(self, job: Any, layer: str, record: dict[str, Any]) -> bool:
        """A layer mined on demand with this build's ``k`` and ``reduce``."""
        store = job.store
        try:
            units = store.read_json(record["units"])
        except (OSError, ValueError, KeyError, TypeError):
            return False
        return (units.get("reduce") == _reduce(job, self)
                and units.get("k") == job.option("k", self)
                and store.path(str(record.get("arrays", ""))).is_file())

    def draw_layer(self, job: Any, res: TopExamples, layer: str, arrays: str = "") -> str:
        """Every unit's pictures and numbers of one layer; returns its JSON file."""
        entries: dict[str, dict[str, Any]] = {}
        run_parts(LayerDrawing(self, res, arrays), job, [layer], entries.__setitem__)
        return entries[layer]["units"]

    def _pictures(self, view: Any, layer: str, unit: int, ex: dict[str, Any]) -> str:
        ext = ex.get("picture", "png")  # atlases of earlier versions drew PNGs only
        if ext is None:
            return "<p class='muted'>(no input kind draws these inputs: statistics only)</p>"
        file = view.store.unit_file
        media = ex["units"][unit].get("media", {})
        parts = [view.figure(_playable(view.picture(file(self.name, layer, unit, side, ext),
                                                    f"{side} examples"),
                                       _players(view, media, side)), caption)
                 for side, caption in (("top", "highest"), ("bottom", "lowest"))]
        if ex["units"][unit].get("random", True):
            parts.append(view.figure(
                _playable(view.picture(file(self.name, layer, unit, "random", ext),
                                       "random examples"), _players(view, media, "random")),
                "random, by quantile band (low to high)"))
        return "".join(parts)

    def unit_html(self, view: Any, layer: str, unit: int) -> str:
        ex = view.units(layer, self.name)
        if not ex:
            return ""
        u = ex["units"][unit]
        shape = view.manifest["layers"].get(layer, {}).get("facts", {}).get("shape", [0, 0])
        measure = (_MEASURE.get(ex["reduce"], view.esc(ex["reduce"])) if len(shape) > 1
                   else "value")  # a unit without positions
        same = ("<p class='muted'>This unit takes the same value on every input (saturated "
                "or dead): its highest and lowest examples are in no particular order.</p>"
                if u["std"] <= 1e-6 * max(1.0, abs(u["mean"])) else "")
        shows = (f"<p class='muted'>Pictures show {view.esc(ex['shows'])}.</p>"
                 if ex.get("shows") and ex.get("picture", "png") is not None else "")
        return (f"{view.heading(self)}{same}{shows}{self._pictures(view, layer, unit, ex)}"
                f"<h2>Activation ({measure} per input)</h2>"
                f"<p>mean {u['mean']:.3g}, std {u['std']:.3g}, positive {u['positive']:.0%} of "
                f"{ex['count']:,} inputs</p>{_histogram(u['hist'], u['edges'])}")

    def thumbnail(self, view: Any, layer: str, unit: int) -> str | None:
        """The unit's first top example (the left end of its strip, cut by CSS), for layers
        whose units have no feature visualization yet; for text, its brief (a few shaded
        words around the peak)."""
        ex = view.units(layer, self.name)
        if ex and ex["units"][unit].get("brief"):  # text: a few shaded words
            return ex["units"][unit]["brief"]
        if not ex or ex.get("picture", "png") not in IMAGES:
            return None
        return view.img(view.store.unit_file(self.name, layer, unit, "top",
                                             ex.get("picture", "png")),
                        f"unit {unit}: its top example", "first-example")

    def panel(self, view: Any, layer: str, unit: int) -> dict[str, Any]:
        ex = view.units(layer, self.name)
        ext = ex.get("picture", "png") if ex is not None else None
        return {"top": view.file_url(view.store.unit_file(self.name, layer, unit, "top", ext))
                if ext in IMAGES else None}


def _players(view: Any, media: dict[str, list[dict[str, str]]], side: str) -> str:
    """The files kept beside one side's examples (sound clips), each in its element under
    its example (a row as wide as the strip of pictures), in the examples' order, with
    its title (item and class) under it."""
    rows = []
    for i, m in enumerate(media.get(side, [])):
        title = view.esc(m.get("title") or f"example {i + 1}")  # (atlases before titles)
        rows.append(
            f"<div class='player' style='flex: 1; min-width: 0; width: 0'>"
            f"<{m['element']} controls preload='metadata' title='{title}' "
            f"src='{view.esc(view.file_url(m['file']))}' type='{view.esc(m['mime'])}' "
            f"style='width: 100%'></{m['element']}><div class='muted' style='font-size: "
            f"11px; overflow-wrap: anywhere'>{title}</div></div>")
    return (f"<div class='players' style='display: flex; gap: 3px; width: 0; "
            f"min-width: 100%'>{''.join(rows)}</div>" if rows else "")


def _playable(picture: str, players: str) -> str:
    """A picture with its players under it, kept at its own size (scrolling sideways on
    a narrow page), so that each player stays as wide as its example and keeps its
    buttons; the picture alone when nothing plays."""
    return f"<div class='playable'><div>{picture}{players}</div></div>" if players else picture


def _reduce(job: Any, section: Section) -> str:
    """The ranking asked for, else the one the data's input kind prefers, else the mean."""
    asked = job.option("reduce", section)
    if asked is not None:
        return asked
    kind = kind_for(job.spec, item_input(job.data, 0)) if job.data is not None else None
    return (kind.reduce if kind is not None else None) or "mean"


def _key(layers: list[str], reduce: str) -> str:
    """The name of the arrays file of the layers mined in one pass."""
    return hashlib.sha256("|".join([*layers, reduce]).encode()).hexdigest()[:8]


IMAGES = ("png", "jpg")  # the pictures of image inputs (text kinds draw HTML)
_MEASURE = {"mean": "mean over positions", "max": "maximum over positions"}


def _histogram(hist: list[int], edges: list[float]) -> str:
    """The histogram as SVG bars, its empty bins at either end left out (the streaming
    bins are aligned to powers of two, so they may reach past the data)."""
    filled = [i for i, c in enumerate(hist) if c]
    if filled:
        hist, edges = hist[filled[0]:filled[-1] + 1], edges[filled[0]:filled[-1] + 2]
    top = max(hist) or 1
    w = 4
    bars = "".join(f"<rect x='{i * w}' y='{60 - 60 * c / top:.1f}' width='{w - 1}' "
                   f"height='{60 * c / top:.1f}'/>" for i, c in enumerate(hist))
    return (f"<svg class='hist' viewBox='0 0 {len(hist) * w} 60' width='{len(hist) * w * 2}' "
            f"height='120'>{bars}</svg><div class='muted'>from {edges[0]:.3g} to "
            f"{edges[-1]:.3g}</div>")
