"""The atlas on demand on the real network: an efficientnet-lite0 unit page whose feature
visualization is not computed yet shows progress, then the images (real uvicorn and
Chromium), and the atlas on disk holds them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import neuronscope as ns
from neuronscope.atlas.build import build_atlas
from neuronscope.atlas.store import AtlasStore
from neuronscope.web.app import create_app

from .live_server import served
from .test_browser import ARGS, CHROMIUM


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    """An efficientnet-lite0 atlas of block3 with dataset examples only."""
    from neuronscope.data.photos import photo

    model = ns.zoo.load("efficientnet-lite0")
    spec = ns.input_spec(model)
    names = ["chelsea", "coffee", "camera", "rocket"]
    data = torch.utils.data.TensorDataset(
        spec.to_model(torch.stack([photo(n, 224) for n in names])), torch.arange(4))
    out = tmp_path_factory.mktemp("real")
    build_atlas(model, data, str(out), layers=["block3"], sections=("examples",),
                name="efficientnet-lite0", data_name="photos", k=2, progress=False)
    return out, model


@pytest.fixture
def server(real: tuple[Path, torch.nn.Module]) -> Iterator[str]:
    atlas, model = real
    with served(create_app(atlas, model=model, options={"steps": 6, "n_starts": 1})) as url:
        yield url


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_an_efficientnet_unit_page_computes_its_visualization(
        server: str, real: tuple[Path, torch.nn.Module]) -> None:
    from playwright.sync_api import sync_playwright

    atlas, _ = real
    store = AtlasStore(atlas)
    assert list(store.unit_jsons("block3", "featvis")) == []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        first = page.goto(f"{server}/layer/block3/unit/7")
        assert first is not None and "<progress" in first.text()
        page.wait_for_selector("img[src*='featvis/block3/unit-0007-pos']", timeout=90000)
        shown = ("Array.from(document.images).filter(i => i.src.includes('featvis'))"
                 ".map(i => i.complete && i.naturalWidth > 0)")
        try:  # the page is there; its pictures may still be on their way
            page.wait_for_function(f"(() => {{ const s = {shown}; return s.length > 0 && "
                                   "s.every(Boolean); }})()", timeout=10000)
        except Exception:  # noqa: BLE001 - the assertion below says what was seen
            pass
        loaded = page.evaluate(shown)
        assert loaded and all(loaded)  # every picture decoded, none broken
        browser.close()
    assert list(store.unit_jsons("block3", "featvis")) == [7]
    assert any(Path(atlas).rglob("unit-0007-pos*.png"))
