"""The README's Python examples run as written, in order, in one namespace, and the names
of DESIGN's contract that exist work as DESIGN shows them.

To keep the suite fast the examples run on a shapes-cnn trained for one short epoch
(same architecture and layer names), on the first 64 test images, and feature
visualizations take 2 optimizer steps; nothing else is changed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch

import neuronscope as ns
import neuronscope.atlas
from neuronscope.atlas.sections import unregister_section

README = Path(__file__).parents[1] / "README.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.fixture()
def fast(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real_data, real_vis = ns.datasets.load, ns.visualize

    def load(name: str, **kwargs: Any) -> torch.nn.Module:
        model, _ = ns.zoo.train(name, n_train=512, n_test=64, epochs=1, progress=False)
        return model

    def data(name: str, **kwargs: Any) -> Any:
        return real_data(name, **{"n": 64, **kwargs}) if name == "shapes" else \
            real_data(name, **kwargs)

    def visualize(*args: Any, **kwargs: Any) -> Any:
        return real_vis(*args, **{**kwargs, "steps": 2, "progress": False})

    monkeypatch.setattr(ns.zoo, "load", load)
    monkeypatch.setattr(ns.datasets, "load", data)
    monkeypatch.setattr(ns, "visualize", visualize)
    monkeypatch.chdir(tmp_path)


def test_readme_python_examples_run(fast: None, tmp_path: Path, capsys: Any) -> None:
    code = blocks()
    assert len(code) >= 5
    namespace: dict[str, Any] = {}
    try:
        for i, block in enumerate(code):
            exec(compile(block, f"README.md python block {i + 1}", "exec"), namespace)
    finally:
        unregister_section("norms")
    assert (tmp_path / "examples.safetensors").is_file()
    assert (tmp_path / "conv4-vis" / "grid.png").is_file()
    assert "holds a neuronscope.ablation_study result" in capsys.readouterr().out
    atlas = ns.atlas.build.AtlasStore(tmp_path / "atlas")  # the README's own section
    assert len(atlas.read_json(atlas.units_json("conv2", "norms"))) == 64
    base, each = namespace["base"], namespace["each"]
    assert isinstance(base, float) and each.shape == (96,)


def test_design_contract_names(fast: None) -> None:
    """The calls of DESIGN.md's contract for the techniques that have landed."""
    model = ns.zoo.load("shapes-cnn")
    assert ns.zoo.names()[:3] == ["shapes-cnn", "digits-mlp", "digits-cnn"]
    data = ns.datasets.load("shapes", split="test")
    assert "shapes" in ns.datasets.names()
    spec = ns.input_spec(model)
    assert spec.shape == (3, 64, 64) and spec.kind == "image" and len(spec.class_names) == 7
    x = torch.stack([data[i][0] for i in range(4)])
    info = {i.name: i for i in ns.layers(model, x)}["conv3"]
    assert (info.kind, info.shape, info.n_units) == ("conv", (96, 8, 8), 96)
    assert ns.Unit.parse("conv3:17@4,5") == ns.Unit("conv3", 17, (4, 5))
    with ns.record(model, ["conv2", "conv3"]) as rec:
        model(x)
    assert rec["conv3"].shape == (4, 96, 8, 8)
    with ns.ablate(model, ["conv3:5", "conv3:9"], value=0.0):
        model(x)
    with ns.ablate(model, ["conv3:5", "conv3:9"], value="mean"):
        model(x)
    assert issubclass(ns.LayerNotFoundError, (ns.NeuronscopeError, KeyError))
    assert issubclass(ns.UnitOutOfRangeError, (ns.NeuronscopeError, IndexError))
    res = ns.top_examples(model, data, layers=["conv3"], k=9, reduce="max", progress=False)
    assert res["conv3"].indices.shape == (96, 9) and res["conv3"].values.shape == (96, 9)
    vis = ns.visualize(model, ["conv3:0", "conv3:1"], size=64, steps=256, seed=0)
    assert vis.images.shape == (2, 3, 64, 64) and vis.activations.shape == (2,)
    study = ns.ablation_study(model, data, layer="conv3", progress=False)
    assert study.importance.shape == (96,)
    assert ns.class_selectivity(model, data, layer="conv3", progress=False).selectivity.shape \
        == (96,)
    rf = ns.receptive_field(model, "conv3", x)
    assert rf.size and rf.stride and rf.offset
    assert ns.project(model, x, "conv3:17", method="guided").attribution.shape == x.shape
