import pytest
import torch
import torch.nn.functional as F
from torch import nn

import neuronscope as ns
from neuronscope.core.ablate import ablate
from neuronscope.core.errors import (
    AmbiguousCallError,
    LayerNotFoundError,
    NeuronscopeError,
    UnitOutOfRangeError,
)
from neuronscope.core.hooks import patch, redirected_relu_grad
from neuronscope.core.recording import record

from .models import ResNet, Shared, TupleNet


def hook_state(model: nn.Module) -> dict:
    return {
        name: (dict(m._forward_hooks), dict(m._forward_pre_hooks))
        for name, m in model.named_modules()
    }


def manual_block(block: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    bn1 = block.bn1(block.conv1(x))
    bn2 = block.bn2(block.conv2(F.relu(bn1)))
    return {"bn1": bn1, "bn2": bn2, "out": F.relu(bn2 + x)}


def test_resnet_inplace_records_match_manual_forward() -> None:
    model = ResNet().eval()
    x = torch.randn(2, 3, 8, 8)
    with record(model, ["stem", "layer1.0.bn1", "layer1.0.bn2", "layer1.0", "fc"]) as rec:
        y = model(x)
    with torch.no_grad():
        stem = model.stem(x)
        b0 = manual_block(model.layer1[0], F.relu(stem))
    # in-place ReLU and `out += x` ran after these outputs were recorded
    assert (stem < 0).any() and torch.allclose(rec["stem"], stem)
    assert (b0["bn1"] < 0).any() and torch.allclose(rec["layer1.0.bn1"], b0["bn1"])
    assert torch.allclose(rec["layer1.0.bn2"], b0["bn2"])
    assert torch.allclose(rec["layer1.0"], b0["out"])
    assert torch.allclose(rec["fc"], y)


def test_training_mode_records_match_manual_forward() -> None:
    model = ResNet().train()
    x = torch.randn(4, 3, 8, 8)
    torch.manual_seed(7)
    with record(model, ["drop", "layer1.1.bn1"]) as rec:
        model(x)
    torch.manual_seed(7)
    with torch.no_grad():
        h = F.relu(model.stem(x))
        h = model.layer1(h)
        pooled = torch.flatten(model.pool(h), 1)
        dropped = model.drop(pooled)
    assert model.training and (dropped == 0).any()
    assert torch.equal(rec["drop"], dropped)
    assert rec["layer1.1.bn1"].shape == (4, 4, 8, 8)


def test_shared_module_is_recorded_per_call() -> None:
    model = Shared()
    x = torch.randn(3, 4)
    with record(model, ["shared"]) as rec:
        model(x)
        first, second = rec.calls("shared")
        with pytest.raises(AmbiguousCallError, match="ran 2 times"):
            rec["shared"]
        model(x)  # a new pass replaces the old one
        assert len(rec.calls("shared")) == 2
    with torch.no_grad():
        a = model.shared(model.inp(x))
        b = model.shared(torch.tanh(a))
    assert torch.allclose(first, a) and torch.allclose(second, b)


def test_ablation_of_shared_module_applies_to_every_call() -> None:
    model = Shared()
    x = torch.randn(3, 4)
    with ablate(model, ["shared:2"]), torch.no_grad():
        y = model(x)
    with torch.no_grad():
        a = model.shared(model.inp(x))
        a[:, 2] = 0
        b = model.shared(torch.tanh(a))
        b[:, 2] = 0
        expected = model.out(b)
    assert torch.allclose(y, expected)


def test_tuple_and_dict_outputs_are_addressable() -> None:
    model = TupleNet()
    x = torch.randn(2, 4)
    with record(model, ["heads[0]", "heads[1][logits]", "heads[1][hidden]:1"]) as rec:
        model(x)
    with torch.no_grad():
        a = model.heads.a(x)
        assert torch.allclose(rec["heads[0]"], a)
        assert torch.allclose(rec["heads[1][logits]"], model.heads.b(x))
        assert torch.allclose(rec["heads[1][hidden]:1"], torch.relu(a)[:, 1])
    with ablate(model, ["heads[1][logits]:0"]), torch.no_grad():
        y = model(x)
    logits = model.heads.b(x).detach()
    logits[:, 0] = 0
    assert torch.allclose(y, model.out(torch.cat([a, logits], 1)).detach())
    with pytest.raises(LayerNotFoundError, match=r"heads\[1\]\[logits\], heads\[1\]\[hidden\]"):
        with record(model, ["heads[1][nope]"]):
            model(x)


def test_hooks_are_removed_after_normal_and_raising_blocks() -> None:
    model = ResNet()
    seen = []
    model.layer1.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    model.register_forward_pre_hook(lambda m, i: None)
    before = hook_state(model)
    x = torch.randn(1, 3, 8, 8)
    with record(model, ["layer1", "fc"]), ablate(model, ["stem:1"]), patch(model, "fc", abs):
        model(x)
    assert hook_state(model) == before
    with pytest.raises(RuntimeError, match="boom"):
        with record(model, ["layer1"]), ablate(model, "stem:0", value="mean"):
            model(x)
            raise RuntimeError("boom")
    assert hook_state(model) == before
    with pytest.raises(UnitOutOfRangeError):
        with ablate(model, ["stem:99"]):
            model(x)
    assert hook_state(model) == before
    model(x)
    assert len(seen) == 3  # ran in every pass that reached layer1, and still runs


def test_unknown_layer_fails_before_any_hook() -> None:
    model = ResNet()
    before = hook_state(model)
    with pytest.raises(LayerNotFoundError, match="Closest: layer1"):
        with record(model, ["fc", "layer"]):
            pass
    assert hook_state(model) == before


def test_out_of_range_unit_states_the_valid_range() -> None:
    model = ResNet()
    x = torch.randn(1, 3, 8, 8)
    with pytest.raises(UnitOutOfRangeError, match=r"has 4 units \(valid channels 0-3"):
        with record(model, ["stem:4"]):
            model(x)
    with pytest.raises(UnitOutOfRangeError, match="0-7, 0-7"):
        with ablate(model, ["stem:1@8,0"]):
            model(x)
    with pytest.raises(UnitOutOfRangeError, match="gives 1 position indices"):
        with ablate(model, ["stem:1@2"]):
            model(x)


def mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))


