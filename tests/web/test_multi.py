"""Several atlases served together: a front page that lists the models, each atlas under
/models/NAME/ with every link, file, script request and on-demand computation inside its
path and run with its own model (TestClient, and a real uvicorn driven by Chromium), and
`neuronscope serve A B --model M --model N`."""

from __future__ import annotations

import io
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from neuronscope.atlas.build import build_atlas
from neuronscope.atlas.store import AtlasStore
from neuronscope.cli import main
from neuronscope.web.multi import create_multi_app

from .atlas_job import build, tiny_data, tiny_model
from .live_server import served
from .test_browser import ARGS, CHROMIUM

LOCAL = "http://127.0.0.1"
LINK = re.compile(r"""(?:href|src|data-compute)=['"]([^'"]*)['"]""")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two atlases of the tiny model: "tiny" with every section, "other" with dataset
    examples and a gallery (its feature visualizations are left to be made on demand)."""
    first = tmp_path_factory.mktemp("tiny")
    build(str(first))
    second = tmp_path_factory.mktemp("other")
    build_atlas(tiny_model(), tiny_data(), str(second), sections=("examples", "gallery"),
                name="other", data_name="random", k=3, progress=False,
                gallery=["fc:2", "conv2:1"], gallery_settings={"steps": 4})
    return first, second


@pytest.fixture
def atlases(built: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    return (Path(shutil.copytree(built[0], tmp_path / "tiny")),
            Path(shutil.copytree(built[1], tmp_path / "other")))


def multi(atlases: tuple[Path, Path]) -> FastAPI:
    return create_multi_app([(atlases[0], tiny_model()), (atlases[1], tiny_model)],
                            options={"steps": 8, "n_starts": 1})


def links(html: str) -> list[str]:
    return [link for link in LINK.findall(html) if not link.startswith(("#", "data:"))]


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (20, 20), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def test_the_front_page_lists_every_model(atlases: tuple[Path, Path]) -> None:
    client = TestClient(multi(atlases), base_url=LOCAL)
    home = client.get("/")
    assert home.status_code == 200
    assert home.text.count("class='model-card'") == 2
    for name in ("tiny", "other"):
        assert f"<a href='/models/{name}/'>{name}</a>" in home.text
        assert f"href='/models/{name}/live'" in home.text
    assert "href='/models/other/section/gallery'" in home.text
    assert "href='/models/tiny/section/gallery'" not in home.text  # it has none
    assert "/models/other/files/model/gallery-00-fc-2.png" in home.text  # its picture
    assert "/models/tiny/files/model/weights-conv1.png" in home.text
    assert "Feature visualization computed when a unit" in home.text  # only "other" lacks it
    assert client.get("/models/other", follow_redirects=False).status_code in (307, 308)
    assert client.get("/layer/conv1").status_code == 404  # an atlas lives under its path


def test_every_link_of_each_atlas_stays_under_its_path(atlas_crawl: dict[str, str]) -> None:
    for url, html in atlas_crawl.items():
        prefix = "/".join(url.split("/")[:3]) + "/"  # /models/NAME/
        for link in links(html):
            assert link == "/" or link.startswith(prefix), f"{url} links to {link}"


@pytest.fixture
def atlas_crawl(atlases: tuple[Path, Path]) -> dict[str, str]:
    """Every page reachable from the front page, each fetched once (200 each), by URL."""
    client = TestClient(multi(atlases), base_url=LOCAL)
    seen: dict[str, str] = {}
    todo = ["/models/tiny/", "/models/other/"]
    while todo:
        url = todo.pop()
        if url in seen:
            continue
        r = client.get(url)
        assert r.status_code == 200, f"{url}: {r.status_code}"
        seen[url] = r.text if r.headers["content-type"].startswith("text/html") else ""
        todo += [u for u in (urljoin(url, link) for link in links(seen[url]))
                 if u.startswith("/models/") and u not in seen]
    pages = [u for u, html in seen.items() if html]
    assert len(pages) > 20 and any(u.endswith("/section/gallery") for u in pages)
    assert any(u.endswith("/live") for u in pages)
    assert any(u.startswith("/models/other/static/") for u in seen)
    return {u: html for u, html in seen.items() if html}


def test_each_atlas_s_api_runs_under_its_path(atlases: tuple[Path, Path]) -> None:
    client = TestClient(multi(atlases), base_url=LOCAL)
    info = client.get("/models/other/api/live/layers").json()
    assert [layer["name"] for layer in info["layers"]] == ["conv1", "conv2", "fc"]
    frame = client.post("/models/other/api/live", content=png(),
                        headers={"Content-Type": "image/png"})
    assert frame.status_code == 200 and frame.json()["layers"]
    panel = client.get("/models/tiny/api/unit/conv2/1").json()
    assert panel["url"] == "/models/tiny/layer/conv2/unit/1"
    assert panel["featvis"].startswith("/models/tiny/files/featvis/conv2/")
    layer = client.get("/models/other/layer/conv2").text  # no feature visualizations yet:
    assert layer.count("class='first-example'") == 3     # each unit's top example instead
    unit = client.get("/models/other/layer/conv2/unit/1").text
    assert "data-compute='/models/other/api/compute/featvis/conv2/1'" in unit
    assert client.post("/models/tiny/api/compute/featvis/conv2/1").json()["state"] == "done"
    assert client.post("/models/other/api/compute/featvis/conv2/1").status_code == 200
    for _ in range(200):
        state = client.get("/models/other/api/compute/featvis/conv2/1").json()
        if state["state"] != "running":
            break
        time.sleep(0.05)
    assert state["state"] == "done", state
    other, tiny = AtlasStore(atlases[1]), AtlasStore(atlases[0])
    assert list(other.unit_jsons("conv2", "featvis")) == [1]
    assert other.read_json(other.unit_json("conv2", "featvis", 1))["steps"] == 8
    assert tiny.unit_jsons("conv2", "featvis") == {}  # the other atlas was left alone


def empty_atlas(folder: Path, model: str) -> str:
    store = AtlasStore(folder)
    store.manifest["model"] = {"name": model}
    store.save_manifest()
    return str(folder)


@pytest.mark.parametrize("args, message", [
    (["--model", "zoo:shapes-cnn"], "2 atlases and 1 --model"),
    (["--model", "zoo:digits-mlp", "--model", "zoo:shapes-cnn"],
     "was made of zoo:shapes-cnn, not zoo:digits-mlp"),
    (["--weights", "w.safetensors"], "--weights without --model"),
])
def test_serve_refuses_models_that_do_not_match_the_atlases(
        tmp_path: Path, args: list[str], message: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    a = empty_atlas(tmp_path / "a", "zoo:shapes-cnn")
    b = empty_atlas(tmp_path / "b", "digits-mlp")
    assert main(["serve", a, b, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("neuronscope serve: error: "), err


def test_serve_takes_several_atlases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    served: list[FastAPI] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: served.append(app))
    a = empty_atlas(tmp_path / "a", "zoo:shapes-cnn")
    b = empty_atlas(tmp_path / "b", "zoo:shapes-cnn")
    assert main(["serve", a, b, "--port", "8123"]) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8123/models/shapes-cnn/" in out
    assert "http://127.0.0.1:8123/models/shapes-cnn-2/" in out
    client = TestClient(served[0], base_url=LOCAL)
    home = client.get("/").text
    assert home.count("class='model-card'") == 2
    assert home.count("AlexNet-like convnet on shapes") == 2  # the zoo's description
    assert client.get("/models/shapes-cnn-2/").status_code == 200
    with pytest.raises(SystemExit):  # argparse: --weights twice for one model
        main(["serve", a, "--model", "m.py:f", "--weights", "x", "--weights", "y"])


@pytest.fixture
def server(atlases: tuple[Path, Path]) -> Iterator[str]:
    with served(multi(atlases), wait=30) as url:
        yield url


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_the_models_in_chromium(server: str, atlases: tuple[Path, Path], tmp_path: Path
                                ) -> None:
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    failed: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        page.on("response", lambda r: failed.append(f"{r.status} {r.url}")
                if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
        page.goto(server + "/")
        assert page.locator(".model-card").count() == 2
        page.click("h2 >> text=other")
        page.wait_for_url("**/models/other/")
        page.click("text=the gallery")
        page.wait_for_url("**/models/other/section/gallery")
        page.wait_for_function("() => [...document.images].every(i => i.complete)")
        assert page.evaluate("[...document.images].map(i => i.naturalWidth)") == [16, 16]
        page.click("text=conv2:1")  # the gallery's target links to its unit page
        page.wait_for_url("**/models/other/layer/conv2/unit/1")
        page.wait_for_selector("img[src*='featvis/conv2/unit-0001-pos0.png']", timeout=30000)
        assert page.locator(".ondemand").count() == 0  # computed, then reloaded
        page.click("nav >> text=all models")
        page.wait_for_url(server + "/")
        page.click(".model-card >> nth=0 >> text=live")
        page.wait_for_url("**/models/tiny/live")
        page.wait_for_function("() => Number(document.getElementById('frames').dataset"
                               ".count) >= 1", timeout=20000)
        page.locator("#layer-conv2").click(position={"x": 3, "y": 3})
        page.wait_for_selector("#panel", state="visible")
        assert page.get_attribute("#panel-link", "href") == "/models/tiny/layer/conv2/unit/0"
        page.check("input[value=guided]")
        page.wait_for_selector("#projection:not([hidden])")
        page.screenshot(path=str(tmp_path / "live.png"))
        browser.close()
    ours = [urlsplit(u).path for u in requests
            if u.startswith(server) and not u.endswith("/favicon.ico")]
    assert not failed, failed
    assert ours and all(p == "/" or p.startswith("/static/") or p.startswith("/models/")
                        for p in ours), ours
    assert "/static/style.css" in ours  # the front page's own; every other is under a model
    assert any(p.startswith("/models/tiny/api/project/conv2/0") for p in ours)
    assert any(p.startswith("/models/other/api/compute/featvis/conv2/1") for p in ours)
    assert list(AtlasStore(atlases[1]).unit_jsons("conv2", "featvis")) == [1]
