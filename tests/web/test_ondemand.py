"""The atlas on demand: a unit's feature visualization computed when its page is opened
(in a real uvicorn and Chromium), one job for two viewers, counts on the layer page, and a
later build that reuses what the server stored and ends with a full build's files (its
numbers to float rounding)."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from neuronscope.atlas.build import build_atlas
from neuronscope.atlas.ondemand import UnitComputer
from neuronscope.atlas.store import AtlasStore
from neuronscope.web.app import create_app

from .atlas_job import tiny_data, tiny_model
from .live_server import served, watch_computed
from .test_browser import CHROMIUM

LOCAL = "http://127.0.0.1"
OPTS = {"name": "tiny", "data_name": "random", "k": 3, "progress": False}


def bare_atlas(factory: pytest.TempPathFactory, *sections: str) -> Path:
    """The tiny model's atlas with only `sections` built (the rest left to the server)."""
    out = factory.mktemp("bare")
    build_atlas(tiny_model(), tiny_data(), str(out), sections=sections, **OPTS)
    return out


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An atlas with dataset examples and no feature visualizations."""
    return bare_atlas(tmp_path_factory, "examples")


def slowed(monkeypatch: pytest.MonkeyPatch) -> list[tuple[object, ...]]:
    """Make every on-demand computation take 0.5 s longer; the list records each call."""
    calls: list[tuple[object, ...]] = []
    real = UnitComputer.compute

    def slow(self: UnitComputer, *args: object, **kwargs: object) -> None:
        calls.append(args)
        time.sleep(0.5)
        real(self, *args, **kwargs)

    monkeypatch.setattr(UnitComputer, "compute", slow)
    return calls


def copy_of(bare: Path, tmp_path: Path) -> Path:
    """A copy of an atlas that a test may change."""
    return Path(shutil.copytree(bare, tmp_path / "atlas"))


@pytest.fixture
def atlas(bare: Path, tmp_path: Path) -> Path:
    return copy_of(bare, tmp_path)


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_a_build_reuses_units_computed_on_demand_and_ends_as_a_full_build(
        atlas: Path, bare: Path, tmp_path: Path) -> None:
    computer = UnitComputer(tiny_model(), AtlasStore(atlas), steps=3)
    computer.compute("featvis", "conv1", 2)
    computer.compute("featvis", "fc", 0)
    store = AtlasStore(atlas)
    assert sorted(store.unit_jsons("conv1", "featvis")) == [2]
    assert store.path(store.unit_file("featvis", "conv1", 2, "pos0")).is_file()
    assert not store.done("conv1", "featvis")  # the manifest is the build's alone
    served = {(layer, unit): store.read_json(store.unit_json(layer, "featvis", unit))
              for layer, unit in (("conv1", 2), ("fc", 0))}
    pictures = {name: data for name, data in files(atlas).items() if "/featvis/" in name
                and name.endswith(".png")}
    build_atlas(tiny_model(), tiny_data(), str(atlas), sections=("examples", "featvis"),
                steps=3, **OPTS)
    full = Path(shutil.copytree(bare, tmp_path / "full"))
    build_atlas(tiny_model(), tiny_data(), str(full), sections=("examples", "featvis"),
                steps=3, **OPTS)
    got, want = files(atlas), files(full)
    assert sorted(got) == sorted(want)  # the per-unit files were merged and removed
    numbers = {name for name in got if name.endswith("/featvis.json")}
    assert [name for name in got if got[name] != want[name] and name not in numbers] == []
    assert all(got[name] == data for name, data in pictures.items())  # reused, not redone
    for (layer, unit), saved in served.items():  # the served numbers, kept as they were
        merged = json.loads(got[f"units/{layer}/featvis.json"])
        assert merged["positive"][unit] == saved["positive"]
        assert merged["negative"][unit] == saved["negative"]
    for name in numbers:  # one unit optimized alone rounds like a batch only to ~1e-6:
        a, b = json.loads(got[name]), json.loads(want[name])  # CPU kernels differ by batch
        assert {k: v for k, v in a.items() if k not in ("positive", "negative")} == \
            {k: v for k, v in b.items() if k not in ("positive", "negative")}
        assert np.allclose(a["positive"], b["positive"], rtol=1e-4, atol=1e-6)
        assert np.allclose(a["negative"], b["negative"], rtol=1e-4, atol=1e-6)


def test_a_unit_of_other_settings_is_computed_again(atlas: Path) -> None:
    UnitComputer(tiny_model(), AtlasStore(atlas), steps=2).compute("featvis", "conv1", 1)
    store = build_atlas(tiny_model(), tiny_data(), str(atlas), sections=("featvis",),
                        steps=3, **OPTS)
    assert store.read_json(store.units_json("conv1", "featvis"))["steps"] == 3
    assert store.unit_jsons("conv1", "featvis") == {}


def test_a_model_other_than_the_atlas_s_is_refused(atlas: Path) -> None:
    import torch

    model = tiny_model()
    with torch.no_grad():
        model.conv1.bias += 1
    client = TestClient(create_app(atlas, model=model, options={"steps": 3}), base_url=LOCAL)
    r = client.post("/api/compute/featvis/conv1/0")
    assert r.status_code == 200
    for _ in range(100):
        state = client.get("/api/compute/featvis/conv1/0").json()
        if state["state"] != "running":
            break
        time.sleep(0.05)
    assert state["state"] == "failed" and "not the one this atlas" in state["error"]
    assert AtlasStore(atlas).unit_jsons("conv1", "featvis") == {}


def test_two_viewers_of_a_unit_start_one_computation(atlas: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    calls = slowed(monkeypatch)
    app = create_app(atlas, model=tiny_model(), options={"steps": 3})
    client = TestClient(app, base_url=LOCAL)
    answers: list[dict[str, object]] = []
    viewers = [threading.Thread(target=lambda: answers.append(
        client.post("/api/compute/featvis/conv2/1").json())) for _ in range(2)]
    for v in viewers:
        v.start()
    for v in viewers:
        v.join()
    assert [a["state"] for a in answers] == ["running", "running"]
    for _ in range(100):
        if client.get("/api/compute/featvis/conv2/1").json()["state"] == "done":
            break
        time.sleep(0.05)
    assert calls == [("featvis", "conv2", 1)]
    assert client.post("/api/compute/featvis/conv2/1").json()["state"] == "done"
    assert len(calls) == 1  # done on disk: not computed again
    assert client.post("/api/compute/featvis/conv2/9").status_code == 404
    assert client.post("/api/compute/examples/conv2/1").json()["state"] == "done"  # built
    answer = client.post("/api/compute/ablation/conv2/1")
    assert answer.status_code == 400 and "atlas command only" in answer.json()["detail"]


def test_the_layer_page_counts_the_units_computed(atlas: Path) -> None:
    client = TestClient(create_app(atlas), base_url=LOCAL)
    page = client.get("/layer/conv1").text
    assert "Feature visualization: 0 of 4 units computed" in page
    assert client.post("/api/compute/featvis/conv1/3").status_code == 409  # no model
    unit = client.get("/layer/conv1/unit/3").text
    assert "Not computed yet" in unit and "--sections featvis --layers conv1" in unit
    UnitComputer(tiny_model(), AtlasStore(atlas), steps=3).compute("featvis", "conv1", 3)
    page = client.get("/layer/conv1").text
    assert "Feature visualization: 1 of 4 units computed" in page
    assert "class='cell done' href='/layer/conv1/unit/3'" in page
    assert "unit-0003-pos0.png" in page and "unit-0002-pos0.png" not in page
    assert "unit-0003-neg.png" in client.get("/layer/conv1/unit/3").text


@pytest.fixture
def server(atlas: Path) -> Iterator[str]:
    with served(create_app(atlas, model=tiny_model(), options={"steps": 40}), wait=30) as url:
        yield url


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_a_unit_page_computes_its_feature_visualization(server: str, atlas: Path) -> None:
    loaded, _ = watch_computed(f"{server}/layer/conv2/unit/2",
                               "featvis/conv2/unit-0002-pos1.png", "featvis")
    assert loaded == [True, True, True]
    store = AtlasStore(atlas)
    assert list(store.unit_jsons("conv2", "featvis")) == [2]
    assert store.read_json(store.unit_json("conv2", "featvis", 2))["steps"] == 40
