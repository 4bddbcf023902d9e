"""Feature visualization: objectives on hand-made models, composition, batching, presets."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

import neuronscope as ns
from neuronscope.core.spec import InputSpec, attach_spec
from neuronscope.methods.featvis import objectives as O
from neuronscope.methods.featvis.param import ImageParam
from neuronscope.methods.featvis.transform import Jitter, apply, standard
from neuronscope.render.featvis import save_pngs


def ctx_of(model: nn.Module, x: torch.Tensor, layers: list[str]) -> O.Context:
    with ns.record(model, layers) as rec, torch.no_grad():
        out = model(x)
    axes = {i.name: i.unit_axis for i in ns.layers(model, x)}
    return O.Context({n: rec[n] for n in layers}, axes, x, out)


def signed_pair() -> nn.Module:
    """Channel 0 is the image, channel 1 its negative; fc sums channel 0."""
    conv = nn.Conv2d(1, 2, 1, bias=False)
    conv.weight.data = torch.tensor([1.0, -1.0]).view(2, 1, 1, 1)
    fc = nn.Linear(2 * 3 * 4, 2, bias=False)
    fc.weight.data = torch.zeros(2, 24)
    fc.weight.data[0, :12] = 1.0
    fc.weight.data[1, 12:] = 1.0
    return nn.Sequential(conv, nn.Flatten(), fc).eval()


def test_each_objective_has_the_right_sign_and_value() -> None:
    model = signed_pair()
    x = torch.arange(24.0).view(2, 1, 3, 4) / 10 - 0.5
    c = ctx_of(model, x, ["0"])
    mean = x.flatten(1).mean(1)
    assert torch.allclose(O.channel("0", 0)(c), mean)
    assert torch.allclose(O.channel("0", 1)(c), -mean)
    assert torch.allclose(O.neuron("0", 1, (1, 2))(c), -x[:, 0, 1, 2])
    assert torch.allclose(O.neuron("0", 0)(c), x[:, 0, 1, 2])  # the centre of a 3x4 map
    assert torch.allclose(O.layer("0")(c), x.pow(2).flatten(1).mean(1))
    assert torch.allclose(O.class_logit(1)(c), -x.flatten(1).sum(1))
    v = torch.tensor([1.0, 0.0])  # at every position the act is (x, -x): cos = sign(x)/sqrt 2
    cos = torch.sign(x).clamp_min(0.1 * math.sqrt(2)) / math.sqrt(2)
    expected = (x * torch.where(x > 0, cos, torch.full_like(x, 0.1))).flatten(1).mean(1)
    assert torch.allclose(O.direction("0", v)(c), expected, atol=1e-6)
    assert torch.allclose(O.as_objective("0:1")(c), -mean)
    assert torch.allclose(O.as_objective("0:0@0,0")(c), x[:, 0, 0, 0])
    assert torch.allclose(O.as_objective("0")(c), x.pow(2).flatten(1).mean(1))


def test_penalties_on_hand_made_images() -> None:
    img = torch.full((1, 1, 2, 2), 0.5)
    img[0, 0, 0, 0] = 1.0
    c = O.Context({}, {}, img)
    assert O.l1()(c).item() == pytest.approx(0.125)
    assert O.l2()(c).item() == pytest.approx(math.sqrt(0.0625))
    assert O.total_variation()(c).item() == pytest.approx(0.25 + 0.25)


def test_composition() -> None:
    model = signed_pair()
    x = torch.randn(3, 1, 3, 4)
    c = ctx_of(model, x, ["0"])
    a, b = O.channel("0", 0), O.neuron("0", 1, (2, 3))
    assert torch.allclose((a + 2 * b - a * b)(c), a(c) + 2 * b(c) - a(c) * b(c))
    assert torch.allclose((-a)(c), -a(c)) and torch.allclose((1 - a)(c), 1 - a(c))
    assert torch.allclose(sum([a, b])(c), a(c) + b(c))
    assert torch.allclose(O.as_objective("0:0 + 0:1")(c), torch.zeros(3), atol=1e-6)
    assert (a + O.class_logit(0)).needs_output and (a + b).layers == {"0"}


def test_diversity_measures_and_increases_difference() -> None:
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU()).eval()
    model[0].bias.data.fill_(0.2)  # with this init channel 0 is dead on [0, 1] images (no
    # gradient reaches the images at all, so no objective could move them); now it is live
    same = torch.rand(1, 1, 8, 8).repeat(3, 1, 1, 1)
    assert torch.allclose(O.diversity("1")(ctx_of(model, same, ["1"])), torch.full((3,), -1.0),
                          atol=1e-5)
    acts = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]).view(3, 2, 1, 1)
    c = O.Context({"a": acts}, {"a": 1}, torch.zeros(3, 1, 1, 1))
    assert torch.allclose(O.diversity("a")(c), torch.tensor([-0.5, 0.0, -0.5]))
    grouped = O.diversity("a", groups=torch.tensor([0, 0, 1]))(c)
    assert torch.allclose(grouped, torch.tensor([0.0, 0.0, 0.0]))  # image 2 is alone

    def spread(weight: float) -> float:
        vis = ns.visualize(model, "1:0", size=12, steps=40, n_starts=4, diversity_weight=weight,
                           transforms="none", channels=1, progress=False)
        return torch.pdist(vis.display.flatten(1)).mean().item()

    assert spread(5.0) > 1.2 * spread(0.0)


def small_net() -> nn.Module:
    torch.manual_seed(3)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(8, 6, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(6 * 8 * 8, 4)).eval()
    return attach_spec(net, InputSpec(shape=(3, 16, 16)))


def test_a_unit_does_not_depend_on_its_batch_neighbours() -> None:
    model = small_net()
    together = ns.visualize(model, [f"3:{u}" for u in range(6)], steps=30, progress=False)
    for u in (0, 4):
        alone = ns.visualize(model, f"3:{u}", steps=30, progress=False)
        assert alone.activations[0].item() == pytest.approx(together.activations[u].item(),
                                                            rel=0.03)
    again = ns.visualize(model, [f"3:{u}" for u in range(6)], steps=30, progress=False)
    assert torch.equal(again.images, together.images)  # deterministic for a seed
    other = ns.visualize(model, "3:0", steps=30, seed=1, progress=False)
    assert not torch.equal(other.images[0], together.images[0])


def test_optimizing_raises_the_unit_and_negative_lowers_it() -> None:
    model = small_net()
    start = ns.visualize(model, ["3:2", "6:1"], steps=0, progress=False).activations
    up = ns.visualize(model, ["3:2", "6:1"], steps=40, progress=False).activations
    down = ns.visualize(model, ["3:2", "6:1"], steps=40, negative=True, progress=False)
    assert (up > start).all() and (down.activations < start).all()
    assert down.losses.shape == (40, 2) and (down.losses[-1] < down.losses[0]).all()


def test_polish_runs_the_last_steps_without_transforms() -> None:
    model, targets = small_net(), ["3:2", "6:1"]
    plain = ns.visualize(model, targets, steps=12, transforms="none", progress=False)
    assert torch.equal(ns.visualize(model, targets, steps=12, polish=12,
                                    progress=False).images, plain.images)
    standard = ns.visualize(model, targets, steps=12, progress=False)
    polished = ns.visualize(model, targets, steps=12, polish=4, progress=False)
    assert not torch.equal(polished.images, standard.images)
    assert not torch.equal(polished.images, plain.images)
    assert polished.settings["polish"] == 4
    with pytest.raises(ValueError, match="polish"):
        ns.visualize(model, targets, steps=12, polish=13, progress=False)


def test_hooks_are_gone_after_the_call_and_after_an_error() -> None:
    model = small_net()
    before = [(dict(m._forward_hooks), dict(m._forward_pre_hooks)) for m in model.modules()]
    ns.visualize(model, ["3:1", "6:0"], steps=2, progress=False)
    with pytest.raises(ns.LayerNotFoundError):
        ns.visualize(model, ["33:1"], steps=2, progress=False)
    with pytest.raises(ns.UnitOutOfRangeError):
        ns.visualize(model, ["3:99"], steps=2, progress=False)
    after = [(dict(m._forward_hooks), dict(m._forward_pre_hooks)) for m in model.modules()]
    assert before == after


def test_any_channels_and_size_pixel_and_presets() -> None:
    digits = ns.zoo.digits_cnn().eval()
    attach_spec(digits, InputSpec(shape=(1, 8, 8)))
    vis = ns.visualize(digits, ["conv1:0", "fc4:3"], steps=5, progress=False)
    assert vis.display.shape == (2, 1, 8, 8)
    big = ns.visualize(small_net(), "0:1", size=(24, 20), steps=2, param="pixel", progress=False)
    assert big.images.shape == (1, 3, 24, 20)
    sparse = ns.visualize(small_net(), "3:1", steps=6, preset="yosinski1", progress=False)
    gray = (sparse.display - 0.5).abs().sum(1) < 1e-6
    assert gray.float().mean() >= 0.45  # the small-norm clipping zeroes half the pixels
    contrib = ns.visualize(small_net(), "3:1", steps=3, preset="yosinski4", progress=False)
    assert ((contrib.display - 0.5).abs().sum(1) < 1e-6).float().mean() >= 0.85
    with pytest.raises(ValueError, match="preset"):
        ns.visualize(small_net(), "3:1", preset="lucent")
    with pytest.raises(ns.NeuronscopeError, match="param='pixel'"):
        ns.visualize(small_net(), "3:1", steps=2, preset="lucid", norm_pct=10)
    off = ns.visualize(small_net(), "3:1", steps=1, preset="yosinski3", decay=0, blur_every=0,
                       progress=False)
    assert off.settings["decay"] == 0 and off.settings["blur_every"] == 0


def test_text_models_are_refused() -> None:
    model = attach_spec(nn.Sequential(nn.Embedding(5, 3)), InputSpec(shape=(4,), kind="text"))
    with pytest.raises(ns.NeuronscopeError, match="text"):
        ns.visualize(model, "0:1")


def test_param_and_transforms_keep_images_in_range_and_independent() -> None:
    gens = [torch.Generator().manual_seed(i) for i in range(3)]
    p = ImageParam(gens, 3, (10, 12), value_range=(-1.0, 2.0))
    x = p()
    assert x.shape == (3, 3, 10, 12) and x.min() >= -1 and x.max() <= 2
    single = ImageParam(gens[1:2], 3, (10, 12))  # generators were used: reseed to compare
    gens = [torch.Generator().manual_seed(i) for i in range(3)]
    alone = ImageParam([torch.Generator().manual_seed(1)], 3, (10, 12))
    assert torch.equal(ImageParam(gens, 3, (10, 12)).raw[1], alone.raw[0])
    del single
    img = torch.rand(2, 3, 16, 16)
    g1 = [torch.Generator().manual_seed(5), torch.Generator().manual_seed(6)]
    g2 = [torch.Generator().manual_seed(6)]
    assert torch.allclose(apply(img, standard(), g1)[1], apply(img[1:], standard(), g2)[0])
    shifted = apply(img, [Jitter(2)], [torch.Generator().manual_seed(0)] * 2)
    assert shifted.shape == img.shape


def test_result_saves_loads_and_shows(tmp_path: Path) -> None:
    vis = ns.visualize(small_net(), ["3:1", "3:2"], steps=3, n_starts=2, progress=False)
    assert vis.labels == ["3:1 #0", "3:1 #1", "3:2 #0", "3:2 #1"]
    save_pngs(vis, tmp_path)
    assert (tmp_path / "grid.png").is_file() and len(list(tmp_path.glob("00*.png"))) == 4
    back = ns.Visualization.load(tmp_path / "visualization.safetensors")
    assert torch.equal(back.images, vis.images) and back.targets == vis.targets
    assert back.settings == vis.settings and back.n_starts == 2
    assert vis._repr_png_().startswith(b"\x89PNG")


def test_callback_sees_every_step_and_may_run_the_model() -> None:
    model = small_net()
    seen = []

    def look(step: int, images: torch.Tensor) -> None:
        seen.append((step, tuple(images.shape)))
        model(torch.zeros(1, 3, 16, 16))  # a full forward pass of the caller's own

    vis = ns.visualize(model, ["3:1"], steps=3, progress=False, callback=look)
    assert seen == [(0, (1, 3, 16, 16)), (1, (1, 3, 16, 16)), (2, (1, 3, 16, 16))]
    assert vis.settings["loop_seconds"] > 0


def test_nested_targets_tuple_outputs_and_other_value_ranges() -> None:
    inner = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    model = attach_spec(nn.Sequential(inner, nn.Conv2d(4, 2, 3)).eval(),
                        InputSpec(shape=(3, 12, 12)))
    for targets in (["0:1", "0.0:1"], ["0.0:1", "0:1", "1:0"]):
        vis = ns.visualize(model, targets, steps=2, progress=False)  # the block ends last
        assert torch.isfinite(vis.activations).all()

    class Pair(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3 * 8 * 8, 2)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            out = self.fc(x.flatten(1))
            return out, out.softmax(1)

    pair = attach_spec(Pair().eval(), InputSpec(shape=(3, 8, 8)))
    up = ns.visualize(pair, O.class_logit(1), steps=20, progress=False)
    assert up.activations[0] > ns.visualize(pair, O.class_logit(1), steps=0,
                                            progress=False).activations[0]
    wide = attach_spec(small_net(), InputSpec(shape=(3, 16, 16), value_range=(0.0, 255.0)))
    seen = []
    ns.visualize(wide, "3:1", steps=1, progress=False,
                 callback=lambda step, x: seen.append(x[0, :, 0, 0].clone()))
    assert torch.allclose(seen[0], torch.full((3,), 127.5), atol=1.0)  # gray border, mid-range
    c = O.Context({}, {}, torch.full((1, 1, 2, 2), 127.5), value_range=(0.0, 255.0))
    assert O.l1()(c).item() == 0.0 and O.l2()(c).item() == pytest.approx(0.0, abs=1e-5)


def test_folders_of_the_first_layout_still_load(tmp_path: Path) -> None:
    """Visualization.save wrote a folder (summary.json + tensors.safetensors) before."""
    import json

    from safetensors.torch import save_file

    vis = ns.visualize(small_net(), "3:1", steps=1, progress=False)
    save_file({"images": vis.images, "display": vis.display, "activations": vis.activations,
               "losses": vis.losses}, str(tmp_path / "tensors.safetensors"))
    (tmp_path / "summary.json").write_text(json.dumps({"targets": vis.targets, "n_starts": 1,
                                                       "settings": {"steps": 1}}))
    back = ns.Visualization.load(tmp_path)
    assert torch.equal(back.images, vis.images) and back.targets == ["3:1"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ns.ResultFileError, match="holds no visualization"):
        ns.Visualization.load(empty)


def test_a_unit_with_no_gradient_is_named(caplog: pytest.LogCaptureFixture) -> None:
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    model[0].bias.data = torch.tensor([-100.0, 1.0])  # unit 0 is zero for every image
    with caplog.at_level("WARNING"):
        vis = ns.visualize(model, ["1:0", "1:1"], size=8, steps=3, progress=False)
    assert vis.activations[0] == 0 and "1:0 got no gradient" in caplog.text
    assert "1:1" not in caplog.text


def test_a_unit_off_at_the_start_is_turned_on() -> None:
    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU())
    with torch.no_grad():  # unit 0 reads brightness: off for gray noise, on for bright images
        model[0].weight.fill_(0.1)
        model[0].bias.copy_(torch.tensor([-1.5, 0.0]))
    start = ns.visualize(model, "1:0", size=8, steps=0, progress=False)
    assert start.activations[0] == 0
    vis = ns.visualize(model, "1:0", size=8, steps=30, progress=False)
    assert vis.activations[0] > 0


def test_an_image_below_a_flat_colour_starts_again_from_it() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 3, 3), nn.ReLU6())
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].weight[0].fill_(-1.0)  # unit 0: darkness, up to 6 for black; unit 1: zero
        edges = torch.randn(3, 3, 3)  # unit 2: an edge pattern, zero for every flat colour
        model[0].weight[2] = 0.5 * (edges - edges.mean((1, 2), keepdim=True))
        model[0].bias.copy_(torch.tensor([6.0, 0.0, 0.0]))
    vis = ns.visualize(model, ["1:0", "1:1"], size=16, steps=4, lr=0.01, progress=False)
    assert vis.settings["flat_restarts"] == [0]  # 4 small steps leave unit 0 near gray
    pattern = ns.visualize(model, "1:2", size=16, steps=64, lr=0.2, progress=False)
    assert pattern.settings["flat_restarts"] == [] and pattern.display.std() > 0.2
    black = torch.zeros(1, 3, 16, 16) + 0.05  # the darkest colour it tries
    assert vis.activations[0] >= model(black)[0, 0].mean() - 1e-4
    assert vis.display[0].mean() < 0.1
    again = ns.visualize(model, ["1:0"], size=16, steps=4, lr=0.01, progress=False)
    assert torch.equal(again.display[0], vis.display[0])  # deterministic, batch-free
    none = ns.visualize(model, ["1:2"], size=16, steps=4, lr=0.01, init=torch.full(
        (1, 3, 16, 16), 0.5), progress=False)
    assert none.settings["flat_restarts"] == []  # a given start is never replaced
