"""Atlas sections are plug-ins: a section registered from outside the package is built,
stored and shown on the pages with no edit to neuronscope's own files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient

from neuronscope.atlas import Section, build_atlas, register_section, section_names
from neuronscope.atlas.sections import unregister_section
from neuronscope.web.app import create_app

from ..web.atlas_job import tiny_data, tiny_model


class UnitNorms(Section):
    """A toy section: the norm of each unit's incoming weights, with a bar per unit."""

    name, title, order = "norms", "Weight norms", 60
    options = {"norm_p": 2}

    def compute_layer(self, job: Any, layer: str) -> dict[str, Any]:
        module = dict(job.model.named_modules())[layer]
        p = job.option("norm_p", self)
        norms = module.weight.detach().flatten(1).norm(p=p, dim=1).tolist()
        units = job.store.write_json(job.store.units_json(layer, self.name),
                                     {"norms": norms, "p": p})
        return {"units": units}

    def unit_html(self, view: Any, layer: str, unit: int) -> str:
        data = view.units(layer, self.name)
        if not data:
            return ""
        return (f"{view.heading(self)}<p class='norm'>L{data['p']} norm of the weights into "
                f"this unit: {data['norms'][unit]:.4f}</p>")

    def model_html(self, view: Any) -> str:
        return "<p class='norms-model'>weight norms computed</p>"

    def panel(self, view: Any, layer: str, unit: int) -> dict[str, Any]:
        return {"norm_page": view.unit_url(layer, unit)}


@pytest.fixture()
def toy() -> Any:
    register_section(UnitNorms)
    yield
    unregister_section("norms")


def test_a_section_from_outside_is_built_and_shown(toy: Any, tmp_path: Path) -> None:
    assert "norms" in section_names()
    model = tiny_model()
    atlas = build_atlas(model, tiny_data(), str(tmp_path), layers=["conv1", "conv2"],
                        sections=("examples", "norms"), k=2, norm_p=1, progress=False)
    assert atlas.done("conv2", "norms") and atlas.done("conv2", "examples")
    expected = model.conv2.weight.detach().flatten(1).abs().sum(1)[1].item()
    client = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    unit = client.get("/layer/conv2/unit/1").text
    assert "Weight norms" in unit and f"{expected:.4f}" in unit and "L1 norm" in unit
    assert unit.index("Dataset examples") < unit.index("Weight norms")  # by order
    assert "norms-model" in client.get("/").text
    assert client.get("/api/unit/conv2/1").json()["norm_page"] == "/layer/conv2/unit/1"


def test_unknown_sections_and_options_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sections: weights, examples"):
        build_atlas(tiny_model(), tiny_data(), str(tmp_path), sections=("nope",))
    with pytest.raises(TypeError, match="ablation_n"):
        build_atlas(tiny_model(), tiny_data(), str(tmp_path), sections=("examples",), kk=3)


def test_a_section_needing_labels_is_skipped_with_the_reason(tmp_path: Path) -> None:
    images = tiny_data().tensors[0]
    atlas = build_atlas(tiny_model(), images, str(tmp_path), layers=["conv2"],
                        sections=("ablation",), progress=False)
    assert atlas.manifest["layers"]["conv2"]["ablation"] == {"skipped": "the data has no labels",
                                                           "unmet": True}


PLUGIN = '''
from neuronscope.atlas import Section, register_section


@register_section
class Rows(Section):
    name, title = "rows", "Rows"

    def compute_layer(self, job, layer):
        n = job.infos[layer].n_units
        return {"units": job.store.write_json(job.store.units_json(layer, "rows"), list(range(n)))}
'''


def test_the_command_line_loads_a_plugin(tmp_path: Path) -> None:
    from neuronscope.atlas.store import AtlasStore
    from neuronscope.cli import main

    plugin = tmp_path / "my_sections.py"
    plugin.write_text(PLUGIN)
    out = tmp_path / "atlas"
    try:
        code = main(["atlas", "digits-mlp", "--data", "digits", "--layers", "fc1",
                     "--sections", "rows", "--plugin", str(plugin), "--out", str(out)])
        assert code == 0
        atlas = AtlasStore(out)
        assert atlas.read_json(atlas.units_json("fc1", "rows")) == list(range(100))
        assert main(["atlas", "digits-mlp", "--data", "digits", "--plugin",
                     str(tmp_path / "missing.py"), "--out", str(out)]) == 2
    finally:
        unregister_section("rows")


class CharNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(5, 4)
        self.rnn = torch.nn.GRU(4, 3, batch_first=True)
        self.head = torch.nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.rnn(self.emb(x))[0][:, -1])


def test_text_inputs_are_drawn_by_the_text_kind_in_the_atlas(tmp_path: Path) -> None:
    from torch.utils.data import TensorDataset

    from neuronscope.core.spec import InputSpec, attach_spec

    torch.manual_seed(0)
    model = attach_spec(CharNet().eval(), InputSpec(shape=(6,), kind="text", vocab="ab<d\n"))
    tokens = torch.randint(0, 5, (20, 6))
    atlas = build_atlas(model, TensorDataset(tokens, torch.arange(20) % 2), str(tmp_path),
                        layers=["rnn[0]", "head"], k=2, ablation_n=20, progress=False)
    assert atlas.done("rnn[0]", "examples") and "skipped" in atlas.manifest["layers"][
        "rnn[0]"]["featvis"]  # feature visualization makes images: skipped, with the reason
    client = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    page = client.get("/layer/rnn[0]/unit/1").text
    assert page.count("class='snippet'") == 2 + 2 + 5 * 2  # top, bottom, 2 per quantile band
    assert "&lt;" in page  # the text is escaped
    assert re.search(r"rgba\((220, 40, 40|40, 90, 220), (0\.[1-9]|1\.00)", page)  # shaded
    assert "Lesion" in page
    assert "same value on every input" not in page
    layer_page = client.get("/layer/rnn[0]").text
    assert "Inversion" not in layer_page  # a need the model lacks: on the model page only
    home = client.get("/").text
    assert "Not dissected" not in home and "not-computed" in home  # listed once, folded
    gallery = atlas.manifest["sections"]["gallery"]
    assert gallery["skipped"] == "the model takes no images"  # not EfficientNet's targets
    with torch.no_grad():  # a dead unit: the same value on every input
        model.head.weight[1] = 0.0
        model.head.bias[1] = -1.0
    build_atlas(model, TensorDataset(tokens, torch.arange(20) % 2), str(tmp_path / "dead"),
                layers=["head"], sections=("examples",), k=2, progress=False)
    dead = TestClient(create_app(tmp_path / "dead"), base_url="http://127.0.0.1")
    assert "same value on every input" in dead.get("/layer/head/unit/1").text
    assert "same value on every input" not in dead.get("/layer/head/unit/0").text


def test_a_unit_address_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    from neuronscope.core.errors import AddressError

    out = tmp_path / "atlas"
    with pytest.raises(AddressError, match="names a unit"):
        build_atlas(tiny_model(), tiny_data(), str(out), layers=["conv2:1"], progress=False)
    assert not (out / "manifest.json").exists()


def test_an_unreadable_checkpoint_is_mined_again(tmp_path: Path) -> None:
    from neuronscope.atlas.store import AtlasStore

    whole = build_atlas(tiny_model(), tiny_data(), str(tmp_path / "whole"), layers=["conv2"],
                        sections=("examples",), k=2, progress=False)
    store = AtlasStore(tmp_path / "damaged")
    store.manifest["sections"]["examples_plan"] = {"layers": ["conv2"], "key": "k1",
                                                 "reduce": "mean"}
    store.save_manifest()
    store.path(store.work_file("examples", "k1")).parent.mkdir(parents=True)
    store.path(store.work_file("examples", "k1")).write_bytes(b"half a file")
    again = build_atlas(tiny_model(), tiny_data(), str(tmp_path / "damaged"), layers=["conv2"],
                        sections=("examples",), k=2, progress=False)
    units = again.units_json("conv2", "examples")
    assert again.read_json(units) == whole.read_json(units)
    assert not again.path(again.work_file("examples", "k1")).exists()


