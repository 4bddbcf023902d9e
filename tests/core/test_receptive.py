import logging

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from neuronscope.core.errors import LayerNotFoundError, NeuronscopeError
from neuronscope.core.receptive import ReceptiveField, receptive_field

from .models import ResNet


def positive(model: nn.Module) -> nn.Module:
    """Positive weights, no bias: every pixel of the footprint gets a non-zero gradient."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.weight.data = 0.1 + torch.rand(m.weight.shape, generator=g)
            if m.bias is not None:
                m.bias.data.zero_()
    return model


@st.composite
def chains(draw: st.DrawFn) -> list[nn.Module]:
    """1-3 blocks of a conv, optionally followed by a max or average pool.

    Max pools pass gradient only through the argmax, so the footprint is a union over
    random inputs; a conv before each pool spreads it enough to cover the whole field.
    """
    mods: list[nn.Module] = []
    for _ in range(draw(st.integers(1, 3))):
        k = (draw(st.integers(1, 7)), draw(st.integers(1, 7)))
        s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
        mods.append(nn.Conv2d(2, 2, k, stride=s, padding=p, dilation=draw(st.integers(1, 2))))
        kind = draw(st.sampled_from(["none", "max", "avg"]))
        if kind != "none":
            k, s = draw(st.integers(2, 3)), draw(st.integers(1, 3))
            p = draw(st.integers(0, k // 2))
            if kind == "max":
                mods.append(nn.MaxPool2d(k, s, p, dilation=draw(st.integers(1, 2))))
            else:
                mods.append(nn.AvgPool2d(k, s, p))
    return mods


@settings(max_examples=25, deadline=None, derandomize=True)
@given(chains())
def test_analytic_equals_gradient_footprint(mods: list[nn.Module]) -> None:
    model = positive(nn.Sequential(nn.Conv2d(1, 2, 1), *mods)).eval()
    last = str(len(model) - 1)
    for side in (40, 96, 200, 420):  # grow the input until the centre unit's box is inside it
        x = torch.zeros(1, 1, side, side + 3)
        try:
            out = model(x)
        except RuntimeError:  # the map vanished
            continue
        rf = receptive_field(model, last, x, method="analytic")
        centre = [(s - 1) // 2 for s in out.shape[2:]]
        near = [c + 1 for c in centre]
        boxes = [rf.box(*centre), rf.box(*near)]
        if min(out.shape[2:]) >= 2 and all(
            b[0] >= 0 and b[1] >= 0 and b[2] <= x.shape[2] and b[3] <= x.shape[3] for b in boxes
        ):
            break
    else:
        pytest.fail("no input size keeps the centre unit inside")
    grad = receptive_field(model, last, x, method="gradient", samples=32)
    assert (grad.size, grad.stride, grad.offset) == (rf.size, rf.stride, rf.offset)
    assert grad.method == "gradient" and rf.method == "analytic"


def test_hand_computed_chain() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 4, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(4, 4, 3, padding=1),
    )
    x = torch.zeros(1, 3, 64, 64)
    # r: 5 -> +1*1 = 6 -> +2*2 = 10 -> +1*2 = 12 -> +2*4 = 20; j: 1, 2, 2, 4, 4
    # offset: 0 -> +0.5 -> +0 -> +0.5*2 = 1.5 -> +0 (padding 1 centres the 3x3)
    rf = receptive_field(model, "7", x)
    assert rf == ReceptiveField((20, 20), (4, 4), (1.5, 1.5), "analytic", False, "7")
    assert rf.box(0, 0) == (-8, -8, 12, 12)
    assert rf.box(3, 5) == (4, 12, 24, 32)
    assert receptive_field(model, "2", x).size == (6, 6)
    assert receptive_field(model, "7:3@1,1", x) == rf  # a unit address uses its layer
    grad = receptive_field(model, "7", x, method="gradient", samples=16)
    assert (grad.size, grad.stride, grad.offset) == ((20, 20), (4, 4), (1.5, 1.5))


def test_one_dimensional_and_rectangular() -> None:
    model = nn.Sequential(nn.Conv1d(1, 2, 4, stride=2), nn.Tanh(), nn.Conv1d(2, 2, 3, dilation=2))
    rf = receptive_field(model, "2", torch.zeros(1, 1, 50))
    assert (rf.size, rf.stride, rf.offset) == ((12,), (2,), (5.5,))
    assert rf.box(2) == (4, 16)
    model2 = nn.Sequential(nn.Conv2d(1, 1, (1, 5), stride=(2, 1)))
    assert receptive_field(model2, "0", torch.zeros(1, 1, 9, 9)).size == (1, 5)


def test_residual_inplace_uses_gradient(caplog: pytest.LogCaptureFixture) -> None:
    model = ResNet().train()
    params = list(model.parameters())
    x = torch.zeros(1, 3, 32, 32)
    with caplog.at_level(logging.INFO, logger="neuronscope.core.receptive"):
        rf = receptive_field(model, "layer1", x)
    # stem 3x3 then four 3x3 convs along the longest path: 1 + 5 * 2 = 11, stride 1
    assert rf.method == "gradient" and rf.size == (11, 11) and rf.stride == (1, 1)
    assert rf.offset == (0.0, 0.0)
    assert "in place" in caplog.text
    block = receptive_field(model, "layer1.0", x)
    assert block.method == "gradient" and block.size == (7, 7)
    # inside the first block, before the hidden residual add, the calls are a chain
    inner = receptive_field(model, "layer1.0.bn2", x)
    assert inner.method == "analytic" and inner.size == (7, 7)
    assert all(p.grad is None for p in params)
    assert model.training and model.layer1[0].bn1.training  # modes restored
    with pytest.raises(NeuronscopeError, match="in place"):
        receptive_field(model, "layer1", x, method="analytic")


def test_global_layers() -> None:
    model = ResNet()
    x = torch.zeros(1, 3, 12, 10)
    for layer in ("pool", "fc"):
        rf = receptive_field(model, layer, x)
        assert rf.is_global and rf.size == (12, 10) and rf.to_dict()["global"] is True
        assert rf.box(0, 0) == (0, 0, 12, 10)
    chain = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))
    for layer in ("1", "2"):
        rf = receptive_field(chain, layer, torch.zeros(1, 1, 8, 8))
        assert rf.method == "analytic" and rf.is_global and rf.size == (8, 8)
    assert not receptive_field(chain, "0", torch.zeros(1, 1, 8, 8)).is_global


def test_same_padding_and_adaptive_pool() -> None:
    model = nn.Sequential(
        nn.Conv2d(1, 2, 5, padding="same", dilation=2), nn.AdaptiveMaxPool2d((4, None)),
        nn.Conv2d(2, 2, 3, padding="same"),
    )
    x = torch.zeros(1, 1, 16, 12)
    rf = receptive_field(model, "2", x)  # rows: 9 -> 9+3 = 12 -> 12+2*4 = 20, stride 4
    assert (rf.size, rf.stride, rf.offset, rf.method) == ((20, 11), (4, 1), (1.5, 0.0), "analytic")
    model[1] = nn.AdaptiveAvgPool2d((5, 5))  # 16 -> 5 is uneven: no simple kernel
    assert receptive_field(model, "2", x).method == "gradient"


def test_box_clips_at_borders() -> None:
    rf = ReceptiveField((7, 7), (2, 2), (0.0, 0.0), "analytic")
    assert rf.box(0, 0) == (-3, -3, 4, 4)
    assert rf.box(0, 0, clip=(3, 16, 16)) == (0, 0, 4, 4)
    assert rf.box(7, 2, clip=(16, 16)) == (11, 1, 16, 8)
    assert ReceptiveField.from_dict(rf.to_dict()) == rf
    with pytest.raises(ValueError, match="2 position"):
        rf.box(1)


def test_errors() -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    with pytest.raises(LayerNotFoundError, match="conv"):
        receptive_field(model, "conv1", torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="method"):
        receptive_field(model, "0", torch.zeros(1, 1, 8, 8), method="exact")
    with pytest.raises(NeuronscopeError, match="example input"):
        receptive_field(model, "0")


def test_channels_last_sequence_fields_are_along_time() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU())  # per time step: [B, T, F]
    rf = receptive_field(model, "1", torch.randn(1, 20, 4))
    assert rf.size == (1,) and rf.stride == (1,)


class TokenConv(nn.Module):
    """Token ids [B, T] -> embedding -> a width-3 conv along time -> per-step logits."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 8)
        self.conv = nn.Conv1d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 50)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(self.embed(ids).transpose(1, 2)))
        return self.fc(h.transpose(1, 2))


