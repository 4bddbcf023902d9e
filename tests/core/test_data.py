"""Every kind of dataset item reads the same way: bare tensors, (input, label, ...)
tuples, and dicts with an input key, labels, masks and other keys."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import Dataset

import neuronscope as ns
from neuronscope.core.data import (
    as_dataset,
    batch_input,
    batch_labels,
    batch_size_of,
    first_batch,
    item_input,
    loader,
    move,
)
from neuronscope.core.fingerprint import data_fingerprint, model_fingerprint


class DictItems(Dataset):
    """Items like the shapes dataset with masks: image, label, masks and a name."""

    def __len__(self) -> int:
        return 5

    def __getitem__(self, i: int) -> dict:
        return {"image": torch.full((1, 4, 4), float(i)), "label": i % 2,
                "masks": torch.zeros(3, 4, 4, dtype=torch.bool), "name": f"item{i}"}


def test_items_of_every_kind_give_input_and_label() -> None:
    triples = [(torch.ones(2), 1, "extra")]
    assert batch_input(triples[0]).tolist() == [1.0, 1.0] and int(batch_labels(triples[0])) == 1
    batch = next(iter(loader(DictItems(), batch_size=4)))
    assert batch_input(batch).shape == (4, 1, 4, 4) and batch_labels(batch).tolist() == [0, 1, 0, 1]
    assert batch["masks"].shape == (4, 3, 4, 4) and batch["name"][0] == "item0"
    assert item_input(DictItems(), 3)[0, 0, 0] == 3.0
    bare = as_dataset(torch.arange(6.0).view(3, 2))
    assert [batch_input(b).tolist() for b in loader(bare, 2)] == [[[0.0, 1.0], [2.0, 3.0]],
                                                                 [[4.0, 5.0]]]
    assert first_batch(DictItems()).shape == (1, 1, 4, 4)
    assert batch_size_of({"ids": torch.zeros(7, 3)}) == 7 and batch_size_of((torch.zeros(2),)) == 2
    assert move({"a": [torch.ones(1)]}, "cpu")["a"][0].device.type == "cpu"


def test_bad_data_gets_a_clear_error() -> None:
    with pytest.raises(ns.NeuronscopeError, match="Dataset or a tensor"):
        as_dataset(42)
    with pytest.raises(ns.NeuronscopeError, match="without an input"):
        batch_input({"label": torch.zeros(1)})
    # a dict with no input key holds keyword arguments (Hugging Face style)
    assert list(batch_input({"input_ids": torch.zeros(1), "labels": 1})) == ["input_ids"]
    with pytest.raises(ns.NeuronscopeError, match="labelled data"):
        batch_labels(torch.zeros(3))
    with pytest.raises(ns.NeuronscopeError, match="empty"):
        first_batch(torch.zeros(0, 3))
    with pytest.raises(ValueError, match="batch_size"):
        loader(torch.zeros(3), 0)


def test_fingerprints_see_weights_and_data() -> None:
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    assert model_fingerprint(a) != model_fingerprint(b)
    b.load_state_dict(a.state_dict())
    assert model_fingerprint(a) == model_fingerprint(b)
    assert data_fingerprint(DictItems()) == data_fingerprint(DictItems())
    assert data_fingerprint(torch.zeros(4, 2)) != data_fingerprint(torch.zeros(5, 2))
