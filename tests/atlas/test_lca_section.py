"""The lca section of the atlas: the model page links the LCA report when the atlas holds
one (drawn by the build from a run, or written there by the run itself), says which run
it was, and warns when the run is of another model."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient
from torch import nn
from torch.utils.data import TensorDataset

from neuronscope.atlas import build_atlas, register_section, section_names
from neuronscope.atlas.sections import unregister_section
from neuronscope.atlas.store import AtlasStore
from neuronscope.atlas.view import AtlasView
from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.spec import InputSpec, attach_spec
from neuronscope.methods.lca import train_with_lca
from neuronscope.render.lca_report import FIGURES
from neuronscope.web.app import create_app
from neuronscope.web.pages import model_page


@pytest.fixture()
def section() -> Any:
    """The section module, registered for the test only (unless it is a built-in)."""
    from neuronscope.atlas.sections import lca as module

    built_in = "lca" in section_names()
    register_section(module.LossChangeAllocation)
    yield module
    if not built_in:
        unregister_section("lca")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    train_with_lca("digits-mlp", epochs=1, n_train=64, out=out, progress=False)
    return out


def _model() -> nn.Module:
    torch.manual_seed(0)  # the same weights in every build of one atlas
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 4)).eval()
    return attach_spec(net, InputSpec(shape=(1, 8, 8), class_names=list("abcd")))


def _data() -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.rand(8, 1, 8, 8, generator=g), torch.arange(8) % 4)


def _build(out: Path, name: str = "zoo:digits-mlp", **options: Any) -> AtlasStore:
    return build_atlas(_model(), _data(), str(out), sections=("lca",), name=name,
                       progress=False, **options)


def test_build_draws_the_report_and_the_model_page_links_it(section: Any, run: Path,
                                                            tmp_path: Path) -> None:
    store = _build(tmp_path, lca=str(run))
    entry = store.manifest["sections"]["lca"]
    assert entry["report"] == section.REPORT and entry["model"] == "digits-mlp"
    assert entry["steps"] > 0 and isinstance(entry["backwards"], list)
    for name in (*FIGURES, "index.html", "lca.safetensors"):
        assert (tmp_path / section.FOLDER / name).is_file(), name
    html = model_page(AtlasView(store))
    assert "href='/files/lca/index.html'>Loss change allocation</a>" in html
    assert f"{entry['steps']} steps" in html and "Caution" not in html


def test_no_report_no_link_until_one_appears(section: Any, run: Path, tmp_path: Path) -> None:
    store = _build(tmp_path)
    assert "skipped" in store.manifest["sections"]["lca"]
    assert "Loss change allocation" not in model_page(AtlasView(store))
    shutil.copytree(run, tmp_path / section.FOLDER)  # as `neuronscope lca --out ATLAS/lca`
    (tmp_path / section.FOLDER / "index.html").write_text("<p>report</p>")
    assert "Loss change allocation</a>" in model_page(AtlasView(AtlasStore(tmp_path)))
    store = _build(tmp_path)  # the build notices it and records which run it is
    assert store.manifest["sections"]["lca"]["model"] == "digits-mlp"


def test_a_run_of_another_model_is_flagged(section: Any, run: Path, tmp_path: Path) -> None:
    store = _build(tmp_path, name="zoo:shapes-cnn", lca=str(run / "lca.safetensors"))
    assert "<b>Caution</b>: the run is of digits-mlp" in model_page(AtlasView(store))


def test_served(section: Any, run: Path, tmp_path: Path) -> None:
    _build(tmp_path, lca=str(run))
    client = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    assert "/files/lca/index.html" in client.get("/").text
    page = client.get("/files/lca/index.html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for name in FIGURES:
        got = client.get(f"/files/lca/{name}")
        assert got.status_code == 200 and got.headers["content-type"] == "image/png"


def test_a_wrong_run_fails_first(section: Any, tmp_path: Path) -> None:
    with pytest.raises(NeuronscopeError, match="holds no lca.safetensors"):
        build_atlas(_model(), _data(), str(tmp_path), sections=("weights", "lca"),
                    lca=str(tmp_path / "nowhere"), progress=False)
    assert "weights" not in AtlasStore(tmp_path).manifest["sections"]  # nothing done before
