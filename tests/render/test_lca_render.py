"""Pictures and the HTML report of loss change allocation, on a real (tiny) run of
digits-mlp and on results built by hand."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from neuronscope.methods.lca import LCAResult, train_with_lca
from neuronscope.render import lca as draw
from neuronscope.render.lca_report import FIGURES, FIRST_LAYER, INDEX, write_report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def run() -> LCAResult:
    return train_with_lca("digits-mlp", epochs=1, n_train=64, progress=False)[1]


def _png(path: Path, min_size: tuple[int, int] = (300, 200)) -> tuple[int, int]:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.size[0] >= min_size[0] and im.size[1] >= min_size[1], im.size
        return im.size


def _hand(cumulative: dict[str, torch.Tensor], steps: int = 5) -> LCAResult:
    t = -torch.rand(steps, dtype=torch.float64)
    half = torch.full((steps,), 0.5, dtype=torch.float64)
    layers = sorted({n.split(".")[0] for n in cumulative})
    return LCAResult(
        steps=torch.arange(steps), loss=torch.cat([torch.ones(1, dtype=torch.float64),
                                                   1 + t.cumsum(0)]),
        loss_change=t, total=t.clone(), error=torch.zeros(steps), buffer_change=torch.zeros(
            steps), outside=torch.zeros(steps), splits=torch.zeros(steps, dtype=torch.int64),
        helping=half, hurting=half, by_layer={name: t / len(layers) for name in layers},
        layer_helping={name: half for name in layers}, layer_hurting={name: half for name in
                                                                       layers},
        cumulative=cumulative, layer_of={n: n.split(".")[0] for n in cumulative},
        layer_sizes={name: 1 for name in layers})


def test_every_figure_is_a_png(run: LCAResult, tmp_path: Path) -> None:
    for function in (draw.helping_plot, draw.cumulative_plot, draw.layer_heatmap):
        _png(function(run, tmp_path / f"{function.__name__}.png"))
    _png(draw.first_layer_lca(run, tmp_path / "first.png", (1, 8, 8)), (400, 400))


def test_first_layer_has_one_tile_per_hidden_unit(run: LCAResult) -> None:
    name, tiles, what = draw.first_layer_tiles(run, (1, 8, 8))
    assert name == "fc1.weight" and tuple(tiles.shape) == (100, 8, 8)
    assert "100 units' 8x8" in what
    assert torch.equal(tiles[37], run.cumulative["fc1.weight"][37].reshape(8, 8))
    grid = draw.mosaic(tiles)
    assert grid.shape == (10 * 9 - 1, 10 * 9 - 1)  # 10 x 10 tiles, a gap between each
    assert np.isnan(grid).sum() == grid.size - 100 * 64  # every other place is a tile
    r, c = divmod(37, 10)
    assert np.array_equal(grid[r * 9:r * 9 + 8, c * 9:c * 9 + 8], tiles[37].numpy())


def test_first_layer_refused_with_the_reason(run: LCAResult, tmp_path: Path) -> None:
    with pytest.raises(draw.CannotDraw, match="no input shape"):
        draw.first_layer_lca(run, tmp_path / "a.png")
    with pytest.raises(draw.CannotDraw, match=r"64 inputs .* 3x8x8 \(192 values\)"):
        draw.first_layer_tiles(run, (3, 8, 8))
    assert not (tmp_path / "a.png").exists()


def test_conv_filters_are_summed_over_input_channels(tmp_path: Path) -> None:
    w = torch.randn(6, 3, 5, 5, dtype=torch.float64)
    res = _hand({"conv1.weight": w, "conv1.bias": torch.zeros(6, dtype=torch.float64),
                 "fc.weight": torch.randn(2, 4, dtype=torch.float64)})
    name, tiles, what = draw.first_layer_tiles(res)  # no input shape needed
    assert name == "conv1.weight" and torch.allclose(tiles, w.sum(1))
    assert "summed over its 3 input channels" in what
    _png(draw.first_layer_lca(res, tmp_path / "f.png"))


def test_helped_is_blue_and_hurt_is_red() -> None:
    from matplotlib import colormaps

    low, high = colormaps[draw.CMAP](0.0), colormaps[draw.CMAP](1.0)  # most negative, positive
    assert low[2] > low[0] and high[0] > high[2]


def test_rolling_mean_and_empty_result() -> None:
    assert draw.rolling_mean(np.arange(5.0), 3).tolist() == [0.5, 1.0, 2.0, 3.0, 3.5]
    empty = _hand({"fc.weight": torch.zeros(2, 2, dtype=torch.float64)}, steps=0)
    with pytest.raises(draw.CannotDraw, match="no step"):
        draw.layer_heatmap(empty, "unused.png")
    with pytest.raises(draw.CannotDraw, match="no training step"):
        write_report(empty, "unused")


def test_report_names_every_layer_and_links_every_figure(run: LCAResult, tmp_path: Path
                                                         ) -> None:
    page = write_report(run, tmp_path, input_shape=(1, 8, 8))
    assert page == tmp_path / INDEX
    html = page.read_text()
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert sorted(sources) == sorted(FIGURES)
    for src in sources:
        _png(tmp_path / src)
    for layer in run.layers:
        assert f"<td>{layer}</td>" in html
    assert f"{float(run.helping.mean()):.3f}" in html and "median relative" in html
    assert "helped" in html and "Went backwards" in html and "recipe.lr" in html


def test_report_says_when_the_first_layer_cannot_be_drawn(run: LCAResult, tmp_path: Path
                                                          ) -> None:
    write_report(run, tmp_path, input_shape=(1, 8, 8))
    html = write_report(run, tmp_path).read_text()  # again, without the input shape
    assert "cannot be drawn" in html and "no input shape" in html
    assert FIRST_LAYER not in html and not (tmp_path / FIRST_LAYER).exists()  # no stale one


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")
def test_report_in_a_browser(run: LCAResult, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    page_path = write_report(run, tmp_path, input_shape=(1, 8, 8))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(page_path.as_uri())
            page.wait_for_function("() => [...document.images].every(i => i.complete)")
            widths = page.evaluate("() => [...document.images].map(i => i.naturalWidth)")
            assert len(widths) == len(FIGURES) and all(w > 0 for w in widths), widths
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    _png(tmp_path / "report.png", (1000, 1500))