def test_token_inputs_are_measured_from_the_embedding_in_tokens() -> None:
    model = TokenConv().eval()
    ids = torch.randint(0, 50, (1, 64))
    rf = receptive_field(model, "embed", ids)  # each position is exactly its own token
    assert (rf.size, rf.stride, rf.offset, rf.is_global) == ((1,), (1,), (0.0,), False)
    assert rf.method == "gradient" and rf.exact
    conv = receptive_field(model, "conv", ids)
    assert (conv.size, conv.stride, conv.offset, conv.exact) == ((3,), (1,), (0.0,), True)
    assert receptive_field(model, "fc", ids).size == (3,)
    with pytest.raises(NeuronscopeError, match="token"):
        receptive_field(model, "conv", ids, method="analytic")
    with pytest.raises(NeuronscopeError, match="no nn.Embedding"):  # unknown, not global
        receptive_field(nn.Sequential(nn.Identity()), "0", ids)


def test_a_recurrent_field_is_not_claimed_exact() -> None:
    from neuronscope.zoo.charlm import char_lstm
    model = char_lstm(98, embed=8, hidden=16).eval()
    ids = torch.randint(0, 98, (1, 64))
    assert receptive_field(model, "embed", ids).size == (1,)
    for layer in ("lstm.c", "lstm.h"):
        rf = receptive_field(model, layer, ids)  # step t sees every step up to t
        assert not rf.exact and not rf.is_global and rf.stride == (1,)
        assert rf.box(31, clip=(64,)) == (0, 32)  # the centre step: all 32 steps so far


def test_a_final_recurrent_state_has_no_field_along_the_batch() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb, self.gru = nn.Embedding(9, 4), nn.GRU(4, 6, 2, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.gru(self.emb(x))[0]

    ids = torch.randint(0, 9, (4, 16))
    with pytest.raises(NeuronscopeError, match=r"gru\[1\]: a final state \[layers, batch"):
        receptive_field(Net(), "gru[1]", ids)  # [layers, batch, units]: no positions
    assert receptive_field(Net(), "gru[0]", ids).stride == (1,)  # every step: along time
