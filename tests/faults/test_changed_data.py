"""Finding 1 of the trust issue: a resumed run or an atlas never mixes two datasets of the
same length. Every item's content is hashed while it is read; a resumed `top_examples`
re-reads the items its checkpoint has mined, and an atlas checks every item any later
pass reads against the digest recorded when it was first read."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset, TensorDataset

import neuronscope as ns
from neuronscope import data as datasets
from neuronscope.atlas.build import build_atlas
from neuronscope.core.datacheck import DataChangedError

from .models import small_cnn


class Stops(Dataset):
    """`data`, raising KeyboardInterrupt when item `stop` is read (an interrupted run)."""

    def __init__(self, data: Dataset, stop: int) -> None:
        self.data, self.stop = data, stop

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int):
        if i == self.stop:
            raise KeyboardInterrupt
        return self.data[i]


def _digits(seed: int, n: int = 96) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.rand(n, 3, 8, 8, generator=g), torch.arange(n) % 2)


def _interrupted(ckpt: Path, data: Dataset) -> None:
    with pytest.raises(KeyboardInterrupt):
        ns.top_examples(small_cnn(), Stops(data, 70), k=3, batch_size=8, checkpoint=ckpt,
                        checkpoint_every=2, progress=False)


def test_a_resumed_pass_refuses_other_data_of_the_same_length(tmp_path: Path) -> None:
    old, new = _digits(0), _digits(1)
    ckpt = tmp_path / "mine.ckpt"
    _interrupted(ckpt, old)
    assert ckpt.exists()  # quick fingerprints agree: first, last and 6 items between equal
    for i in np.linspace(0, 95, 8).round().astype(int):
        new.tensors[0][i] = old.tensors[0][i]
    with pytest.raises(DataChangedError, match="data changed") as info:
        ns.top_examples(small_cnn(), new, k=3, batch_size=8, checkpoint=ckpt, progress=False)
    assert str(ckpt) in str(info.value) and "Delete" in str(info.value)
    resumed = ns.top_examples(small_cnn(), old, k=3, batch_size=8, checkpoint=ckpt,
                              progress=False)
    whole = ns.top_examples(small_cnn(), old, k=3, batch_size=8, progress=False)
    assert torch.equal(resumed["0"].indices, whole["0"].indices)
    assert resumed.info["data"] == whole.info["data"] == ns.data_fingerprint(old)


def test_one_changed_item_among_those_mined_is_found(tmp_path: Path) -> None:
    old = _digits(0)
    ckpt = tmp_path / "mine.ckpt"
    _interrupted(ckpt, old)
    new = _digits(0)
    new.tensors[0][5, 1, 2, 3] += 1e-6  # one value of one item already mined
    with pytest.raises(DataChangedError):
        ns.top_examples(small_cnn(), new, k=3, batch_size=8, checkpoint=ckpt, progress=False)


def test_the_content_fingerprint_covers_every_item_and_label() -> None:
    a, b = _digits(0), _digits(0)
    assert ns.data_fingerprint(a) == ns.data_fingerprint(b)
    b.tensors[1][40] += 1  # a label
    assert ns.data_fingerprint(a) != ns.data_fingerprint(b)
    c = _digits(0)
    c.tensors[0][[3, 4]] = c.tensors[0][[4, 3]]  # two items swapped
    assert ns.data_fingerprint(a) != ns.data_fingerprint(c)


def test_shards_merge_to_the_whole_fingerprint() -> None:
    data = _digits(0)
    parts = [ns.top_examples(small_cnn(), data, k=2, batch_size=8, shard=(i, 3), progress=False)
             for i in range(3)]
    merged = parts[0].merge(parts[1]).merge(parts[2])
    assert merged.info["data"] == ns.data_fingerprint(data)


def _write(path: Path, seed: int, invert: bool = False) -> None:
    pixels = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(255 - pixels if invert else pixels).save(path)


def test_an_atlas_refuses_a_folder_whose_images_changed(tmp_path: Path) -> None:
    root = tmp_path / "images"
    for i in range(20):
        (root / "ab"[i % 2]).mkdir(parents=True, exist_ok=True)
        _write(root / "ab"[i % 2] / f"{i:02d}.png", i)
    out = tmp_path / "atlas"
    dataset = datasets.load(f"folder:{root}", split="all", size=8)
    build_atlas(small_cnn(), dataset, str(out), sections=("examples",), progress=False)
    layers_before = json.loads((out / "manifest.json").read_text())["layers"]
    # 12 of the 20 images replaced, none of those the quick fingerprint samples
    sampled = {round(j * 19 / 7) for j in range(8)}
    changed = [f for i, f in enumerate(dataset.files) if i not in sampled]
    assert len(changed) == 12
    for f in changed:
        _write(f, int(f.stem), invert=True)
    with pytest.raises(DataChangedError, match="mix two datasets") as info:
        build_atlas(small_cnn(), datasets.load(f"folder:{root}", split="all", size=8), str(out),
                    progress=False)
    assert str(out) in str(info.value)
    # nothing computed from the data was added (weights, which need none, may be)
    assert json.loads((out / "manifest.json").read_text())["layers"] == layers_before
    for f in changed:  # the images it was made from: the build goes on
        _write(f, int(f.stem))
    again = build_atlas(small_cnn(), datasets.load(f"folder:{root}", split="all", size=8),
                        str(out), sections=("examples", "ablation"), progress=False)
    assert "ablation" in again.manifest["layers"]["0"]
