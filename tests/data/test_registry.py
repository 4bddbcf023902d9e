"""The dataset registry: names, load, errors."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from neuronscope import data
from neuronscope.core.errors import DatasetNotFoundError, NeuronscopeError


def test_names_lists_the_builtins():
    names = data.names()
    assert names == sorted(names)
    for name in ("shapes", "digits", "faces", "photos", "pysource"):
        assert name in names


def test_unknown_name_suggests_the_closest():
    with pytest.raises(DatasetNotFoundError) as info:
        data.load("shape")
    msg = str(info.value)
    assert "'shape'" in msg and "did you mean 'shapes'" in msg
    for name in data.names():
        assert name in msg
    assert "folder:PATH" in msg
    assert isinstance(info.value, KeyError) and isinstance(info.value, NeuronscopeError)


def test_unknown_name_without_close_match_still_lists_names():
    with pytest.raises(DatasetNotFoundError, match="available datasets: .*digits") as info:
        data.load("zzzzzz")
    assert "did you mean" not in str(info.value)


@pytest.mark.parametrize("split", ["val", "Train", ""])
def test_bad_split_names_the_valid_ones(split):
    with pytest.raises(ValueError) as info:
        data.load("digits", split=split)
    msg = str(info.value)
    assert repr(split) in msg
    assert "'train'" in msg and "'test'" in msg and "'all'" in msg


def test_bad_split_is_refused_by_the_dataset_classes_too():
    from neuronscope.data.shapes import Shapes

    with pytest.raises(ValueError, match="valid splits"):
        Shapes("validation", n=2)


def test_register_and_load_a_custom_dataset():
    calls = []

    def factory(split="train", scale=1.0):
        calls.append((split, scale))
        return TensorDataset(torch.full((3, 2), scale))

    data.register("custom-test-only", factory)
    try:
        ds = data.load("custom-test-only", split="test", scale=2.0)
        assert len(ds) == 3 and float(ds[0][0][0]) == 2.0
        assert calls == [("test", 2.0)]
        assert "custom-test-only" in data.names()
    finally:
        data._REGISTRY.pop("custom-test-only")


def test_register_refuses_bad_names_and_factories():
    with pytest.raises(ValueError):
        data.register("folder:x", lambda split="train": None)
    with pytest.raises(TypeError):
        data.register("not-callable", 3)


def test_default_split_is_train_for_builtins():
    assert len(data.load("digits")) == len(data.load("digits", split="train")) == 1437