@pytest.mark.parametrize("value", [0.0, 1.5, "mean", [0.5, -1.0]])
def test_ablation_values_match_manual(value: object) -> None:
    model = mlp()
    x = torch.randn(5, 4)
    with ablate(model, ["0:1", "0:4"], value=value), torch.no_grad():
        y = model(x)
    with torch.no_grad():
        h = model[0](x)
        if value == "mean":
            fills = [h[:, 1].mean(), h[:, 4].mean()]
        elif isinstance(value, list):
            fills = value
        else:
            fills = [value, value]
        h[:, 1], h[:, 4] = fills[0], fills[1]
        expected = model[2](model[1](h))
    assert torch.allclose(y, expected)


def test_position_and_whole_layer_ablation() -> None:
    conv = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1))
    x = torch.randn(2, 1, 5, 5)
    with ablate(conv, ["0:2@1,3"], value=9.0), torch.no_grad():
        y = conv(x)
    ref = conv(x).detach()
    assert torch.all(y[:, 2, 1, 3] == 9.0)
    y[:, 2, 1, 3] = ref[:, 2, 1, 3]
    assert torch.equal(y, ref)
    with ablate(conv, "0", value="mean"), torch.no_grad():
        z = conv(x)
    assert torch.allclose(z, ref.mean(dim=(0, 2, 3), keepdim=True).expand_as(ref))


def test_patch_replaces_output() -> None:
    model = mlp()
    x = torch.randn(3, 4)
    with patch(model, "1", lambda t: torch.zeros_like(t)), torch.no_grad():
        y = model(x)
    assert torch.allclose(y, model[2].bias.expand(3, 2))
    with pytest.raises(ValueError, match="layer address"):
        with patch(model, "1:0", abs):
            pass


def test_record_keeps_graph_when_asked() -> None:
    model = mlp()
    x = torch.randn(3, 4, requires_grad=True)
    with record(model, ["0:2"], detach=False) as rec:
        model(x)
    (g,) = torch.autograd.grad(rec["0:2"].sum(), x)
    assert torch.allclose(g, model[0].weight[2].expand(3, 4))
    with record(model, ["0"]) as rec:
        model(x)
    assert not rec["0"].requires_grad


