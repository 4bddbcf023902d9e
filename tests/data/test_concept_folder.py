"""A user's folder of concept masks: concepts, masks at the image size, image-level labels,
each error named; a planted red unit dissected on it; `concept_data` resolving a source."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.spec import InputSpec
from neuronscope.data import ConceptFolder, PixelColors, concept_data
from neuronscope.data.concept_files import ConceptDataError
from neuronscope.methods.dissect import dissect


def _regions() -> dict[str, dict[str, np.ndarray]]:
    """Per image stem, the 16x16 region of each concept drawn on it."""

    def box(top: int, bottom: int, left: int, right: int) -> np.ndarray:
        m = np.zeros((16, 16), bool)
        m[top:bottom, left:right] = True
        return m

    return {
        "a": {"color/red": box(0, 8, 0, 8), "object/dog": box(8, 16, 0, 16)},
        "b": {"color/red": box(10, 16, 6, 12)},
        "c": {"object/dog": box(4, 12, 4, 12)},
        "d": {},
    }


def _make(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    paint = {"color/red": (255, 0, 0), "object/dog": (0, 0, 200)}
    for stem, regions in _regions().items():
        img = np.full((16, 16, 3), 128, np.uint8)
        for concept in ("object/dog", "color/red"):
            if concept in regions:
                img[regions[concept]] = paint[concept]
        Image.fromarray(img).save(root / "images" / f"{stem}.png")
        for concept, region in regions.items():
            (root / "masks" / concept).mkdir(parents=True, exist_ok=True)
            mode = "L" if stem != "b" else "RGBA"  # any non-zero pixel; transparent = outside
            mask = Image.fromarray(region.astype(np.uint8) * 255).convert(mode)
            mask.save(root / "masks" / concept / f"{stem}.png")
    (root / "labels.csv").write_text(
        "stem,concept\na,scene:kitchen\n\n# a comment\nd,scene:kitchen\n"
    )
    return root


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return _make(tmp_path / "concepts")


def test_concepts_and_masks(folder: Path) -> None:
    ds = ConceptFolder(folder, size=16)
    assert ds.concepts == ["color:red", "object:dog", "scene:kitchen"] and len(ds) == 4
    assert ds.spec.shape == (3, 16, 16) and ds.mask_size == (16, 16)
    for i, (stem, regions) in enumerate(_regions().items()):
        masks = ds[i]["masks"]
        assert masks.shape == (3, 16, 16) and masks.dtype == torch.bool
        for k, concept in enumerate(("color/red", "object/dog")):
            want = regions.get(concept, np.zeros((16, 16), bool))
            assert torch.equal(masks[k], torch.from_numpy(want)), (stem, concept)
        assert bool(masks[2].all()) == (stem in "ad") and bool(masks[2].any()) == (stem in "ad")


def test_size_crop_and_normalization(folder: Path) -> None:
    Image.new("RGB", (32, 16), (0, 255, 0)).save(folder / "images" / "e.png")  # wide
    wide = np.zeros((16, 32), np.uint8)
    wide[:, 8:16] = 255  # the left half of the centre square
    Image.fromarray(wide).save(folder / "masks" / "object" / "dog" / "e.png")
    ds = ConceptFolder(folder, size=8, mean=0.5, std=0.5)
    assert ds.spec.mean == (0.5,) * 3 and ds[0]["masks"].shape == (3, 8, 8)
    x, masks = ds[4]["image"], ds[4]["masks"]
    assert x.shape == (3, 8, 8) and torch.allclose(x[:, 4, 4], torch.tensor([-1.0, 1, -1]))
    want = torch.zeros(8, 8, dtype=torch.bool)
    want[:, :4] = True  # cropped to the centre square as the image is, then resized
    assert torch.equal(masks[1], want)
    assert torch.equal(ds[0]["masks"][0], torch.from_numpy(_regions()["a"]["color/red"][::2, ::2]))


def test_dissection_labels_a_red_unit_red(folder: Path) -> None:
    from .test_broden import red_unit

    d = dissect(red_unit(), ConceptFolder(folder, size=16), "1", progress=False)
    assert d.concepts[0] == "color:red" and d.ious[0] > 0.9 and 0 in d.detectors


def test_errors_are_named(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ConceptDataError, match="no images in"):
        ConceptFolder(tmp_path / "nothing")
    (folder / "masks" / "color" / "red" / "zebra.png").write_bytes(
        (folder / "masks" / "color" / "red" / "a.png").read_bytes()
    )
    with pytest.raises(ConceptDataError, match="zebra.png.*names image 'zebra'"):
        ConceptFolder(folder)
    (folder / "masks" / "color" / "red" / "zebra.png").write_bytes(b"not a png")
    (folder / "images" / "zebra.png").write_bytes((folder / "images" / "a.png").read_bytes())
    with pytest.raises(ConceptDataError, match="mask .*zebra.png.* cannot be read"):
        ConceptFolder(folder)
    Image.new("L", (10, 14), 255).save(folder / "masks" / "color" / "red" / "zebra.png")
    with pytest.raises(ConceptDataError, match="zebra.png is 10x14 pixels but its image "
                       "zebra.png is 16x16"):  # never stretched onto other pixels
        ConceptFolder(folder)
    (folder / "masks" / "color" / "red" / "zebra.png").unlink()
    (folder / "masks" / "shape" / "none").mkdir(parents=True)
    Image.new("L", (16, 16), 0).save(folder / "masks" / "shape" / "none" / "a.png")
    with pytest.raises(ConceptDataError, match="shape:none marks no pixel.*cannot be scored"):
        ConceptFolder(folder)
    shutil.rmtree(folder / "masks" / "shape")
    (folder / "images" / "zebra.jpg").write_bytes(b"")
    with pytest.raises(ConceptDataError, match="two images are named 'zebra'"):
        ConceptFolder(folder)
    (folder / "images" / "zebra.jpg").unlink()
    (folder / "labels.csv").write_text("a,kitchen\n")
    with pytest.raises(ConceptDataError, match="line 1: expected"):
        ConceptFolder(folder)
    (folder / "labels.csv").write_text("q,scene:kitchen\n")
    with pytest.raises(ConceptDataError, match="line 1 names image 'q'"):
        ConceptFolder(folder)


def test_concept_data_resolves_each_form(folder: Path, tmp_path: Path) -> None:
    spec = InputSpec(shape=(3, 8, 8), mean=(0.5,) * 3, std=(0.25,) * 3)
    ds = concept_data(str(folder), spec)
    assert (
        isinstance(ds, ConceptFolder) and ds.spec.shape == (3, 8, 8) and ds.spec.mean == spec.mean
    )
    colors = concept_data(f"colors:folder:{folder / 'images'}", spec)
    assert isinstance(colors, PixelColors) and colors[0]["masks"].shape == (11, 8, 8)
    assert bool(colors[0]["masks"][colors.concepts.index("color:red"), 0, 0])
    shapes = concept_data("shapes", InputSpec(shape=(3, 32, 32), mean=spec.mean, std=spec.std))
    assert "color:red" in shapes.concepts and shapes.spec.mean == spec.mean
    assert float(shapes[0]["image"].min()) < 0  # normalized for the model
    assert shapes[0]["image"].shape == (3, 32, 32) and shapes[0]["masks"].shape[1:] == (32, 32)
    with pytest.raises(ConceptDataError, match="square RGB"):  # drawn at the model's size
        concept_data("shapes", InputSpec(shape=(3, 32, 48)))
    (tmp_path / "plain").mkdir()
    for bad in ("nowhere/at/all", str(tmp_path / "plain"), "colors:"):
        with pytest.raises(NeuronscopeError, match="colors:"):
            concept_data(bad)
