"""The feature-visualization section: per unit `n_starts` synthetic inputs that drive it
up and one that drives it down, drawn by the model's input kind (`InputKind.stimulus`:
an image as it is, a spectrogram coloured), with the files the kind keeps beside each
(`InputKind.stimulus_media`: a sound's WAV clip, played under its picture)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ...core.errors import NeuronscopeError
from ...methods.featvis import visualize
from ...render.kinds import InputKind, kind_for
from ...render.kinds.image import tile
from ..parts import Parted, unit_chunks
from . import Section, register_section

__all__ = ["LR", "FeatureVisualization", "tile"]  # tile: dream and inversion draw with it

# The learning rate per input kind when the build names none. A spectrogram model (tones-cnn)
# at 0.2 gets saturated blotches; at 0.05 wavy harmonics for its vibrato units and
# broadband columns for its percussive ones, already 1.8-2.4x the best test input.
LR = {"image": 0.2, "audio": 0.05}


@register_section
class FeatureVisualization(Parted, Section):
    """Computed `unit_batch` units at a time (parts shared among processes)."""

    name, title, order, page_order = "featvis", "Feature visualization", 40, 15
    # 64 steps at lr 0.2 end about where Lucid's 256 at 0.05 do (Adam's steps scale with
    # lr); the last quarter skip the transforms, so the image is tuned to itself as scored.
    # lr None: the input kind's own (`LR`)
    options = {"steps": 64, "n_starts": 2, "lr": None, "polish": 0.25, "unit_batch": 64}
    needs = ("image_or_spectrogram",)
    on_demand = True

    def parts(self, job: Any, layer: str) -> list[Any]:
        return unit_chunks(job.infos[layer].n_units, job.option("unit_batch", self))

    def compute_part(self, job: Any, layer: str, part: Any) -> dict[str, Any]:
        done = self._saved(job, layer, range(*part))
        todo = [u for u in range(*part) if u not in done]
        return {"reused": done, "todo": todo,
                **(self._compute(job, layer, todo, job.progress, None) if todo else {})}

    def write_part(self, job: Any, layer: str, part: Any, result: Any) -> list[Any]:
        numbers = dict(result["reused"])
        if result["todo"]:
            numbers.update(self._write(job, layer, result))
        return [numbers[u] for u in range(*part)]

    def finish_layer(self, job: Any, layer: str, written: list[Any]) -> dict[str, Any]:
        store, numbers = job.store, [n for part in written for n in part]
        media = next((n["media"] for n in numbers if n.get("media")), None)
        units = store.write_json(store.units_json(layer, self.name), {
            **self._settings(job), "positive": [n["positive"] for n in numbers],
            "negative": [n["negative"] for n in numbers], **({"media": media} if media else {})})
        for part in store.unit_jsons(layer, self.name).values():  # merged above
            store.path(part).unlink(missing_ok=True)
        return {"units": units}

    def compute_unit(self, job: Any, layer: str, unit: int,
                     progress: Callable[[float], None] | None = None) -> None:
        numbers = self._write(job, layer, self._compute(job, layer, [unit], False, progress))
        job.store.write_json(job.store.unit_json(layer, self.name, unit), numbers[unit])

    def _saved(self, job: Any, layer: str, units: Any) -> dict[int, dict[str, Any]]:
        """The numbers of those `units` the server computed with the build's settings."""
        store, want = job.store, self._settings(job)
        saved = store.unit_jsons(layer, self.name)
        done = {u: store.read_json(saved[u]) for u in units if u in saved}
        return {u: d for u, d in done.items()
                if {k: d.get(k) for k in want} == want}

    def _settings(self, job: Any) -> dict[str, Any]:
        """What a unit's pictures depend on (kept with its numbers)."""
        kind = getattr(job.spec, "kind", None) or "image"
        return {"steps": job.option("steps", self), "n_starts": job.option("n_starts", self),
                "lr": job.option("lr", self) or LR.get(kind, LR["image"]),
                "polish": job.option("polish", self)}

    def _compute(self, job: Any, layer: str, units: list[int], bar: bool,
                 progress: Callable[[float], None] | None) -> dict[str, Any]:
        """Visualize `units` of `layer` (writes nothing). A unit's images do not depend
        on the others in the batch (see `visualize`) beyond float rounding, so one unit
        computed alone stands in for its share of a whole layer."""
        steps, n_starts = job.option("steps", self), job.option("n_starts", self)
        targets = [f"{layer}:{u}" for u in units]

        def told(offset: int) -> Any:
            return None if progress is None else (
                lambda step, _: progress((offset + step + 1) / (2 * max(steps, 1))))

        opts = {"lr": self._settings(job)["lr"],
                "polish": int(steps * job.option("polish", self))}
        pos = visualize(job.model, targets, steps=steps, n_starts=n_starts, **opts, progress=bar,
                        callback=told(0))
        neg = visualize(job.model, targets, steps=steps, **opts, negative=True, progress=bar,
                        callback=told(steps))
        return {"todo": units, "pos": pos.display, "neg": neg.display,
                "positive": pos.activations.view(len(units), n_starts).tolist(),
                "negative": neg.activations.tolist()}

    def _write(self, job: Any, layer: str, got: dict[str, Any]) -> dict[int, dict[str, Any]]:
        """Write the pictures (and clips) `_compute` made; the numbers of each unit."""
        n_starts, spec = job.option("n_starts", self), job.spec
        kind = _kind(spec, got["pos"][0])
        numbers = {}
        for i, u in enumerate(got["todo"]):
            drawn = [self._draw(job.store, kind, spec, layer, u, f"pos{s}",
                                got["pos"][i * n_starts + s]) for s in range(n_starts)]
            drawn.append(self._draw(job.store, kind, spec, layer, u, "neg", got["neg"][i]))
            numbers[u] = {**self._settings(job), "positive": got["positive"][i],
                          "negative": got["negative"][i],
                          **({"media": drawn[0]} if drawn[0] else {})}
        return numbers

    def _draw(self, store: Any, kind: InputKind, spec: Any, layer: str, unit: int, tag: str,
              display: torch.Tensor) -> dict[str, str] | None:
        """Write one synthetic input's picture and its media (each named by `tag` and its
        suffix); what the media are (suffix, element, MIME type), or None."""
        lo, hi = spec.value_range if spec is not None else (0.0, 1.0)
        x = lo + display * (hi - lo)  # as the data's values
        store.write_png(store.unit_file(self.name, layer, unit, tag), kind.stimulus(x, spec))
        found = None
        for media in kind.stimulus_media(x, spec):
            store.write_bytes(store.unit_file(self.name, layer, unit, tag, media.suffix),
                              media.data)
            found = {"suffix": media.suffix, "element": media.element, "mime": media.mime}
        return found

    def computed_units(self, view: Any, layer: str) -> set[int]:
        if view.entry(layer, self.name):
            return super().computed_units(view, layer)
        return set(view.store.unit_jsons(layer, self.name))

    def _numbers(self, view: Any, layer: str, unit: int) -> dict[str, Any] | None:
        """n_starts, steps, positive (per start) and negative of one unit, or None."""
        fv = view.units(layer, self.name)
        if fv:
            return {"n_starts": fv["n_starts"], "steps": fv["steps"],
                    "positive": fv["positive"][unit], "negative": fv["negative"][unit],
                    "media": fv.get("media")}
        return view.unit_part(layer, self.name, unit)

    def unit_html(self, view: Any, layer: str, unit: int) -> str:
        fv = self._numbers(view, layer, unit)
        if not fv:
            return ""
        media = fv.get("media")
        shown = "".join(self._shown(view, layer, unit, f"pos{s}", f"start {s}", media)
                        for s in range(fv["n_starts"]))
        shape = view.manifest["layers"][layer].get("facts", {}).get("shape", [])
        measure = "the unit's mean over positions" if len(shape) > 1 else "the unit's value"
        played = (" Each plays under its picture (its phases recovered by Griffin-Lim)."
                  if media else "")
        return (f"{view.heading(self)}<div class='row'>{shown}"
                f"{self._shown(view, layer, unit, 'neg', 'negative', media)}</div>"
                f"<p class='muted'>Synthetic {'inputs' if media else 'images'} from noise "
                f"({fv['steps']} steps), measured "
                f"by {measure}{_against_data(view, layer, unit, fv, len(shape) > 1)}"
                f"{played}</p>")

    def _shown(self, view: Any, layer: str, unit: int, tag: str, alt: str,
               media: dict[str, str] | None) -> str:
        """One synthetic input's picture, with its media's player under it when it has
        media (a sound's ``<audio controls>``)."""
        file = view.store.unit_file
        img = view.img(file(self.name, layer, unit, tag), alt)
        if not media:
            return img
        src, element = view.file_url(file(self.name, layer, unit, tag, media["suffix"])), \
            view.esc(media["element"])
        return (f"<figure>{img}<br><{element} controls preload='metadata' title='{view.esc(alt)}' "
                f"src='{view.esc(src)}' style='width: 128px'></{element}></figure>")

    def thumbnail(self, view: Any, layer: str, unit: int) -> str | None:
        if not self._numbers(view, layer, unit):
            return None
        return view.img(view.store.unit_file(self.name, layer, unit, "pos0"), f"unit {unit}")

    def panel(self, view: Any, layer: str, unit: int) -> dict[str, Any]:
        ok = (view.entry(layer, self.name) and "units" in view.entry(layer, self.name)
              or view.unit_part(layer, self.name, unit) is not None)
        url = view.file_url(view.store.unit_file(self.name, layer, unit, "pos0"))
        return {"featvis": url if ok else None}