def test_record_before_forward_says_what_to_do() -> None:
    with record(mlp(), ["0"]) as rec:
        with pytest.raises(NeuronscopeError, match="run a forward pass"):
            rec["0"]
        with pytest.raises(KeyError, match="was not recorded"):
            rec["2"]


def test_scalar_kinds_repeated_addresses_and_membership(caplog: pytest.LogCaptureFixture) -> None:
    import numpy as np

    model = nn.Sequential(nn.Linear(4, 3))
    x = torch.randn(2, 4)
    with record(model, ["0", "0", "0:1"]) as rec:
        assert "0" in rec and "fc" not in rec and "no such address!" not in rec
        model(x)
    assert list(rec) == ["0", "0:1"] and rec["0"].shape == (2, 3)
    for value in (torch.tensor(0.5), np.float32(0.5)):
        with ablate(model, "0:1", value=value), torch.no_grad():
            assert torch.all(model(x)[:, 1] == 0.5)
    with ablate(model, "0:1", value="mean"), torch.no_grad():
        model(x[:1])
    assert "changes nothing" in caplog.text


def test_dict_outputs_with_int_keys() -> None:
    class IntKeys(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x: torch.Tensor) -> dict:
            return {0: self.fc(x), "z": -self.fc(x)}

    class Outer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.d = IntKeys()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.d(x)
            return out[0] + out["z"] * 2

    model, x = Outer(), torch.randn(2, 4)
    with record(model, ["d[0]", "d[z]:1"]) as rec, torch.no_grad():
        model(x)
    assert torch.allclose(rec["d[0]"], model.d.fc(x)) and rec["d[z]:1"].shape == (2,)
    with ablate(model, "d[0]:2"), torch.no_grad():
        y = model(x)
    assert torch.allclose(y[:, 2], -2 * model.d.fc(x)[:, 2])


def test_a_layer_takes_one_fill_per_unit_such_as_dataset_means() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU())
    data = torch.rand(6, 1, 6, 6)
    means, _ = ns.unit_stats(model, data, "0")
    with ns.record(model, ["0"]) as rec:
        model(data)
    assert torch.allclose(means, rec["0"].mean((0, 2, 3)), atol=1e-6)  # the dataset mean
    with ns.ablate(model, "0", value=means), ns.record(model, ["0"]) as rec:
        model(data[:1])  # one input: value="mean" would change nothing, dataset means do
    assert torch.allclose(rec["0"][0, :, 2, 2], means)
    with pytest.raises(ValueError, match="2 numbers but layer 0 has 3 units"):
        with ns.ablate(model, "0", value=[1.0, 2.0]):
            model(data)


def test_redirected_relu_grad_turns_on_only_stuck_images_and_restores_the_model() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(inplace=True), nn.Linear(4, 1), nn.ReLU6())
    x = torch.tensor([[1.0, -2.0, 0.5], [-50.0, -50.0, -50.0]], requires_grad=True)
    with torch.no_grad():
        model[2].bias.fill_(-100.0)  # the last unit is off for every input
        plain = model(x)
    hooks = [len(m._forward_hooks) for m in model]
    with redirected_relu_grad(model):
        assert not model[1].inplace
        out = model(x)
        (-out).sum().backward()  # raising the output, as visualize does
    assert torch.equal(out, plain) and (out == 0).all()
    assert x.grad.abs().sum() > 0  # the ordinary gradient would be zero everywhere
    assert model[1].inplace and [len(m._forward_hooks) for m in model] == hooks
    x.grad = None
    (-model(x)).sum().backward()
    assert (x.grad == 0).all()
    # an image whose ReLU passes some gradient keeps its ordinary gradient
    relu = nn.Sequential(nn.ReLU())
    y = torch.tensor([[2.0, -3.0]], requires_grad=True)
    with redirected_relu_grad(relu):
        relu(y).sum().backward()
    assert y.grad.tolist() == [[1.0, 0.0]]
