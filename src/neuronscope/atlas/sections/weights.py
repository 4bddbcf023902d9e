"""The weights section: first-layer filters and linear templates, as pictures."""

from __future__ import annotations

from typing import Any

import torch

from ...core.units import Unit, find_module
from ...render.weights import weight_image
from . import Section, register_section


@register_section
class Weights(Section):
    """The first conv layer's filters and the templates of a linear layer that sees the
    whole input, drawn once for the model."""

    name, title, scope, order = "weights", "Weights", "model", 10

    def compute_model(self, job: Any) -> dict[str, Any]:
        spec = job.spec
        first_conv = next((n for n, i in job.infos.items() if i.kind == "conv"), None)
        n_inputs = None if spec is None else int(torch.tensor(spec.shape).prod())
        files = {}
        for name, info in job.infos.items():
            module = find_module(job.model, Unit.parse(name).module_path)
            on_input = (info.kind == "linear" and n_inputs is not None
                        and getattr(module, "in_features", None) == n_inputs)
            if name == first_conv or on_input:
                image = weight_image(module, input_shape=spec.shape if spec else None,
                                     class_names=spec.class_names if spec else None)
                files[name] = job.store.write_png(job.store.model_file(f"weights-{name}.png"),
                                                  image)
        return files

    def model_html(self, view: Any) -> str:
        files = view.manifest.get("sections", {}).get(self.name, {})
        figures = "".join(view.figure(view.img(f, f"weights of {name}", "weights"), name)
                          for name, f in files.items())
        return view.heading(self) + figures if figures else ""
