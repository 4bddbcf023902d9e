import numpy as np
import pytest
import torch
from PIL import Image

from neuronscope.methods.dissect.result import Dissection
from neuronscope.render.dissect import LINE, counts, detector_bars, outlined
from neuronscope.render.grid import to_uint8

YELLOW = to_uint8(torch.tensor(LINE))  # the contour's colour in display levels
PAD = 2  # image_grid's padding in outlined


def _dissection(layer: str, iou: list[list[float]], iou_threshold: float = 0.04) -> Dissection:
    names = ["color:red", "color:blue", "shape:circle", "plain"]
    t = torch.tensor(iou)
    return Dissection(layer, names, torch.ones(len(t)), t, 0.005, iou_threshold, 10)


def _layers() -> dict[str, Dissection]:
    conv1 = _dissection(
        "conv1",
        [
            [0.50, 0.10, 0.00, 0.00],  # red, detector
            [0.30, 0.00, 0.20, 0.00],  # red again: a detector, not a new concept
            [0.00, 0.00, 0.10, 0.05],  # circle, detector
            [0.00, 0.03, 0.00, 0.00],  # blue, below 0.04: not a detector
            [0.00, 0.00, 0.00, 0.05],  # plain (no category: "concept"), detector
        ],
    )
    conv2 = _dissection("conv2", [[0.0, 0.2, 0.1, 0.0], [0.0, 0.0, 0.15, 0.0]], 0.18)
    return {"conv1": conv1, "conv2": conv2}


def test_counts_by_hand() -> None:
    rows = counts(_layers())
    assert rows == [
        {
            "layer": "conv1",
            "units": 5,
            "detectors": 4,
            "unique": 3,
            "by_category": {"color": 1, "shape": 1, "concept": 1},
            "detectors_by_category": {"color": 2, "shape": 1, "concept": 1},
        },
        {
            "layer": "conv2",
            "units": 2,
            "detectors": 1,
            "unique": 1,  # its own IoU threshold
            "by_category": {"color": 1, "shape": 0, "concept": 0},
            "detectors_by_category": {"color": 1, "shape": 0, "concept": 0},
        },
    ]


def test_detector_bars_writes_png(tmp_path) -> None:
    out = detector_bars(_layers(), tmp_path / "sub" / "bars.png", title="t")
    assert out == tmp_path / "sub" / "bars.png" and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 5_000
    with Image.open(out) as im:
        assert im.size[0] >= 600 and im.size[1] >= 300
    assert not [p for p in out.parent.iterdir() if p.name != "bars.png"]  # no temp left


def test_outlined_size() -> None:
    im = outlined(torch.rand(3, 3, 64, 64), torch.rand(3, 16, 16), 0.5)
    assert im.mode == "RGB" and im.size == (3 * (128 + PAD) + PAD, 128 + 2 * PAD)  # 64 px x2
    assert (
        outlined(torch.rand(1, 3, 64, 64), torch.rand(1, 8, 8), 0.5, size=200).size[0]
        == 256 + 2 * PAD
    )
    labelled = outlined(torch.rand(2, 1, 32, 32), torch.rand(2, 4, 4), 0.5, labels=["a", "b"])
    assert labelled.size[0] == 2 * (128 + PAD) + PAD and labelled.size[1] > 128 + 2 * PAD
    with pytest.raises(ValueError, match="2 maps for 3 images"):
        outlined(torch.rand(3, 3, 8, 8), torch.rand(2, 4, 4), 0.5)


def _yellow(a: np.ndarray) -> np.ndarray:
    return (a == YELLOW).all(-1)


def _tile(maps: torch.Tensor) -> np.ndarray:
    a = np.asarray(outlined(torch.full((1, 3, 64, 64), 0.8), maps, 0.5))
    return a[PAD : PAD + 128, PAD : PAD + 128]  # 64 px scaled x2


def test_outline_exact_on_straight_edge() -> None:
    maps = torch.zeros(1, 8, 8)
    maps[0, :4] = 1.0  # top half: bilinear crosses 0.5 exactly between rows 31 and 32
    tile = _tile(maps)
    want = np.zeros((128, 128), dtype=bool)
    want[:64] = True
    want[2:62, 2:126] = False  # a 2 px ring inside the region, along the frame too
    assert (_yellow(tile) == want).all()
    assert (tile[64] == 0).all() and (tile[2, 2:126] == 0).all()  # dark edges either side
    assert (tile[30, 30] == 204).all()  # inside: as it was (0.8)
    assert (tile[65:] == 112).all()  # outside: dimmed (0.8 x 0.55), no outline


def test_outline_on_quadrant_boundary() -> None:
    maps = torch.zeros(1, 8, 8)
    maps[0, :4, :4] = 1.0  # on in the top-left quadrant only (corner rounded by bilinear)
    yellow = _yellow(tile := _tile(maps))
    ys, xs = np.nonzero(yellow)
    assert ys.max() < 64 and xs.max() < 64  # within the quadrant ...
    assert not yellow[4:56, 4:56].any()  # ... on its edges, not its inside
    assert yellow[10:50, 60:64].any(1).all() and yellow[60:64, 10:50].any(0).all()
    assert yellow[0:2, 10:50].all() and yellow[10:50, 0:2].all()  # along the frame
    assert (tile[66:, 66:] == 112).all()  # far bottom-right: dimmed, no outline


def test_whole_image_units() -> None:
    # maps [k] (no positions): the whole frame when on; at its threshold counts as on
    a = np.asarray(outlined(torch.full((3, 3, 10, 10), 0.8), torch.tensor([1.0, 0.0, 0.5]), 0.5))
    side = 120  # 10 px scaled up to at least 112
    tiles = [
        a[PAD : PAD + side, PAD + i * (side + PAD) : PAD + i * (side + PAD) + side]
        for i in range(3)
    ]
    for t in (tiles[0], tiles[2]):
        ring = np.ones((side, side), dtype=bool)
        ring[2:-2, 2:-2] = False
        assert (_yellow(t) == ring).all() and (t[60, 60] == 204).all()
    assert not _yellow(tiles[1]).any() and (tiles[1] == 112).all()
