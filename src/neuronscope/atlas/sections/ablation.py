"""The ablation section: each unit's importance (what silencing it alone costs) and its
class selectivity; the layer page orders units by importance. For a language model (one
label per position), named in the build's sections: the accuracy of every next-token
prediction, and no class selectivity."""

from __future__ import annotations

import logging
import random
from typing import Any

import torch
from torch import nn
from torch.utils.data import Subset

from ...core.data import batch_labels
from ...core.units import Unit, find_module
from ...methods.ablation import UnitSweep, unit_sweep
from ...methods.selectivity import class_selectivity
from ..parts import Parted, unit_chunks
from . import Section, register_section

logger = logging.getLogger(__name__)


@register_section
class Ablation(Parted, Section):
    """Computed in parts: the selectivity, and `unit_batch` units of the sweep at a time."""

    name, title, order = "ablation", "Lesion", 30
    options = {"ablation_n": 500, "unit_batch": 64}
    needs = ("labels",)
    per_position = True

    def parts(self, job: Any, layer: str) -> list[Any]:
        """The selectivity (one pass), then the single-unit sweep `unit_batch` units at a
        time."""
        return ["selectivity", *unit_chunks(job.infos[layer].n_units,
                                            job.option("unit_batch", self))]

    def compute_part(self, job: Any, layer: str, part: Any) -> dict[str, Any]:
        subset = Subset(job.data, scored(len(job.data), job.option("ablation_n", self)))
        if part == "selectivity":
            if _per_position(job):  # next tokens: no class per input to be selective for
                return {"selectivity": None}
            sel = class_selectivity(job.model, subset, layer, progress=job.progress)
            return {"selectivity": sel.selectivity.tolist()}
        sweep = unit_sweep(job.model, subset, layer, units=range(*part), progress=job.progress)
        return {"baseline": sweep.baseline, "ablated": sweep.ablated.tolist(), "n": len(subset)}

    def finish_layer(self, job: Any, layer: str, written: list[Any]) -> dict[str, Any]:
        sel, sweeps = written[0]["selectivity"], written[1:]
        baseline = sweeps[0]["baseline"]
        if any(s["baseline"] != baseline for s in sweeps):
            logger.warning("ablation of %s: the baseline differs between parts (%s); the "
                           "first is used", layer, sorted({s["baseline"] for s in sweeps}))
        ablated = torch.tensor([a for s in sweeps for a in s["ablated"]], dtype=torch.float32)
        importance = UnitSweep(layer, "accuracy", baseline, ablated).importance.tolist()
        order = sorted(range(len(importance)), key=lambda u: (-importance[u], u))
        units = job.store.write_json(job.store.units_json(layer, self.name), {
            "baseline": baseline, "n": sweeps[0]["n"], "importance": importance,
            "selectivity": sel, "by_importance": order, "per_position": sel is None,
            "note": _note(job, layer)})
        return {"units": units}

    def unit_html(self, view: Any, layer: str, unit: int) -> str:
        ab = view.units(layer, self.name)
        if not ab:
            return ""
        rank = (f"rank {ab['by_importance'].index(unit) + 1} of {view.n_units(layer)} by "
                "importance." + (f" {view.esc(ab['note'])}" if ab.get("note") else ""))
        if ab["selectivity"] is None:  # a language model: every position scored
            return (f"{view.heading(self)}<p>silenced alone at every position, next-token "
                    f"accuracy changes by {_change(-ab['importance'][unit])} (baseline "
                    f"{ab['baseline']:.4f} over every position of "
                    f"{_scored(view, ab['n'], 'sequences')}); {rank}</p>")
        sel = ab["selectivity"][unit]
        caveat = ("" if 0 <= sel <= 1 else " (outside 0-1: this unit takes negative values, "
                  "and the index is meant for units that never do)")
        return (f"{view.heading(self)}<p>silenced alone, accuracy changes by "
                f"{_change(-ab['importance'][unit])} (baseline {ab['baseline']:.4f} on "
                f"{_scored(view, ab['n'], 'inputs')}); class selectivity {sel:.3f}{caveat}; "
                f"{rank}</p>")

    def unit_order(self, view: Any, layer: str) -> tuple[list[int], str, list[str]] | None:
        ab = view.units(layer, self.name)
        if not ab:
            return None
        notes = [f"({v:+.3f})" for v in ab["importance"]]
        return ab["by_importance"], "most important first (accuracy lost when silenced)", notes


def _per_position(job: Any) -> bool:
    """Whether the data's labels are one per position (a language model's next tokens)."""
    return batch_labels(job.data[0]).dim() == 1


def _note(job: Any, layer: str) -> str | None:
    """What a lesion of `layer` does not reach: torch's own RNN, GRU and LSTM step their
    recurrence in their kernel, on the unsilenced values."""
    module = find_module(job.model, Unit.parse(layer).module_path)
    if not isinstance(module, nn.RNNBase):
        return None
    return (f"{layer} is the output of torch's own {type(module).__name__}: silencing a unit "
            "changes what the layers after it see, not its recurrence, whose later steps run "
            "on the unsilenced values.")


def _change(delta: float) -> str:
    """An accuracy change to four places ("0" for none; one too small to show in
    scientific notation)."""
    if delta == 0:
        return "0"
    return f"{delta:+.4f}" if abs(delta) >= 5e-5 else f"{delta:+.1e}"


def scored(total: int, n: int, seed: int = 0) -> list[int]:
    """The inputs lesions are scored on: all `total`, or `n` of them drawn at random with
    `seed` (the same on every rank and build) and kept in order, so that data sorted by
    class (a folder) are not scored on its first classes alone.

    Example:
        >>> scored(5, 10), len(scored(100, 10)), scored(100, 10) == scored(100, 10)
        ([0, 1, 2, 3, 4], 10, True)
    """
    if n >= total:
        return list(range(total))
    return sorted(random.Random(seed).sample(range(total), n))


def _scored(view: Any, n: int, noun: str) -> str:
    """How many inputs the lesions were scored on, and that they are a sample of more
    where the data hold more (``ablation_n``: ``--ablation-n`` on the command line)."""
    total = view.manifest.get("data", {}).get("n")
    if isinstance(total, int) and total > n:
        return (f"{n:,} of {total:,} {noun}, a fixed random sample: lesions take at most "
                "--ablation-n")
    return f"{n:,} {noun}"
