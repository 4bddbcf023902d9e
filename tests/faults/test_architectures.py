"""Finding 5 of the trust issue, on small stand-ins of real architectures built here:
the unit axis of a layer comes from what its output is (a ConvNeXt block returns
[B, C, H, W] whatever Linear it holds inside; a Swin stem returns [B, H, W, C]),
receptive fields are exact or marked as estimates and never have stride 0, and
dict items and dict outputs work where tuples do."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import neuronscope as ns
from neuronscope.core.axes import set_unit_axis


class Permute(nn.Module):
    def __init__(self, *dims: int) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(*self.dims)


class LayerNorm2d(nn.LayerNorm):
    """torchvision's: a LayerNorm over the channels of a [B, C, H, W] map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class CNBlock(nn.Module):
    """A ConvNeXt block: depthwise conv, then LayerNorm and two Linears channels-last."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, 7, padding=3, groups=dim), Permute(0, 2, 3, 1),
            nn.LayerNorm(dim), nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim),
            Permute(0, 3, 1, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


def convnext() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 6, 4, stride=4), LayerNorm2d(6)),
        nn.Sequential(CNBlock(6), CNBlock(6)),
        nn.Sequential(LayerNorm2d(6), nn.Conv2d(6, 12, 2, stride=2)),
        CNBlock(12), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 3)).eval()


class SwinBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm, self.mlp = nn.LayerNorm(dim), nn.Sequential(nn.Linear(dim, 2 * dim),
                                                               nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(self.norm(x))


def swin() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 6, 4, stride=4), Permute(0, 2, 3, 1), nn.LayerNorm(6)),
        SwinBlock(6), SwinBlock(6), Permute(0, 3, 1, 2), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(6, 3)).eval()


X = torch.rand(2, 3, 40, 40)  # maps of 10 x 10 and 5 x 5: no size equals a channel count


def test_convnext_maps_keep_their_units_on_the_channel_axis() -> None:
    infos = {i.name: i for i in ns.layers(convnext(), X)}
    for name in ("0", "0.1", "1", "1.0", "1.1", "2", "2.0", "3", "3.block.6"):
        assert infos[name].unit_axis == 1, name
    assert infos["1.0"].n_units == 6 and infos["3"].n_units == 12
    for name in ("1.0.block.1", "1.0.block.2", "1.0.block.3", "1.0.block.5"):
        assert infos[name].unit_axis == 3, name  # channels-last inside the block


@pytest.mark.parametrize("fresh", [True, False])
def test_ablating_a_convnext_block_unit_zeroes_a_channel(fresh: bool) -> None:
    model = convnext()
    if not fresh:
        ns.layers(model, X)
    with ns.ablate(model, "1.0:5"), ns.record(model, ["1.0"]) as rec:
        model(X)
    out = rec["1.0"]
    assert (out[:, 5] == 0).all() and (out[:, :5] != 0).all()
    res = ns.top_examples(convnext(), X, ["1.0"], k=1, progress=False)
    assert res["1.0"].n_units == 6


def test_swin_maps_are_channels_last() -> None:
    infos = {i.name: i for i in ns.layers(swin(), X)}
    for name in ("0", "0.1", "0.2", "1", "2"):
        assert infos[name].unit_axis == 3 and infos[name].n_units == 6, name
    assert infos["3"].unit_axis == 1


def test_an_override_names_the_axis_for_every_method() -> None:
    model = convnext()
    set_unit_axis(model, "1.0", 2)  # say the rows were the units
    assert {i.name: i for i in ns.layers(model, X)}["1.0"].n_units == 10
    with ns.record(model, ["1.0:9"]) as rec:
        model(X)
    assert rec["1.0:9"].shape == (2, 6, 10)


@pytest.mark.parametrize("make", [convnext, swin])
def test_receptive_fields_of_channels_last_stems_are_exact(make) -> None:  # noqa: ANN001
    rf = ns.receptive_field(make(), "0", X, method="gradient")
    assert rf.size == (4, 4) and rf.stride == (4, 4) and rf.exact


class SqueezeExcite(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)
        self.fc = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, dim, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y * self.fc(y)


def test_a_field_larger_than_the_input_is_an_estimate_never_stride_zero() -> None:
    torch.manual_seed(0)
    deep = nn.Sequential(*[nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.ReLU())
                           for _ in range(6)], nn.Conv2d(3, 4, 3, stride=2, padding=1),
                         nn.Conv2d(4, 4, 5, stride=2, padding=2)).eval()
    rf = ns.receptive_field(deep, "7", torch.rand(1, 3, 16, 16), method="gradient")
    assert not rf.exact and rf.stride == (4, 4)
    se = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), SqueezeExcite(4)).eval()
    rf = ns.receptive_field(se, "1", torch.rand(1, 3, 32, 32), method="gradient")
    assert min(rf.stride) > 0 and not rf.exact and not rf.is_global
    assert rf.stride == (2, 2)


class TinyEncoder(nn.Module):
    """Hugging Face style: keyword inputs, a dict-like output with ``logits``."""

    def __init__(self) -> None:
        super().__init__()
        self.embed, self.mlp = nn.Embedding(20, 8), nn.Linear(8, 6)
        self.head = nn.Linear(6, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict:
        h = torch.relu(self.mlp(self.embed(input_ids))) * attention_mask[..., None]
        from collections import OrderedDict

        return OrderedDict(logits=self.head(h.mean(1)), hidden=h)


class Tokens(torch.utils.data.Dataset):
    def __init__(self, n: int = 24) -> None:
        g = torch.Generator().manual_seed(0)
        self.ids = torch.randint(0, 20, (n, 5), generator=g)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.ids[i], "attention_mask": torch.ones(5),
                "labels": int(self.ids[i, 0] % 2)}


def test_dict_items_and_dict_outputs_work_like_tuples() -> None:
    torch.manual_seed(0)
    model, data = TinyEncoder().eval(), Tokens()
    res = ns.top_examples(model, data, ["mlp"], k=2, progress=False)
    assert res["mlp"].n_units == 6 and res["mlp"].count == 24
    study = ns.ablation_study(model, data, "mlp", fractions=3, repeats=1, progress=False)
    assert study.importance.shape == (6,)
    sweep = ns.unit_sweep(model, data, "mlp", progress=False)
    assert torch.isfinite(torch.as_tensor(sweep.importance)).all()
    assert ns.class_selectivity(model, data, "mlp", progress=False).selectivity.shape == (6,)


class WithAux(nn.Module):
    """googlenet's pattern: an auxiliary head that runs only in training mode."""

    def __init__(self) -> None:
        super().__init__()
        self.body, self.aux, self.head = nn.Linear(4, 3), nn.Linear(3, 2), nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        if self.training:
            return self.head(h) + self.aux(h)
        return self.head(h)


