"""The ablation section: each unit's importance (what silencing it alone costs) and its
class selectivity; the layer page orders units by importance."""

from __future__ import annotations

from typing import Any

from torch.utils.data import Subset

from ...methods.ablation import unit_sweep
from ...methods.selectivity import class_selectivity
from . import Section, register_section


@register_section
class Ablation(Section):
    name, title, order = "ablation", "Lesion", 30
    options = {"ablation_n": 500}
    needs = ("labels",)

    def compute_layer(self, job: Any, layer: str) -> dict[str, Any]:
        n = job.option("ablation_n", self)
        subset = Subset(job.data, range(min(n, len(job.data))))
        sel = class_selectivity(job.model, subset, layer, progress=job.progress)
        sweep = unit_sweep(job.model, subset, layer, progress=job.progress)
        importance = sweep.importance.tolist()
        order = sorted(range(len(importance)), key=lambda u: (-importance[u], u))
        units = job.store.write_json(job.store.units_json(layer, self.name), {
            "baseline": sweep.baseline, "n": len(subset), "importance": importance,
            "selectivity": sel.selectivity.tolist(), "by_importance": order})
        return {"units": units}

    def unit_html(self, view: Any, layer: str, unit: int) -> str:
        ab = view.units(layer, self.name)
        if not ab:
            return ""
        sel = ab["selectivity"][unit]
        caveat = ("" if 0 <= sel <= 1 else " (outside 0-1: this unit takes negative values, "
                  "and the index is meant for units that never do)")
        return (f"{view.heading(self)}<p>silenced alone, accuracy changes by "
                f"{-ab['importance'][unit]:+.4f} (baseline {ab['baseline']:.4f} on {ab['n']} "
                f"inputs); class selectivity {sel:.3f}{caveat}; rank "
                f"{ab['by_importance'].index(unit) + 1} of {view.n_units(layer)} by "
                "importance.</p>")

    def unit_order(self, view: Any, layer: str) -> tuple[list[int], str, list[str]] | None:
        ab = view.units(layer, self.name)
        if not ab:
            return None
        notes = [f"({v:+.3f})" for v in ab["importance"]]
        return ab["by_importance"], "most important first (accuracy lost when silenced)", notes
