"""The microscope in a real headless Chromium (Debian's package, driven by Playwright):
pages and images, the live page on Chromium's fake camera, clicking a channel."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from neuronscope.web.app import create_app

from .atlas_job import build, tiny_model
from .live_server import served

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed (make setup does it)")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    out = tmp_path_factory.mktemp("atlas")
    build(str(out))
    with served(create_app(out, model=tiny_model()), wait=30) as url:
        yield url


@pytest.fixture
def page(tmp_path: Path) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        context.grant_permissions(["camera"])
        yield context.new_page()
        browser.close()


def images_loaded(page: object) -> bool:
    return page.evaluate(  # type: ignore[attr-defined]
        "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")


def test_model_page_to_unit_page(server: str, page: object, tmp_path: Path) -> None:
    page.goto(server + "/")  # type: ignore[attr-defined]
    page.click("text=conv2")  # type: ignore[attr-defined]
    page.wait_for_url("**/layer/conv2")  # type: ignore[attr-defined]
    page.click("a.cell >> nth=1")  # type: ignore[attr-defined]
    page.wait_for_url("**/layer/conv2/unit/*")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => [...document.images].every(i => i.complete)")
    assert images_loaded(page)
    assert page.locator("img").count() >= 5  # type: ignore[attr-defined]
    page.screenshot(path=str(tmp_path / "unit.png"), full_page=True)  # type: ignore[attr-defined]
    assert (tmp_path / "unit.png").stat().st_size > 1000


def test_live_page_on_the_fake_camera(server: str, page: object, tmp_path: Path) -> None:
    page.goto(server + "/live?source=webcam")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => Number(document.getElementById('frames').dataset.count) >= 1", timeout=20000)
    start = int(page.get_attribute("#frames", "data-count"))  # type: ignore[attr-defined]
    time.sleep(2.0)
    end = int(page.get_attribute("#frames", "data-count"))  # type: ignore[attr-defined]
    assert end - start >= 10, f"only {end - start} updates in 2 s"
    canvas = page.locator("#layer-conv2")  # type: ignore[attr-defined]
    canvas.click(position={"x": 3, "y": 3})
    page.wait_for_selector("#panel", state="visible")  # type: ignore[attr-defined]
    assert page.inner_text("#panel-title") == "conv2:0"  # type: ignore[attr-defined]
    page.check("input[value=guided]")  # type: ignore[attr-defined]
    page.wait_for_selector("#projection:not([hidden])")  # type: ignore[attr-defined]
    page.screenshot(path=str(tmp_path / "live.png"), full_page=True)  # type: ignore[attr-defined]
    assert (tmp_path / "live.png").stat().st_size > 1000
