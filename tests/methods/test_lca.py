"""`ns.LCA`: loss change allocation is exact where it must be, adds up, and leaves the
training as it would be without it."""

from __future__ import annotations

import copy
import logging

import pytest
import torch
from torch import nn

import neuronscope as ns
from neuronscope.methods.lca import read_steps

from .lca_job import loss_fn, tiny


def train(model: nn.Module, lca: ns.LCA | None, batches: list, opt: torch.optim.Optimizer,
          epochs: int = 1, loss=loss_fn) -> None:
    for _ in range(epochs):
        for batch in batches:
            if lca is not None:
                lca.before_step()
            opt.zero_grad()
            loss(model, batch).backward()
            opt.step()
            if lca is not None:
                lca.after_step()


def quadratic() -> tuple[nn.Module, list]:
    """A float64 linear regression: its mean squared error is quadratic in the weights."""
    g = torch.Generator().manual_seed(1)
    model = nn.Linear(5, 2).double()
    x = torch.randn(40, 5, generator=g, dtype=torch.float64)
    y = torch.randn(40, 2, generator=g, dtype=torch.float64)
    return model, [(x[i:i + 10], y[i:i + 10]) for i in range(0, 40, 10)]


def mse(model: nn.Module, batch: tuple) -> torch.Tensor:
    return nn.functional.mse_loss(model(batch[0]), batch[1])


def test_simpson_is_exact_on_a_quadratic_loss_and_first_order_is_not() -> None:
    errors = {}
    for method in ("simpson", "first_order"):
        torch.manual_seed(0)
        model, data = quadratic()
        lca = ns.LCA(model, mse, data, method=method)
        train(model, lca, data, torch.optim.SGD(model.parameters(), lr=0.3), epochs=2,
              loss=mse)
        res = lca.result()
        errors[method] = res.relative_error
        assert res.n_steps == 8
    assert float(errors["simpson"].max()) < 1e-10  # float64 precision
    assert float(errors["first_order"].median()) > 0.05


@pytest.fixture(scope="module")
def digits() -> tuple[list, list]:
    """(training batches, evaluation batches) of scikit-learn's digits, train split."""
    ds = ns.datasets.load("digits", split="train")
    x = torch.stack([ds[i][0] for i in range(len(ds))])
    y = torch.tensor([int(ds[i][1]) for i in range(len(ds))])
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(y), generator=g)
    train_batches = [(x[order[i:i + 32]], y[order[i:i + 32]]) for i in range(0, 32 * 40, 32)]
    return train_batches, [(x[i:i + 512], y[i:i + 512]) for i in range(0, len(y), 512)]


def digits_run(digits: tuple[list, list], method: str, opt: str = "sgd"):
    from neuronscope.zoo.recipes import digits_mlp

    torch.manual_seed(0)
    model = digits_mlp()
    lca = ns.LCA(model, ce, digits[1], method=method)
    optim = {"sgd": lambda p: torch.optim.SGD(p, lr=0.05),
             "momentum": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
             "adam": lambda p: torch.optim.Adam(p, lr=2e-3)}[opt](model.parameters())
    train(model, lca, digits[0], optim, loss=ce)
    return lca.result()


def ce(model: nn.Module, batch: tuple) -> torch.Tensor:
    return nn.functional.cross_entropy(model(batch[0]), batch[1])


@pytest.mark.parametrize("opt", ["sgd", "momentum", "adam"])
def test_on_digits_mlp_the_median_simpson_error_is_below_one_percent(digits, opt) -> None:
    res = digits_run(digits, "simpson", opt)
    first = digits_run(digits, "first_order", opt)
    simpson_error = float(res.relative_error.median())
    first_error = float(first.relative_error.median())
    print(f"{opt}: median relative error simpson {simpson_error:.2e}, first order "
          f"{first_error:.2e}; mean helping {float(res.helping.mean()):.3f}")
    assert simpson_error < 0.01
    assert first_error > 5 * simpson_error
    assert float(res.loss[-1]) < float(res.loss[0])  # it learned
    assert 0.3 < float(res.helping.mean()) < 0.8


def test_allocations_add_up_per_layer_and_over_steps(digits, tmp_path) -> None:
    from neuronscope.zoo.recipes import digits_mlp

    torch.manual_seed(0)
    model = digits_mlp()
    lca = ns.LCA(model, ce, digits[1], per_step=tmp_path / "steps", shard_steps=7)
    train(model, lca, digits[0][:20], torch.optim.SGD(model.parameters(), lr=0.05,
                                                      momentum=0.9), loss=ce)
    res = lca.result()
    for layer, series in res.by_layer.items():  # per parameter -> per layer
        params = [n for n, la in res.layer_of.items() if la == layer]
        cum = sum(float(res.cumulative[n].sum()) for n in params)
        assert cum == pytest.approx(float(series.sum()), rel=1e-9, abs=1e-12)
        per_step = sum(read_steps(tmp_path / "steps", n).double().flatten(1).sum(1)
                       for n in params)
        assert torch.allclose(per_step, series, rtol=1e-5, atol=1e-8)
    layers_sum = sum(res.by_layer.values())
    assert torch.allclose(layers_sum, res.total, rtol=1e-9, atol=1e-12)
    # over steps: the allocations add up to L(T) - L(0) within the accumulated error
    change = float(res.loss[-1] - res.loss[0])
    assert abs(float(res.total.sum()) - change) <= float(res.error.abs().sum()) + 1e-12
    assert float(res.total.sum()) == pytest.approx(change, rel=0.01)
    assert read_steps(tmp_path / "steps", "fc1.weight").shape == (20, 100, 64)


