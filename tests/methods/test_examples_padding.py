"""top_examples leaves padded positions out of each input's maximum and mean."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import neuronscope as ns
from neuronscope.core.spec import InputSpec, attach_spec


class Tokens(nn.Module):
    """Ids [B, T] -> one unit per id's embedding [B, T, 2]; kwargs like a Hugging Face model."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(4, 2)
        with torch.no_grad():
            self.embed.weight.copy_(torch.tensor([[9.0, -9.0], [1.0, 1.0], [2.0, 0.0],
                                                  [0.0, 3.0]]))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
                ) -> torch.Tensor:
        return self.embed(input_ids)


IDS = torch.tensor([[1, 2, 0, 0], [3, 1, 1, 0], [2, 2, 2, 2]])  # 0 is [PAD]


def test_pad_ids_of_the_spec_count_for_neither_the_peak_nor_the_mean() -> None:
    model = attach_spec(Tokens(), InputSpec(shape=(4,), kind="text", extra={"pad_id": 0}))
    top = ns.top_examples(model, IDS, layers="embed", k=3, reduce="max", progress=False)["embed"]
    assert top.values[0].tolist() == [2.0, 2.0, 1.0]  # the pad's 9.0 would win everywhere
    assert int(top.indices[0, 2]) == 1 and int(top.positions[0, 2, 0]) == 1  # not the pad at 3
    mean = ns.top_examples(model, IDS, layers="embed", k=3, reduce="mean",
                           progress=False)["embed"]
    assert sorted(mean.values[1].tolist()) == pytest.approx([0.0, 0.5, 5 / 3])  # 4, 2, 3 tokens
    plain = ns.top_examples(Tokens(), IDS, layers="embed", k=1, progress=False)["embed"]
    assert float(plain.values[0, 0]) == 9.0  # without a pad id every position counts


def test_a_dict_inputs_attention_mask_is_used() -> None:
    data = [{"input_ids": ids, "attention_mask": (ids != 0).long()} for ids in IDS]
    top = ns.top_examples(Tokens(), data, layers="embed", k=3, reduce="max",
                          progress=False)["embed"]
    assert top.values[0].tolist() == [2.0, 2.0, 1.0]
