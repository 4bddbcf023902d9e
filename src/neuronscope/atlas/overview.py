"""The overview page of a model: its layers, receptive fields, filters and templates.

This is the first page of the microscope; the per-unit atlas builds on it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from torch import nn

from ..core.errors import NeuronscopeError
from ..core.layers import LayerInfo, layers
from ..core.receptive import receptive_field
from ..core.spec import input_spec
from ..render.grid import save_png
from ..render.html import esc, figure, page, table, write_text
from ..render.kinds import field_size
from ..render.weights import weight_pictures
from .store import AtlasStore

log = logging.getLogger(__name__)


def _weight_figures(model: nn.Module, infos: list[LayerInfo], out: Path) -> list[str]:
    figures = []
    for info, caption, image in weight_pictures(model, infos):
        name = AtlasStore.picture_name("weights", info.name) + ".png"
        save_png(image, out / name)
        figures.append(figure(name, f"{info.name} ({info.module_type}): {caption}"))
    return figures


def _rf_text(model: nn.Module, info: LayerInfo, example: Any) -> str:
    if info.unit_axis is None or len(info.shape) < 2:
        return ""
    try:
        rf = receptive_field(model, info.name, example)
    except NeuronscopeError as err:
        log.info("no receptive field for %s: %s", info.name, err)
        return "?"
    spec = input_spec(model)
    size = field_size(rf.size, getattr(spec, "kind", None), spec)
    stride = "x".join(str(s) for s in rf.stride)
    if not rf.exact:  # cut by the input's border, or recurrent: a lower bound
        return f"at least {size}, stride about {stride}"
    return f"{size}, stride {stride}" + (" (empirical)" if rf.method == "gradient" else "")


def write_overview(model: nn.Module, out: str | Path, title: str = "model",
                   example_input: Any = None) -> Path:
    """Write ``out/index.html`` with the model's layers, receptive fields and weight images.

    Example:
        >>> import torch, tempfile
        >>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(),
        ...                       nn.Linear(4 * 6 * 6, 2))
        >>> path = write_overview(model, tempfile.mkdtemp(), example_input=torch.zeros(1, 3, 8, 8))
        >>> path.name
        'index.html'
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    infos = layers(model, example_input)
    spec = input_spec(model)
    rows = [
        [info.name, info.kind, info.module_type, " x ".join(map(str, info.shape)),
         info.n_units, _rf_text(model, info, example_input)]
        for info in infos
    ]
    n_params = sum(p.numel() for p in model.parameters())
    parts = [f"<h1>{esc(title)}</h1>",
             f"<p>{esc(type(model).__name__)}: {n_params:,} parameters, {len(infos)} "
             "addressable layers.</p>"]
    if spec is not None:
        classes = ", ".join(spec.class_names or []) or "none"
        parts.append(f"<p>Input: {esc(spec.kind)} of shape {esc(spec.shape)}, values in "
                     f"{esc(spec.value_range)}. Classes: {esc(classes)}.</p>")
    metrics = getattr(model, "zoo_metrics", None)
    if isinstance(metrics, dict) and "test_accuracy" in metrics:
        parts.append(f"<p>Test accuracy: {metrics['test_accuracy']:.2%}.</p>")
    parts.append("<h2>Layers</h2>")
    parts.append("<p class='muted'>Address a layer by its name (<code>conv3</code>), a unit "
                 "as <code>conv3:17</code>, one position as <code>conv3:17@4,5</code>. The "
                 "receptive field is the patch of input pixels one unit sees.</p>")
    parts.append(table(rows, ["layer", "kind", "module", "output shape", "units",
                              "receptive field"], numeric=[4]))
    figures = _weight_figures(model, infos, out)
    if figures:
        parts.append("<h2>Weights as images</h2>")
        parts.extend(figures)
    return write_text(out / "index.html", page(f"neuronscope: {title}", "\n".join(parts)))