def test_a_rerun_removes_what_an_interrupted_write_left(tmp_path: Path) -> None:
    out = tmp_path / "atlas"
    build_atlas(tiny_model(), tiny_data(), str(out), layers=["conv2"], sections=("examples",),
                k=2, progress=False)
    stale = out / "examples" / "conv2" / ".unit-0001-top.png.abcd1234.tmp"
    stale.write_bytes(b"half")
    build_atlas(tiny_model(), tiny_data(), str(out), layers=["conv2"], sections=("examples",),
                k=2, progress=False)
    assert not stale.exists() and (out / "examples" / "conv2" / "unit-0001-top.png").is_file()


def test_unit_pages_of_a_linear_unit_say_what_their_numbers_are(tmp_path: Path) -> None:
    build_atlas(tiny_model(), tiny_data(), str(tmp_path), layers=["fc"],
                sections=("featvis", "ablation"), steps=2, ablation_n=24, progress=False)
    client = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    page = client.get("/layer/fc/unit/0").text
    assert "measured by the unit's value" in page and "mean over positions" not in page
    selectivity = float(page.split("class selectivity ")[1].split()[0].rstrip(";"))
    assert (0 <= selectivity <= 1) != ("takes negative values" in page)


def test_a_named_layer_that_does_not_put_the_batch_first_is_refused_before_writing(
        tmp_path: Path) -> None:
    from torch import nn
    from torch.utils.data import TensorDataset

    from neuronscope import NeuronscopeError

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(3, 4, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.gru(x)[0]

    data = TensorDataset(torch.rand(6, 5, 3))
    with pytest.raises(NeuronscopeError, match=r"gru\[1\]: a final state"):
        build_atlas(Net(), data, str(tmp_path / "a"), layers=["gru[0]", "gru[1]"],
                    sections=("examples",), progress=False)
    assert not (tmp_path / "a").exists()
    build_atlas(Net(), data, str(tmp_path / "a"), layers=["gru[0]"], sections=("examples",),
                progress=False)


def test_lesions_of_a_model_that_scores_every_position_need_labels_there(
        tmp_path: Path) -> None:
    from torch.utils.data import TensorDataset

    from neuronscope.core.spec import InputSpec, attach_spec

    class LM(torch.nn.Module):  # logits at every position: [B, T, vocabulary]
        def __init__(self) -> None:
            super().__init__()
            self.emb, self.out = torch.nn.Embedding(5, 4), torch.nn.Linear(4, 5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.emb(x))

    torch.manual_seed(0)
    model = attach_spec(LM().eval(), InputSpec(shape=(6,), kind="text", vocab="abcd\n"))
    one_label = TensorDataset(torch.randint(0, 5, (12, 6)), torch.randint(0, 5, (12,)))
    atlas = build_atlas(model, one_label, str(tmp_path), sections=("examples", "ablation"),
                        k=2, progress=False)  # skipped with the reason, not a traceback
    why = atlas.manifest["layers"]["out"]["ablation"]["skipped"]
    assert why.startswith("the model gives [6, 5] per input and the data one label"), why


def test_per_position_labels_that_do_not_fit_the_output_skip_lesions(tmp_path: Path) -> None:
    from torch.utils.data import TensorDataset

    from neuronscope.core.spec import InputSpec, attach_spec

    torch.manual_seed(0)  # a classifier [batch, classes] given a label per position
    model = attach_spec(CharNet().eval(), InputSpec(shape=(6,), kind="text", vocab="ab<d\n"))
    per_position = TensorDataset(torch.randint(0, 5, (12, 6)), torch.randint(0, 5, (12, 6)))
    atlas = build_atlas(model, per_position, str(tmp_path), layers=["head"],
                        sections=("ablation",), progress=False)  # named, yet it cannot fit
    why = atlas.manifest["layers"]["head"]["ablation"]["skipped"]
    assert why.startswith("the data give a label at each of 6 positions, the model [2]"), why