def _against_data(view: Any, layer: str, unit: int, fv: dict[str, Any], spatial: bool) -> str:
    """The visualizations' values beside the best and worst dataset inputs', when the
    dataset examples were ranked by the same measure."""
    up = ", ".join(f"{a:.3g}" for a in fv["positive"])
    ex = view.units(layer, "examples")
    same = ex and (ex.get("reduce") == "mean" or not spatial)
    if not same:
        return (f". Left: {fv['n_starts']} starts that drive it up ({up}); right: one that "
                f"drives it down ({fv['negative']:.3g}).")
    u, n = ex["units"][unit], f"{ex['count']:,}"
    best, worst = u["top_values"][0], u["bottom_values"][0]
    verdict = ("above" if min(fv["positive"]) > best else
               "not all above" if max(fv["positive"]) > best else "below")
    note = ("" if verdict == "above" else
            f" The optimization did not beat every one of the {n} dataset inputs in "
            f"{fv['steps']} steps: the examples below say more about this unit.")
    return (f", as the dataset examples below are ranked. Left: {fv['n_starts']} starts that "
            f"drive it up ({up}), {verdict} the best of {n} dataset inputs ({best:.3g}); "
            f"right: one that drives it down ({fv['negative']:.3g}; lowest input "
            f"{worst:.3g}).{note}")


def _kind(spec: Any, sample: torch.Tensor) -> InputKind:
    """The input kind that draws the model's synthetic inputs (`kind_for`)."""
    kind = kind_for(spec, sample)
    if kind is None:
        raise NeuronscopeError(f"no input kind draws inputs of shape {list(sample.shape)}")
    return kind
