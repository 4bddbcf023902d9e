"""The Broden layout of NetDissect read as concept data: names, masks (labels R + 256 * G),
image-level labels, categories and splits; a planted red unit dissected on it."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from neuronscope.data import Broden, concept_data
from neuronscope.data.concept_files import ConceptDataError
from neuronscope.methods.dissect import dissect

RED, DOG, SKY, KITCHEN, WOOD = 1, 300, 2, 5, 6  # 300 > 255: stored as R = 44, G = 1
LABELS = [
    (RED, "red-c", "color(2)"),
    (SKY, "sky", "object(1)"),
    (KITCHEN, "kitchen-s", "scene(1)"),
    (WOOD, "wood", "material(1);object(1)"),
    (DOG, "dog", "object(2)"),
]
CATEGORY_LABELS = {
    "color": [RED],
    "object": [SKY, DOG, WOOD],
    "material": [WOOD],
    "scene": [KITCHEN],
}
PAINT = {RED: (255, 0, 0), DOG: (0, 0, 200), SKY: (120, 160, 255), WOOD: (120, 80, 30)}


def _write(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([header, *rows])


def _label_png(path: Path, label: np.ndarray) -> str:
    rgb = np.stack([label % 256, label // 256, np.zeros_like(label)], -1).astype(np.uint8)
    Image.fromarray(rgb).save(path)
    return path.name


def _maps() -> list[dict[str, np.ndarray]]:
    """Per image, an 8x8 label map per pixel category."""
    maps = [
        {c: np.zeros((8, 8), np.int64) for c in ("color", "object", "material")} for _ in range(4)
    ]
    maps[0]["color"][:4, :4] = RED
    maps[0]["object"][4:, :] = DOG
    maps[1]["color"][5:, 3:7] = RED
    maps[1]["object"][:3, :] = SKY
    maps[1]["object"][3:5, :] = WOOD
    maps[1]["material"][3:5, :] = WOOD
    maps[2]["object"][2:6, 2:6] = DOG
    return maps


@pytest.fixture(scope="module")
def broden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("broden")
    (root / "images" / "src").mkdir(parents=True)
    rows = []
    for i, m in enumerate(_maps()):
        img = np.full((8, 8, 3), 128, np.uint8)  # grey, painted per label (colour last)
        for c in ("object", "color"):
            for n, rgb in PAINT.items():
                img[m[c] == n] = rgb
        name = f"src/{i}.jpg" if i else f"src/{i}.png"
        Image.fromarray(img).resize((16, 16), Image.Resampling.NEAREST).save(root / "images" / name)
        cells = [
            f"src/{_label_png(root / 'images' / 'src' / f'{i}_{c}.png', m[c])}"
            if m[c].any()
            else ""
            for c in ("color", "object", "material")
        ]
        scene = {0: str(KITCHEN), 3: str(KITCHEN)}.get(i, "")
        if i == 3:
            cells = ["", "", ""]  # scene only: left out unless the scene is kept
        rows.append([name, "val" if i == 2 else "train", 16, 16, 8, 8, *cells, scene])
    _write(
        root / "index.csv",
        ["image", "split", "ih", "iw", "sh", "sw", "color", "object", "material", "scene"],
        rows,
    )
    _write(
        root / "label.csv",
        ["number", "name", "category", "frequency", "coverage", "syns"],
        [[n, name, cat, 1, 0.5, ""] for n, name, cat in LABELS],
    )
    _write(
        root / "category.csv",
        ["name", "first", "last", "count", "frequency"],
        [[c, min(ns), max(ns), len(ns), 2] for c, ns in CATEGORY_LABELS.items()],
    )
    names = {n: name for n, name, _ in LABELS}
    for c, ns in CATEGORY_LABELS.items():
        _write(
            root / f"c_{c}.csv",
            ["code", "number", "name", "frequency", "coverage"],
            [[k + 1, n, names[n], 1, 0.5] for k, n in enumerate(ns)],
        )
    return root


def test_concepts_are_category_and_name_one_per_category(broden: Path) -> None:
    ds = Broden(broden)
    assert ds.concepts == [
        "color:red",
        "material:wood",
        "object:dog",
        "object:sky",
        "object:wood",
        "scene:kitchen",
    ]
    assert ds.labels == [RED, WOOD, DOG, SKY, WOOD, KITCHEN]
    assert len(ds) == 4 and ds.spec.shape == (3, 16, 16) and ds.mask_size == (8, 8)
    item = ds[0]
    assert item["image"].shape == (3, 16, 16) and item["masks"].shape == (6, 8, 8)
    assert item["masks"].dtype == torch.bool


def test_masks_mark_the_labelled_pixels(broden: Path) -> None:
    ds, maps = Broden(broden), _maps()
    for i in range(3):
        masks = ds[i]["masks"]
        for k, concept in enumerate(ds.concepts):
            category = concept.split(":")[0]
            if category == "scene":
                continue
            want = torch.from_numpy(maps[i][category] == ds.labels[k])
            assert torch.equal(masks[k], want), (i, concept)
    assert int(ds[0]["masks"][ds.concepts.index("object:dog")].sum()) == 32  # label 300
    x = ds[0]["image"]  # the red label's pixels are red in the image
    assert torch.allclose(x[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))


def test_image_level_labels_fill_the_image(broden: Path) -> None:
    ds = Broden(broden)
    k = ds.concepts.index("scene:kitchen")
    assert bool(ds[0]["masks"][k].all()) and not bool(ds[1]["masks"][k].any())
    assert bool(ds[3]["masks"][k].all()) and not bool(ds[3]["masks"][:k].any())


def test_categories_split_size_and_normalization(broden: Path) -> None:
    scenes = Broden(broden, categories=["scene"])
    assert scenes.concepts == ["scene:kitchen"] and len(scenes) == 2  # rows without one: out
    objects = Broden(broden, categories=["object", "color"])
    assert objects.concepts == ["color:red", "object:dog", "object:sky", "object:wood"]
    assert len(objects) == 3 and objects[1]["masks"].shape == (4, 8, 8)
    assert len(Broden(broden, split="val")) == 1
    small = Broden(broden, size=8, mean=0.5, std=0.5)
    x = small[0]["image"]
    assert x.shape == (3, 8, 8) and torch.allclose(x[:, 0, 0], torch.tensor([1.0, -1, -1]))
    assert small.spec.mean == (0.5,) * 3 and small.mask_size == (8, 8)
    wide = Broden(broden, size=(8, 16))  # another aspect ratio: masks cropped alike
    assert wide.mask_size == (4, 8) and wide[0]["masks"].shape == (6, 4, 8)
    with pytest.raises(ConceptDataError, match="no category 'texture'.*color, object"):
        Broden(broden, categories=["texture"])
    with pytest.raises(ConceptDataError, match="no image .* in split 'test'"):
        Broden(broden, split="test")


def test_missing_files_and_unreadable_masks(broden: Path, tmp_path: Path) -> None:
    with pytest.raises(ConceptDataError, match="index.csv.* is missing"):
        Broden(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in broden.iterdir():
        if f.is_file():
            (bad / f.name).write_bytes(f.read_bytes())
    (bad / "images" / "src").mkdir(parents=True)
    for f in (broden / "images" / "src").iterdir():
        (bad / "images" / "src" / f.name).write_bytes(f.read_bytes())
    (bad / "images" / "src" / "1_object.png").write_bytes(b"not a png")
    ds = Broden(bad)
    with pytest.raises(ConceptDataError, match="mask .*1_object.png.* cannot be read"):
        ds[1]


def red_unit() -> nn.Module:
    """Unit 0 fires (1) on pure red pixels and nowhere else; unit 1 is random."""
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 2, 1)
    with torch.no_grad():
        conv.weight[1] = torch.randn(3, 1, 1) * 0.05
        conv.weight[0] = torch.tensor([1.0, -1.0, -1.0]).view(3, 1, 1) * 20
        conv.bias.copy_(torch.tensor([-20 * 0.45, 0.0]))
    return nn.Sequential(conv, nn.Hardtanh(0.0, 1.0)).eval()


def test_dissection_labels_a_red_unit_red(broden: Path) -> None:
    d = dissect(red_unit(), Broden(broden), "1", progress=False)
    assert d.concepts[0] == "color:red" and d.ious[0] > 0.9 and 0 in d.detectors


def test_concept_data_finds_a_broden_folder(broden: Path) -> None:
    from neuronscope.core.spec import InputSpec

    ds = concept_data(str(broden), InputSpec(shape=(3, 8, 8), mean=(0.5,) * 3, std=(0.5,) * 3))
    assert isinstance(ds, Broden) and ds.spec.shape == (3, 8, 8) and ds.spec.mean == (0.5,) * 3
    assert isinstance(concept_data(str(broden)), Broden) and concept_data(str(broden)).size == 16
