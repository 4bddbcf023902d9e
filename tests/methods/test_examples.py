"""top_examples against brute force (every activation in memory, sorted), merge, save/load."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import neuronscope as ns
from neuronscope.core.errors import NeuronscopeError
from neuronscope.methods.examples.reduce import reduce_values

from .examples_job import make_inputs, make_model

LAYERS = ["0", "3", "6"]  # conv with positions, conv with positions, linear


def brute(model: torch.nn.Module, x: torch.Tensor, layer: str, reduce: str
          ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-example activations [N, U] and max positions of the whole dataset at once."""
    info = {i.name: i for i in ns.layers(model, x[:1])}[layer]
    with ns.record(model, [layer]) as rec, torch.no_grad():
        model(x)
    return reduce_values(rec[layer], info.unit_axis, reduce)


def assert_same(a: ns.TopExamples, b: ns.TopExamples) -> None:
    ta, tb = a.tensors(), b.tensors()
    assert ta.keys() == tb.keys()
    for key in ta:
        assert torch.equal(ta[key].nan_to_num(nan=7.5), tb[key].nan_to_num(nan=7.5)), key


@pytest.mark.parametrize("reduce", ["max", "mean"])
def test_matches_brute_force_with_ties(reduce: str) -> None:
    model, x = make_model(), make_inputs()
    res = ns.top_examples(model, x, k=7, reduce=reduce, batch_size=16, progress=False)
    assert list(res) == LAYERS  # every conv and linear layer by default
    for layer in LAYERS:
        values, pos = brute(model, x, layer, reduce)
        ex = res[layer]
        n, units = values.shape
        assert ex.count == n and ex.indices.shape == (units, 7)
        for u in range(units):
            col = values[:, u].tolist()
            top = sorted(range(n), key=lambda i: (-col[i], i))[:7]
            bottom = sorted(range(n), key=lambda i: (col[i], i))[:7]
            assert ex.indices[u].tolist() == top and ex.bottom_indices[u].tolist() == bottom
            assert torch.equal(ex.values[u], values[top, u])
        ties = [(u, i) for u in range(units) for i in ex.indices[u].tolist()
                if i % 3 == 2 and (i - 2) in ex.indices[u].tolist()]
        assert ties, "the data were built to tie: a repeat and its original are both on top"
        if pos is None:
            assert ex.positions.shape[-1] == 0
            continue
        coords = ex.positions
        assert coords.shape == (units, 7, 2)
        with ns.record(model, [layer]) as rec, torch.no_grad():
            model(x)
        act = rec[layer]
        for u in range(units):
            for j, i in enumerate(ex.indices[u].tolist()):
                r, c = coords[u, j].tolist()
                assert act[i, u, r, c] == act[i, u].max()  # the position of the maximum


@pytest.mark.parametrize("reduce", ["max", "mean"])
def test_statistics_match_brute_force(reduce: str) -> None:
    model, x = make_model(), make_inputs()
    res = ns.top_examples(model, x, layers=["3"], k=3, reduce=reduce, batch_size=7,
                          progress=False, bins=16, per_bin=3)
    values, _ = brute(model, x, "3", reduce)
    ex = res["3"]
    v64 = values.double()
    assert torch.allclose(ex.mean, v64.mean(0), rtol=1e-12, atol=1e-12)
    assert torch.allclose(ex.std, v64.std(0, unbiased=False), rtol=1e-6, atol=1e-9)
    assert torch.equal(ex.frac_positive, (values > 0).double().mean(0))
    counts, edges = ex.histogram()
    for u in range(values.shape[1]):
        assert int(counts[u].sum()) == len(x)
        expected = torch.histogram(v64[:, u], bins=edges[u]).hist  # closed last bin: fine
        assert torch.equal(counts[u].double(), expected)
        assert (counts[u] > 0).sum() >= 2 or v64[:, u].unique().numel() == 1
    indices, band_values = ex.quantile_examples(bands=3, per_band=2)
    for u in range(values.shape[1]):
        for b in range(3):
            for i, v in zip(indices[u, b].tolist(), band_values[u, b].tolist(), strict=True):
                if i >= 0:
                    assert v == values[i, u].item()
        picked = indices[u][indices[u] >= 0]
        assert len(set(picked.tolist())) == len(picked)  # no example twice


