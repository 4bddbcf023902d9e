"""Dataset examples on demand: a layer's examples mined when one of its pages is opened (in
a real uvicorn and Chromium), one pass for every viewer of the layer, the data checked
against the atlas's, and a later build that adopts the layer and ends with a full build's
files."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from neuronscope.atlas.build import build_atlas
from neuronscope.atlas.ondemand import UnitComputer
from neuronscope.atlas.store import AtlasStore
from neuronscope.core.datacheck import DataChangedError
from neuronscope.web.app import create_app

from .atlas_job import tiny_data, tiny_model
from .live_server import served, watch_computed
from .test_browser import CHROMIUM
from .test_ondemand import LOCAL, OPTS, bare_atlas, copy_of, files, slowed


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An atlas with its layers' facts and filters, and no dataset examples."""
    return bare_atlas(tmp_path_factory, "weights")


@pytest.fixture
def atlas(bare: Path, tmp_path: Path) -> Path:
    return copy_of(bare, tmp_path)


def test_a_build_adopts_a_layer_mined_on_demand_and_ends_as_a_full_build(
        atlas: Path, bare: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[float] = []
    UnitComputer(tiny_model(), AtlasStore(atlas), tiny_data(), k=3).compute(
        "examples", "conv2", 1, progress=seen.append)
    assert seen == sorted(seen) and seen[0] == 0.5 and seen[-1] == 1.0  # mined, drawn
    store = AtlasStore(atlas)
    assert not store.done("conv2", "examples")  # the manifest is the build's alone
    record = store.demanded("conv2", "examples")
    assert record is not None and store.path(record["arrays"]).is_file()
    client = TestClient(create_app(atlas), base_url=LOCAL)
    unit = client.get("/layer/conv2/unit/1").text
    assert "examples/conv2/unit-0001-top.png" in unit and "--sections examples" not in unit
    assert "examples/conv1/" not in client.get("/layer/conv1/unit/1").text
    row = client.get("/").text.split("/layer/conv2'")[1].split("</tr>")[0]
    assert "examples" in row
    mined: list[list[str]] = []
    from neuronscope.atlas.sections import examples

    real = examples.top_examples
    monkeypatch.setattr(examples, "top_examples", lambda model, data, layers, **kw: (
        mined.append(list(layers)), real(model, data, layers, **kw))[1])
    build_atlas(tiny_model(), tiny_data(), str(atlas), sections=("examples",), **OPTS)
    assert mined == [["conv1", "fc"]]  # conv2 adopted, not mined again
    assert AtlasStore(atlas).done("conv2", "examples")
    assert AtlasStore(atlas).demanded("conv2", "examples") is None
    pages = TestClient(create_app(atlas), base_url=LOCAL)  # one measure per kind of layer
    assert "Activation (value per input)" in pages.get("/layer/fc/unit/0").text
    assert "Activation (mean over positions per input)" in pages.get("/layer/conv2/unit/0").text
    full = Path(shutil.copytree(bare, tmp_path / "full"))
    build_atlas(tiny_model(), tiny_data(), str(full), sections=("examples",), **OPTS)
    got, want = files(atlas), files(full)
    arrays = {n for n in got | want if n.startswith("arrays/")}  # one file per pass
    assert sorted(set(got) - arrays) == sorted(set(want) - arrays)
    assert [n for n in set(got) - arrays - {"manifest.json"} if got[n] != want[n]] == []


def test_a_layer_of_other_settings_is_mined_again(atlas: Path) -> None:
    UnitComputer(tiny_model(), AtlasStore(atlas), tiny_data(), k=2).compute(
        "examples", "conv1", 0)
    store = build_atlas(tiny_model(), tiny_data(), str(atlas), sections=("examples",),
                        layers=["conv1"], **OPTS)
    units = store.read_json(store.units_json("conv1", "examples"))
    assert len(units["units"][0]["top"]) == 3 and store.demanded("conv1", "examples") is None


def test_other_data_is_refused(atlas: Path) -> None:
    build_atlas(tiny_model(), tiny_data(), str(atlas), sections=("examples",), layers=["fc"],
                **OPTS)  # the items' digests are recorded
    for changed, message in ((5, "not the data"), (7, "item 7")):  # 5 is fingerprinted
        other = tiny_data()
        other.tensors[0][changed] += 1
        with pytest.raises(DataChangedError, match=message):
            UnitComputer(tiny_model(), AtlasStore(atlas), other).compute("examples", "conv1", 0)
    with pytest.raises(DataChangedError, match="has 30 items.*made from 36"):
        UnitComputer(tiny_model(), AtlasStore(atlas), tiny_data(30)).compute(
            "examples", "conv1", 0)
    assert AtlasStore(atlas).demanded("conv1", "examples") is None


def test_the_viewers_of_a_layer_share_one_pass(atlas: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    calls = slowed(monkeypatch)
    client = TestClient(create_app(atlas, model=tiny_model(), data=lambda m: tiny_data()),
                        base_url=LOCAL)
    answers: list[dict[str, object]] = []
    viewers = [threading.Thread(target=lambda u=u: answers.append(
        client.post(f"/api/compute/examples/conv1/{u}").json())) for u in (0, 3)]
    for v in viewers:
        v.start()
    for v in viewers:
        v.join()
    assert [a["state"] for a in answers] == ["running", "running"]
    for _ in range(200):
        if client.get("/api/compute/examples/conv1/2").json()["state"] == "done":
            break
        time.sleep(0.05)
    assert calls == [("examples", "conv1", 0)]
    assert client.post("/api/compute/examples/conv1/1").json()["state"] == "done"
    assert len(calls) == 1


def test_pages_say_what_is_computed(atlas: Path) -> None:
    bare = TestClient(create_app(atlas, model=tiny_model()), base_url=LOCAL)  # no data
    assert "Not computed for this layer yet" in bare.get("/layer/conv1").text
    unit = bare.get("/layer/conv1/unit/0").text
    assert "--sections examples --layers conv1" in unit and "<progress" not in \
        unit.split("Dataset examples")[1]
    served = TestClient(create_app(atlas, model=tiny_model(), data=tiny_data()),
                        base_url=LOCAL)
    page = served.get("/layer/conv1").text
    assert "data-compute='/api/compute/examples/conv1/0'" in page and "ondemand.js" in page


@pytest.fixture
def server(atlas: Path) -> Iterator[str]:
    with served(create_app(atlas, model=tiny_model(), data=lambda m: tiny_data()), wait=30) as url:
        yield url


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_a_layer_page_mines_its_examples(server: str, atlas: Path) -> None:
    loaded, unit = watch_computed(f"{server}/layer/conv2", "examples/conv2/unit-0002-top.png",
                                  "examples", then=f"{server}/layer/conv2/unit/0")
    assert loaded == [True, True, True]  # every unit's thumbnail
    assert "examples/conv2/unit-0000-top.png" in unit
    assert AtlasStore(atlas).demanded("conv2", "examples") is not None


def test_photographs_are_kept_as_jpeg_and_small_images_as_png(tmp_path: Path) -> None:
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset

    from neuronscope.core.spec import InputSpec, attach_spec

    torch.manual_seed(0)
    model = attach_spec(nn.Sequential(nn.Conv2d(3, 2, 3, stride=8)).eval(),
                        InputSpec(shape=(3, 128, 128)))
    photos = TensorDataset(torch.rand(6, 3, 128, 128))
    store = build_atlas(model, photos, str(tmp_path / "big"), sections=("examples",), **OPTS)
    drawn = sorted(p.name for p in (tmp_path / "big" / "examples" / "0").iterdir())
    assert drawn == [f"unit-000{u}-{t}.jpg" for u in (0, 1) for t in ("bottom", "random", "top")]
    assert store.read_json(store.units_json("0", "examples"))["picture"] == "jpg"
    page = TestClient(create_app(tmp_path / "big"), base_url=LOCAL).get("/layer/0").text
    assert "examples/0/unit-0001-top.jpg" in page  # the layer page's thumbnails
    from PIL import Image

    assert max(Image.open(tmp_path / "big/examples/0/unit-0000-top.jpg").size) < 6 * 120
    small = build_atlas(tiny_model(), tiny_data(), str(tmp_path / "small"),
                        sections=("examples",), **OPTS)
    assert small.read_json(small.units_json("conv1", "examples"))["picture"] == "png"


def test_a_layer_added_while_the_server_runs_is_computed(tmp_path: Path) -> None:
    out = str(tmp_path / "growing")
    build_atlas(tiny_model(), tiny_data(), out, sections=("weights",), layers=["conv1"], **OPTS)
    client = TestClient(create_app(out, model=tiny_model(), data=tiny_data()), base_url=LOCAL)
    assert client.post("/api/compute/examples/conv2/0").status_code == 404
    build_atlas(tiny_model(), tiny_data(), out, sections=("weights",), layers=["conv2"], **OPTS)
    answer = client.post("/api/compute/examples/conv2/0")
    assert answer.status_code == 200 and answer.json()["state"] in ("running", "done")
    for _ in range(200):
        if client.get("/api/compute/examples/conv2/0").json()["state"] == "done":
            break
        time.sleep(0.05)
    assert AtlasStore(out).demanded("conv2", "examples") is not None
