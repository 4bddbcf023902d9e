"""Lesions of a language model: a sweep over a character LSTM's cells scores next-character
accuracy over every position, and a cell silenced inside the recurrence (where every
variant runs the whole model, and the state layer is called again as it settles) gives
what `ns.ablate` gives cell by cell."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import neuronscope as ns
from neuronscope.data.pysource import VOCAB
from neuronscope.zoo.charlm import char_lstm


@pytest.fixture(scope="module")
def setup() -> tuple[nn.Module, object, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = char_lstm(len(VOCAB), embed=4, hidden=6).eval()
    data = ns.datasets.load("pysource", split="test", seq_len=16, max_chars=2_000)
    x = torch.stack([data[i][0] for i in range(len(data))])
    y = torch.stack([data[i][1] for i in range(len(data))])
    return model, data, x, y


@pytest.mark.parametrize("layer", ["lstm.c", "lstm.tanh_c", "lstm.h"])
def test_a_sweep_of_cells_equals_each_cell_ablated_by_hand(setup, layer: str) -> None:
    model, data, x, y = setup
    sweep = ns.unit_sweep(model, data, layer, progress=False)
    with torch.no_grad():
        assert sweep.baseline == pytest.approx(float((model(x).argmax(-1) == y).float().mean()))
        for unit in range(6):
            with ns.ablate(model, f"{layer}:{unit}"):
                by_hand = float((model(x).argmax(-1) == y).float().mean())
            assert float(sweep.ablated[unit]) == pytest.approx(by_hand, abs=1e-6), unit


def test_the_loss_counts_every_position(setup) -> None:
    model, data, x, y = setup
    sweep = ns.unit_sweep(model, data, "lstm.c", metric="loss", units=[2], progress=False)
    with torch.no_grad():
        whole = float(torch.nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten()))
    assert sweep.baseline == pytest.approx(whole, rel=1e-5)


def test_labels_that_fit_no_logits_are_refused_clearly(setup) -> None:
    model, data, x, _ = setup
    wrong = torch.utils.data.TensorDataset(x, torch.zeros(len(x), dtype=torch.long))
    with pytest.raises(ValueError, match=r"gives \(\d+, 16, 98\) for labels of shape \(\d+,\)"):
        ns.unit_sweep(model, wrong, "lstm.c", units=[0], progress=False)
