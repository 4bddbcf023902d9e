"""The HTML report of a dissection: per layer the detectors and unique concepts by
category beside the null baselines' detectors, the Figure-4 chart, and one row per
detector (label, IoU, the causal check, runners-up, its outlined top images)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .dissect import counts
from .html import esc, figure, page, table, write_text


def _num(value: Any, digits: int = 3) -> str:
    value = float(value)
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def layer_rows(found: Mapping[str, Any], controls: Mapping[str, Mapping[str, Any]]
               ) -> list[list[Any]]:
    """One row per layer: units, detectors, unique concepts (by category), each control's
    detectors, and how many labels the causal check confirmed of those it could score.

    Example:
        >>> import torch
        >>> from neuronscope.methods.dissect import Dissection
        >>> d = Dissection("conv1", ["color:red"], torch.ones(2), torch.tensor([[0.5], [0.0]]),
        ...                0.005, 0.04, 10)
        >>> layer_rows({"conv1": d}, {"rotation": {"conv1": d}})
        [['conv1', 2, 1, '1 (color 1)', '1 (1 unique)', 'not run']]
    """
    rows = []
    for c in counts(found):
        d = found[c["layer"]]
        cats = ", ".join(f"{k} {v}" for k, v in c["by_category"].items() if v)
        scored = ([u for u in d.detectors if not math.isnan(float(d.faithfulness[u]))]
                  if d.faithfulness is not None else [])
        causal = ("not run" if d.faithfulness is None else
                  f"{len(d.confirmed)} of {len(scored)}" if scored else "-")
        rows.append([c["layer"], c["units"], c["detectors"],
                     f"{c['unique']} ({cats})" if cats else "0",
                     *[_control(control[c["layer"]]) for control in controls.values()],
                     causal])
    return rows


def _control(d: Any) -> str:
    """A control's detectors and the unique concepts they detect."""
    return f"{len(d.detectors)} ({len({d.concepts[u] for u in d.detectors})} unique)"


def warnings(found: Mapping[str, Any], controls: Mapping[str, Mapping[str, Any]]
             ) -> list[str]:
    """What a reader must know before trusting the labels: layers where a null baseline
    finds as many detectors as the real dissection, and units whose top region is a
    handful of inputs."""
    meaning = {"rotation": "random directions of the layer are detectors as often as its "
                           "units: here interpretability is not aligned with the units",
               "shuffled masks": "its labels are no better than chance"}
    out = []
    for name, d in found.items():
        for c, control in controls.items():
            if d.detectors and len(control[name].detectors) >= len(d.detectors):
                out.append(f"{name}: the {c} control finds as many detectors "
                           f"({len(control[name].detectors)} against {len(d.detectors)}): "
                           f"{meaning.get(c, 'compare with care')}")
    return out


def unit_rows(d: Any, pictures: Mapping[int, str]) -> str:
    """The detectors of one layer, best IoU first, as an HTML table with pictures."""
    out = []
    for u in sorted(d.detectors, key=lambda u: -d.ious[u]):
        faith = "-" if d.faithfulness is None else _num(d.faithfulness[u])
        z = "-" if d.causal_z is None else _num(d.causal_z[u], 1)
        runners = ", ".join(f"{c} {v:.3f}" for c, v in d.runners_up(u))
        img = (f'<img src="{esc(pictures[u])}" alt="unit {u}" style="max-width:640px">'
               if u in pictures else "")
        out.append(f"<tr><td>{u}</td><td>{esc(d.concepts[u])}</td>"
                   f'<td class="num">{d.ious[u]:.3f}</td><td class="num">{faith}</td>'
                   f'<td class="num">{z}</td><td>{esc(runners)}</td><td>{img}</td></tr>')
    head = "".join(f"<th>{h}</th>" for h in ("unit", "concept", "IoU", "faithfulness", "z",
                                              "runners-up", "top images"))
    return f"<table><tr>{head}</tr>{''.join(out)}</table>"


def write_report(path: str | Path, title: str, found: Mapping[str, Any],
                 controls: Mapping[str, Mapping[str, Any]], chart: str,
                 pictures: Mapping[str, Mapping[int, str]]) -> Path:
    """Write the report page; `chart` and `pictures` are paths relative to it."""
    first = next(iter(found.values()))
    header = ["layer", "units", "detectors", "unique concepts",
              *[f"{c} control: detectors" for c in controls], "causal check: confirmed"]
    body = [f"<h1>{esc(title)}</h1>",
            f'<p class="muted">{first.n:,} inputs, {len(first.concept_names)} concepts; '
            f"threshold: each unit's top {first.quantile:g} quantile; detector: IoU &ge; "
            f"{first.iou_threshold:g}."
            + (" Faithfulness: the share of the network's evidence for the concept that "
               "silencing the unit takes away where the concept is; confirmed when z &ge; 3; "
               "'-' where the network's classes hold no evidence for the concept (no class "
               "of its name, none that goes with it)." if first.faithfulness is not None
               else " The causal check was not run.")
            + (" Controls (null baselines): the same dissection of a random rotation of the "
               "layer's channels, and of masks shuffled across inputs." if controls
               else " No control was run.") + "</p>",
            *[f'<p class="muted"><b>Caution</b>: {esc(w)}.</p>'
              for w in warnings(found, controls)],
            table(layer_rows(found, controls), header, numeric=[1, 2]),
            figure(chart, "unique concepts and detectors per layer, by category")]
    for name, d in found.items():
        body += [f"<h2>{esc(name)}: {len(d.detectors)} detectors</h2>",
                 unit_rows(d, pictures.get(name, {}))]
    return write_text(path, page(title, "\n".join(body)))