def test_layers_that_run_only_in_training_are_listed_in_training_mode() -> None:
    model = WithAux().train()
    bn = nn.BatchNorm1d(4).train()
    model.body = nn.Sequential(bn, nn.Linear(4, 3))
    before = bn.running_mean.clone()
    names = [i.name for i in ns.layers(model, torch.rand(5, 4))]
    assert "aux" in names and model.training
    assert torch.equal(bn.running_mean, before)  # the trace left the statistics alone
    model.eval()
    with pytest.raises(ns.LayerNotFoundError, match="training mode"):
        ns.top_examples(model, torch.rand(6, 4), ["aux"], progress=False)


class FunctionalSwin(nn.Module):
    """The permute to channels-last done in forward, not by a module."""

    def __init__(self) -> None:
        super().__init__()
        self.patch, self.s1 = nn.Conv2d(3, 12, 4, stride=4), SwinBlock(12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.s1(self.patch(x).permute(0, 2, 3, 1))


class Res1d(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x)


class Tokens1d(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb, self.block = nn.Embedding(30, 16), Res1d(16)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.block(self.emb(ids).transpose(1, 2))


def test_a_permute_written_in_forward_carries_the_unit_axis() -> None:
    torch.manual_seed(0)
    infos = {i.name: i for i in ns.layers(FunctionalSwin().eval(), torch.rand(2, 3, 32, 32))}
    assert infos["s1"].unit_axis == 3 and infos["s1"].n_units == 12
    infos = {i.name: i for i in ns.layers(Tokens1d().eval(), torch.randint(0, 30, (2, 10)))}
    assert infos["block"].unit_axis == 1 and infos["block"].n_units == 16


def test_a_plain_layernorm_is_channels_last_even_when_sizes_coincide() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 4, stride=4), Permute(0, 2, 3, 1),
                          nn.LayerNorm(16)).eval()
    x = torch.rand(2, 3, 64, 64)  # maps of 16 x 16 with 16 channels
    assert {i.name: i for i in ns.layers(model, x)}["2"].unit_axis == 3
    with ns.ablate(model, "2:3"), ns.record(model, ["2"]) as rec:
        model(x)
    assert (rec["2"][..., 3] == 0).all() and (rec["2"][:, 3] != 0).any()
