"""A real network probed with photos: efficientnet-lite0 through load("photos", model=...)."""

from __future__ import annotations

import pytest
import torch

import neuronscope as ns

CATS = {"tabby", "tiger cat", "Egyptian cat"}


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return ns.zoo.load("efficientnet-lite0")


def test_efficientnet_classifies_lfw_and_the_cat_through_the_dataset(
    model: torch.nn.Module,
) -> None:
    ds = ns.datasets.load("photos", model=model, groups=["skimage", "lfw-face", "lfw-nonface"],
                          label_by="group")
    spec = ns.input_spec(model)
    assert ds.spec.shape == spec.shape and (ds.spec.mean, ds.spec.std) == (spec.mean, spec.std)
    assert len(ds) == 219 and ds.classes == ["skimage", "lfw-face", "lfw-nonface"]
    cat = ds.names.index("chelsea")
    some = [cat, *range(19, 219, 5)]  # the cat, and every 5th face and non-face (fast)
    x = torch.stack([ds[i][0] for i in some])
    with torch.no_grad():
        logits = model(x)
    assert logits.shape == (41, 1000) and bool(torch.isfinite(logits).all())
    assert [ds[i][1] for i in some[1:]] == [1] * 20 + [2] * 20
    assert len(set(logits[1:].argmax(1).tolist())) > 1  # not one answer for every input
    top5 = [spec.class_names[i] for i in logits[0].topk(5).indices]
    assert CATS & set(top5), f"chelsea: top-5 {top5}"