def test_training_goes_as_it_would_without_lca() -> None:
    """The evaluation passes run in eval mode under a forked random state: the dropout
    masks, the weights and the module modes are those of a run without LCA."""
    weights = []
    for with_lca in (False, True):
        torch.manual_seed(0)
        model, data, evals = tiny()
        model = nn.Sequential(model[0], nn.Dropout(0.3), *model[1:])
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        lca = ns.LCA(model, loss_fn, evals) if with_lca else None
        model.train()
        train(model, lca, data, opt)
        assert all(m.training for m in model.modules())
        weights.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*weights, strict=True))


def test_wrap_gives_the_same_record_as_explicit_calls_and_unwrap_removes_it() -> None:
    results = []
    for wrapped in (False, True):
        model, data, evals = tiny()
        lca = ns.LCA(model, loss_fn, evals)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        if wrapped:
            lca.wrap(opt)
        train(model, None if wrapped else lca, data, opt)
        results.append(lca.result())
        lca.unwrap()
        opt.step()  # no longer followed
        assert lca.result().n_steps == len(data)
    assert torch.equal(results[0].total, results[1].total)


def test_batch_norm_statistics_are_measured_apart_not_allocated() -> None:
    torch.manual_seed(0)
    model, data, evals = tiny()
    model = nn.Sequential(model[0], nn.BatchNorm1d(8), *model[1:]).train()
    lca = ns.LCA(model, loss_fn, evals)
    train(model, lca, data, torch.optim.SGD(model.parameters(), lr=0.1))
    res = lca.result()
    assert (res.buffer_change != 0).all()
    assert torch.allclose(res.loss_change, res.total + res.buffer_change + res.error)
    assert float(res.relative_error.median()) < 0.01 or \
        float((res.error.abs() / (res.loss_change - res.buffer_change).abs()).median()) < 0.01
    assert model.training  # modes restored


def bn_run(wrapped: bool, steps: int = 6, lca_kwargs: dict | None = None,
           state: dict | None = None):
    """A batch-norm model trained by hand-placed calls or through wrap (where before_step
    runs inside optimizer.step, after the forward pass has moved the statistics)."""
    torch.manual_seed(0)
    model, data, evals = tiny()
    model = nn.Sequential(model[0], nn.BatchNorm1d(8), *model[1:]).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
    lca = ns.LCA(model, loss_fn, evals, **(lca_kwargs or {}))
    batches = (data * 2)[lca.step:steps]
    if wrapped:
        lca.wrap(opt)
    train(model, None if wrapped else lca, batches, opt)
    return model, opt, lca


def test_wrap_measures_batch_norm_as_the_hand_placed_calls_do(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        by_hand, through = (bn_run(w)[2].result() for w in (False, True))
    assert "outside" not in caplog.text
    assert (through.outside == 0).all() and (through.buffer_change != 0).all()
    for name in ("loss", "loss_change", "total", "buffer_change"):
        assert torch.allclose(getattr(by_hand, name), getattr(through, name), rtol=1e-9,
                              atol=1e-12), name


def test_a_wrapped_batch_norm_run_resumes_and_a_look_mid_run_moves_nothing(tmp_path) -> None:
    whole = bn_run(True)[2].result()
    ckpt = {"checkpoint": tmp_path / "c.safetensors", "checkpoint_every": 2,
            "per_step": tmp_path / "steps", "shard_steps": 3}
    model, opt, lca = bn_run(True, steps=4, lca_kwargs=ckpt)
    state = {"model": {k: v.clone() for k, v in model.state_dict().items()},
             "opt": copy.deepcopy(opt.state_dict())}  # saved by the user at step 4 ...
    lca.unwrap()
    lca.wrap(opt)
    train(model, None, (tiny()[1] * 2)[4:5], opt)
    assert lca.result().n_steps == 5  # ... a look at step 5 writes shards, not the checkpoint
    assert ns.LCAResult.load(tmp_path / "c.safetensors").n_steps == 4
    resumed = bn_run(True, lca_kwargs=ckpt, state=state)[2].result()
    for name in ("loss", "loss_change", "total", "buffer_change", "outside"):
        assert torch.allclose(getattr(whole, name), getattr(resumed, name), rtol=1e-9,
                              atol=1e-12), name
    steps = read_steps(tmp_path / "steps", "0.weight")
    assert steps.shape[0] == 6  # step 4 written once, not twice
    assert torch.allclose(steps.double().flatten(1).sum(1), resumed.by_layer["0"], atol=1e-6)


def test_building_lca_leaves_the_random_state_alone() -> None:
    model, _, evals = tiny()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(
        *[torch.cat(t) for t in zip(*evals, strict=True)]), batch_size=20)
    before = torch.random.get_rng_state()
    lca = ns.LCA(model, loss_fn, loader)
    lca.before_step()
    lca.after_step()
    assert torch.equal(before, torch.random.get_rng_state())


def test_a_change_between_steps_is_recorded_as_outside(caplog) -> None:
    model, data, evals = tiny()
    lca = ns.LCA(model, loss_fn, evals)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    train(model, lca, data[:2], opt)
    with torch.no_grad():
        model[0].weight.mul_(0.5)  # e.g. a weight constraint outside the optimizer
    with caplog.at_level(logging.WARNING):
        train(model, lca, data[2:4], opt)
    res = lca.result()
    assert res.outside[:2].abs().max() == 0 and res.outside[2] != 0 and res.outside[3] == 0
    assert "outside" in caplog.text
    assert float(res.loss[2] - res.loss[1] - res.loss_change[1]) == pytest.approx(
        float(res.outside[2]), abs=1e-12)