def test_shards_merged_in_any_order_equal_one_pass() -> None:
    model, x = make_model(), make_inputs()
    whole = ns.top_examples(model, x, k=5, batch_size=8, progress=False)
    parts = [ns.top_examples(model, x, k=5, batch_size=8, progress=False, shard=(i, 3))
             for i in range(3)]
    assert parts[1]["0"].count < len(x)
    assert_same(whole, parts[0].merge(parts[1]).merge(parts[2]))
    assert_same(whole, parts[2].merge(parts[0].merge(parts[1])))
    assert_same(whole, parts[1].merge(parts[2]).merge(parts[0]))


def test_save_load_round_trip(tmp_path: Path) -> None:
    model, x = make_model(), make_inputs()
    res = ns.top_examples(model, x, k=4, batch_size=32, progress=False, bottom=False)
    path = res.save(tmp_path / "examples.safetensors")
    back = ns.TopExamples.load(path)
    assert_same(res, back)
    assert back["3"].bottom_indices.shape == (5, 0)
    assert torch.equal(back["3"].mean, res["3"].mean)


def test_fewer_examples_than_k_and_bad_input() -> None:
    model, x = make_model(), make_inputs(3)
    ex = ns.top_examples(model, x, k=5, progress=False)["6"]
    assert ex.indices[:, 3:].eq(-1).all() and sorted(ex.indices[0, :3].tolist()) == [0, 1, 2]
    with pytest.raises(ValueError, match="reduce"):
        ns.top_examples(model, x, reduce="median", progress=False)
    with pytest.raises(ns.LayerNotFoundError, match="no layer .conv9.*Layers: 0, 1"):
        ns.top_examples(model, x, layers=["conv9"], progress=False)
    with pytest.raises(NeuronscopeError, match="empty"):
        ns.top_examples(model, x[:0], progress=False)


def test_dataset_items_and_sequence_layers() -> None:
    data = ns.datasets.load("digits", split="test")
    model = ns.zoo.digits_cnn().eval()
    res = ns.top_examples(model, data, layers=["conv2", "fc4"], k=2, progress=False)
    assert res["conv2"].positions.shape == (32, 2, 2) and res["fc4"].count == len(data)
    emb = torch.nn.Sequential(torch.nn.Embedding(10, 6), torch.nn.Linear(6, 3))
    tokens = torch.randint(0, 10, (12, 7))
    seq = ns.top_examples(emb, tokens, layers=["1"], k=2, progress=False)["1"]
    assert seq.n_units == 3 and seq.positions.shape == (3, 2, 1)  # the time step


def test_nan_float64_and_one_position_maps() -> None:
    conv = torch.nn.Conv2d(1, 1, 1, bias=False)
    conv.weight.data.fill_(1.0)
    model = torch.nn.Sequential(conv).eval()
    x = torch.rand(12, 1, 1, 1)
    x[5] = float("nan")
    whole = ns.top_examples(model, x, k=2, batch_size=12, progress=False)["0"]
    small = ns.top_examples(model, x, k=2, batch_size=4, progress=False)["0"]
    assert whole.indices[0, 0] == 5 and torch.equal(whole.indices, small.indices)  # NaN first
    assert whole.positions[0].tolist() == [[0, 0], [0, 0]]  # a 1x1 map has position (0, 0)
    wide = torch.nn.Sequential(torch.nn.Linear(1, 1, bias=False)).double().eval()
    wide[0].weight.data.fill_(1.0)
    xs = torch.tensor([[1.0], [1.0 + 2e-12], [1.0 + 1e-12]], dtype=torch.float64)
    ex = ns.top_examples(wide, xs, k=3, progress=False)["0"]
    assert ex.indices[0].tolist() == [1, 2, 0] and ex.values.dtype == torch.float64


def test_checkpoint_of_other_weights_or_data_is_refused(tmp_path: Path) -> None:
    model, x = make_model(), make_inputs()
    path = tmp_path / "c.ckpt"
    ns.top_examples(model, x, k=3, progress=False, checkpoint=path)
    with pytest.raises(NeuronscopeError, match="another run"):
        ns.top_examples(model, x.flip(0), k=3, progress=False, checkpoint=path)
    with torch.no_grad():
        model[0].weight.mul_(-1)
    with pytest.raises(NeuronscopeError, match="another run"):
        ns.top_examples(model, x, k=3, progress=False, checkpoint=path)


def test_exact_sums_of_more_rows_than_one_step_holds() -> None:
    from neuronscope.core import exactsum

    acc = exactsum.zeros(1)
    exactsum.add(acc, torch.full((600_000, 1), 255.99998, dtype=torch.float64))
    assert exactsum.to_float(acc).item() == pytest.approx(600_000 * 255.99998, rel=1e-12)
