"""Lesion studies: the split sweep against the naive loop, selectivity by hand, chance level,
and the single-directions finding at small scale."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import neuronscope as ns
from neuronscope.core.split import LayerSplit
from neuronscope.methods.selectivity import selectivity_index

from ..core.models import ResNet

ROOT = Path(__file__).parents[2]


def naive(model: nn.Module, data: TensorDataset, layer: str, n_units: int, metric: str,
          value: float | str = 0.0) -> list[float]:
    """One full forward pass over the data per silenced unit, with a hook."""
    x, y = data.tensors
    out = []
    for u in range(n_units):
        fill = value
        if value == "mean":
            with ns.record(model, [layer]) as rec, torch.no_grad():
                model(x)
            a = rec[layer]
            fill = float(a[:, u].mean()) if a.dim() == 2 else float(a[:, u].mean())
        with ns.ablate(model, f"{layer}:{u}", value=fill), torch.no_grad():
            logits = model(x)
        if metric == "accuracy":
            out.append(float((logits.argmax(1) == y).float().mean()))
        else:
            out.append(float(nn.functional.cross_entropy(logits, y)))
    return out


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 5, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(5 * 4 * 4, 3)).eval()


@pytest.mark.parametrize("metric", ["accuracy", "loss"])
def test_split_sweep_equals_the_naive_loop(metric: str) -> None:
    g = torch.Generator().manual_seed(1)
    data = TensorDataset(torch.rand(40, 1, 8, 8, generator=g), torch.randint(0, 3, (40,),
                                                                            generator=g))
    model = small_cnn()
    base, each = ns.unit_sweep(model, data, "4", metric=metric, batch_size=16, chunk=4,
                               progress=False)
    assert torch.allclose(each, torch.tensor(naive(model, data, "4", 5, metric)), atol=1e-5)
    assert LayerSplit(model, "4").fast
    _, with_mean = ns.unit_sweep(model, data, "4", metric=metric, value="mean", progress=False)
    assert torch.allclose(with_mean, torch.tensor(naive(model, data, "4", 5, metric, "mean")),
                          atol=1e-4)


def test_a_sweep_of_some_units_equals_theirs_in_the_whole_sweep() -> None:
    g = torch.Generator().manual_seed(3)
    data = TensorDataset(torch.rand(30, 1, 8, 8, generator=g), torch.randint(0, 3, (30,),
                                                                            generator=g))
    model = small_cnn()
    whole = ns.unit_sweep(model, data, "1", progress=False)
    some = ns.unit_sweep(model, data, "1", units=[4, 1], progress=False)
    assert some.baseline == whole.baseline and some.info["units"] == [4, 1]
    assert torch.equal(some.ablated, whole.ablated[[4, 1]])
    with pytest.raises(ns.UnitOutOfRangeError, match="0 to 5"):
        ns.unit_sweep(model, data, "1", units=[6], progress=False)


def test_residual_and_untraceable_models(caplog: pytest.LogCaptureFixture) -> None:
    g = torch.Generator().manual_seed(2)
    data = TensorDataset(torch.rand(24, 3, 8, 8, generator=g),
                         torch.randint(0, 3, (24,), generator=g))
    res = ResNet().eval()
    assert LayerSplit(res, "layer1.0").fast  # the skip path around block 1 is kept
    _, each = ns.unit_sweep(res, data, "layer1.0", metric="loss", progress=False)
    assert torch.allclose(each, torch.tensor(naive(res, data, "layer1.0", 4, "loss")), atol=1e-5)

    class Branchy(nn.Module):  # data-dependent control flow: torch.fx cannot trace it
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(3 * 8 * 8, 5), nn.Linear(5, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.relu(self.a(x.flatten(1)))
            return self.b(h) if h.sum() > -1 else -self.b(h)

    model = Branchy().eval()
    with caplog.at_level(logging.WARNING):
        _, each = ns.unit_sweep(model, data, "a", metric="loss", progress=False)
    assert "cannot trace" in caplog.text
    assert torch.allclose(each, torch.tensor(naive(model, data, "a", 5, "loss")), atol=1e-5)


def test_selectivity_index_by_hand() -> None:
    model = nn.Sequential(nn.Identity())
    x = torch.tensor([[4.0, 1.0], [2.0, 1.0], [1.0, 1.0], [1.0, 3.0], [0.0, 1.0], [0.0, 1.0]])
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    sel = ns.class_selectivity(model, TensorDataset(x, y), "0", progress=False)
    means = torch.tensor([[3.0, 1.0], [1.0, 2.0], [0.0, 1.0]])  # class means per unit
    assert torch.allclose(sel.class_means, means)
    expected = [(3 - 0.5) / (3 + 0.5), (2 - 1) / (2 + 1)]
    assert torch.allclose(sel.selectivity, torch.tensor(expected))
    assert torch.allclose(selectivity_index(means), torch.tensor(expected))
    maps = x.view(6, 2, 1, 1).expand(6, 2, 3, 3)  # feature maps are averaged over space
    conv = ns.class_selectivity(nn.Sequential(nn.Identity()), TensorDataset(maps, y), "0",
                                progress=False)
    assert torch.allclose(conv.selectivity, sel.selectivity)


def test_silencing_the_whole_layer_gives_chance() -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(60, 4, generator=g)
    y = torch.arange(60) % 3  # balanced: 20 per class
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    study = ns.ablation_study(model, TensorDataset(x, y), "1", fractions=5, repeats=3,
                              progress=False)
    assert torch.allclose(study.curves["random"][:, -1], torch.tensor(1 / 3))
    assert study.curves["random"][0, 0] == pytest.approx(study.baseline)
    assert study.noise[0] == pytest.approx(study.baseline)


def test_study_saves_loads_and_plots(tmp_path: Path) -> None:
    from neuronscope.render.plots import ablation_curves, importance_bars, selectivity_scatter

    g = torch.Generator().manual_seed(4)
    data = TensorDataset(torch.rand(30, 1, 8, 8, generator=g),
                         torch.randint(0, 3, (30,), generator=g))
    model = small_cnn()
    sel = ns.class_selectivity(model, data, "4", progress=False)
    study = ns.ablation_study(model, data, "4", metric="loss", selectivity=sel, repeats=2,
                              progress=False)
    assert set(study.curves) == {"random", "importance", "selectivity"}
    assert -1 <= study.info["selectivity_importance_spearman"] <= 1
    back = ns.AblationStudy.load(study.save(tmp_path / "s.safetensors"))
    assert torch.equal(back.importance, study.importance) and back.layer == "4"
    assert ns.ClassSelectivity.load(sel.save(tmp_path / "c.safetensors")).layer == "4"
    for f in (ablation_curves(study, tmp_path / "c.png"), importance_bars(study, tmp_path /
              "i.png"), selectivity_scatter(sel.selectivity, study.importance, "4",
                                            tmp_path / "s.png", 0.1)):
        assert f.read_bytes().startswith(b"\x89PNG")


def test_memorizing_network_degrades_faster() -> None:
    spec = importlib.util.spec_from_file_location("single_directions",
                                                  ROOT / "experiments" / "single_directions.py")
    exp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(exp)
    res = exp.compare(n=300, epochs=1500, repeats=4, layers=["relu1"], seed=0)
    true, shuffled = res["true labels"], res["shuffled labels"]
    assert true["train accuracy"] == 1.0 and shuffled["train accuracy"] >= 0.95
    assert shuffled["relu1 area"] < true["relu1 area"] - 0.1


def test_data_the_model_cannot_read_are_refused_and_foreign_labels_said(
        caplog: pytest.LogCaptureFixture) -> None:
    import copy
    import dataclasses

    from neuronscope.core.spec import attach_spec
    from neuronscope.data.tones import tones_spec

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(3, 6)).eval()  # runs on any size: only the specs tell
    forty = attach_spec(copy.deepcopy(net), dataclasses.replace(tones_spec(), shape=(1, 40, 63)))
    tones = ns.datasets.load("tones", split="test", n=12)  # 64 bands
    with pytest.raises(ns.NeuronscopeError, match=r"spectrograms \[1, 64, 63\].*\[1, 40, 63\]"):
        ns.unit_sweep(forty, tones, "1", progress=False)
    with pytest.raises(ns.NeuronscopeError, match="cannot read these data"):
        ns.top_examples(forty, tones, ["1"], progress=False)
    with pytest.raises(ns.NeuronscopeError, match="cannot read tones"):
        ns.datasets.load("tones", split="test", model=forty, n=12)
    with pytest.raises(ns.NeuronscopeError, match="cannot read these data"):
        ns.unit_stats(forty, tones, "1", progress=False)
    other = attach_spec(copy.deepcopy(net), dataclasses.replace(  # the same shape, made
        tones_spec(), extra={**tones_spec().extra, "n_fft": 256}))  # another way
    with pytest.raises(ns.NeuronscopeError, match="n_fft 512, the model's with 256"):
        ns.datasets.load("tones", split="test", model=other, n=12)
    from neuronscope.data.tones import band_edges

    alike = attach_spec(copy.deepcopy(net), dataclasses.replace(  # edges as a tuple, not
        tones_spec(), extra={**tones_spec().extra,  # rounded: the same spectrograms
                             "band_edges": tuple(band_edges().tolist())}))
    assert len(ns.datasets.load("tones", split="test", model=alike, n=12)) == 12
    renamed = attach_spec(net, dataclasses.replace(
        tones_spec(), class_names=[f"c{i}" for i in range(6)]))
    with caplog.at_level(logging.WARNING):
        ns.unit_sweep(renamed, tones, "1", progress=False)  # runs, and says so
    assert "labels are its own 6 classes" in caplog.text and "accuracy compares" in caplog.text


class Twice(nn.Module):
    """The same Linear called twice in one pass: no single place to split at."""

    def __init__(self) -> None:
        super().__init__()
        self.lin, self.head = nn.Linear(4, 4), nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lin(torch.relu(self.lin(x))))


class Pair(nn.Module):
    """A layer whose output is a tuple: its first element is split from nowhere."""

    def __init__(self) -> None:
        super().__init__()
        self.lin, self.head = nn.Linear(4, 4), nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.lin(x)
        return h, h.sum(1)


class PairNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pair, self.head = Pair(), nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.pair(x)[0]))


def test_a_layer_without_a_split_says_why_once_and_gives_the_same_numbers(
        caplog: pytest.LogCaptureFixture) -> None:
    torch.manual_seed(0)
    assert LayerSplit(Twice(), "lin").why == "lin is called 2 times in one pass"
    model = PairNet().eval()
    data = TensorDataset(torch.randn(16, 4), torch.randint(0, 3, (16,)))
    with caplog.at_level(logging.WARNING):
        ns.unit_sweep(model, data, "head", progress=False)  # split: nothing said
        assert "cannot run only the layers above" not in caplog.text
        first = ns.unit_sweep(model, data, "pair[0]", progress=False, chunk=2)
        again = ns.unit_sweep(model, data, "pair[0]", progress=False)
    assert caplog.text.count("cannot run only the layers above pair[0] (pair[0] is an "
                             "element of a module's output)") == 1, caplog.text
    assert torch.equal(first.ablated, again.ablated)
    for u in range(4):  # the whole model with unit u silenced, by hand
        with ns.ablate(model, f"pair[0]:{u}"), torch.no_grad():
            hit = (model(data.tensors[0]).argmax(1) == data.tensors[1]).float().mean()
        assert float(first.ablated[u]) == pytest.approx(float(hit))
