"""Tests of the training loop: tasks, the task registry, callbacks. All fast (seconds)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import neuronscope.zoo as zoo
from neuronscope.core.errors import ModelLoadError, NeuronscopeError
from neuronscope.core.spec import InputSpec
from neuronscope.zoo import tasks
from neuronscope.zoo.cache import recipe_hash
from neuronscope.zoo.callbacks import Callback, TrainState
from neuronscope.zoo.recipes import Recipe
from neuronscope.zoo.tasks import Task, TaskNotFoundError, get_task, register_task
from neuronscope.zoo.training import fit

# Measured with the code before `Recipe.task` existed: users' cached models are filed
# under these keys, so they must never change.
BUILTIN_HASHES = {
    "shapes-cnn": "4ebd8f375f9c",
    "digits-mlp": "583a4ab5e9dc",
    "digits-cnn": "d1f8d06faecd",
}

TINY = {"n_train": 64, "n_test": 32, "epochs": 2}  # digits-mlp: 2 batches of 32 per epoch


class Recorder(Callback):
    """Logs every call; checks what a step sees before and after the optimizer step."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int, int]] = []
        self.lrs: list[float] = []

    def _log(self, name: str, state: TrainState) -> None:
        self.events.append((name, state.epoch, state.step))

    def on_train_start(self, state: TrainState) -> None:
        assert state.model.training
        self._log("on_train_start", state)

    def before_step(self, state: TrainState) -> None:
        assert state.loss is None and state.batch is not None
        self.batch = state.batch
        self.params = [p.detach().clone() for p in state.model.parameters()]
        with torch.no_grad():  # digits-mlp has no dropout or batch norm: a pure function
            self.expected_loss = state.task.loss(state.model, state.batch, state.recipe)
        self._log("before_step", state)

    def after_step(self, state: TrainState) -> None:
        assert state.batch is self.batch and state.loss is not None
        assert torch.allclose(state.loss.detach(), self.expected_loss, rtol=1e-6, atol=0)
        now = list(state.model.parameters())
        assert all(not torch.equal(a, b) for a, b in zip(self.params, now, strict=True))
        self.lrs.append(state.optimizer.param_groups[0]["lr"])
        self._log("after_step", state)

    def on_epoch_end(self, state: TrainState) -> None:
        assert "epoch_loss" in state.metrics
        self._log("on_epoch_end", state)

    def on_train_end(self, state: TrainState) -> None:
        assert not state.model.training and "test_accuracy" in state.metrics
        state.metrics["seen_by_callback"] = True
        self._log("on_train_end", state)


def test_callbacks_run_in_order_and_see_each_step() -> None:
    r = zoo.recipe("digits-mlp").replace(**TINY)
    rec = Recorder()
    metrics, _ = fit(r, r.builder(r.n_classes), progress=False, callbacks=[rec])
    assert rec.events == [
        ("on_train_start", 0, 0),
        ("before_step", 0, 0), ("after_step", 0, 0),
        ("before_step", 0, 1), ("after_step", 0, 1), ("on_epoch_end", 0, 2),
        ("before_step", 1, 2), ("after_step", 1, 2),
        ("before_step", 1, 3), ("after_step", 1, 3), ("on_epoch_end", 1, 4),
        ("on_train_end", 1, 4),
    ]
    assert rec.lrs[0] == r.lr  # after_step runs before the scheduler steps
    assert rec.lrs == sorted(rec.lrs, reverse=True) and rec.lrs[1] < r.lr  # cosine decay
    assert metrics["seen_by_callback"] is True


class Meddler(Callback):
    """Draws random numbers and evaluates the model in eval mode, as an observer might."""

    def __init__(self) -> None:
        self.steps = 0

    def before_step(self, state: TrainState) -> None:
        torch.rand(100)
        state.model.eval()
        with torch.no_grad():
            state.model(state.batch[0])

    def after_step(self, state: TrainState) -> None:
        self.before_step(state)
        self.steps += 1


def test_observing_callbacks_leave_training_identical_and_skip_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NEURONSCOPE_CACHE", str(tmp_path))
    tiny = {"n_train": 64, "n_test": 16, "epochs": 2, "batch_size": 32}  # dropout, batch norm
    plain, m0 = zoo.train("shapes-cnn", progress=False, **tiny)
    files = sorted(tmp_path.rglob("*"))
    meddler = Meddler()
    watched, m1 = zoo.train("shapes-cnn", progress=False, callbacks=[meddler], **tiny)
    assert meddler.steps == 4 and m1["cached"] is False and m1["cache_path"] is None
    assert m0["hash"] == m1["hash"] and sorted(tmp_path.rglob("*")) == files
    sa, sb = plain.state_dict(), watched.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    _, m2 = zoo.train("shapes-cnn", progress=False, callbacks=[Callback()], **tiny)
    assert m2["cached"] is False  # callbacks given: trained now, not read from the cache


class ToyRegression(Task):
    """y = X @ w on random vectors: mean squared error, one unshuffled pass per epoch."""

    def load(self, recipe: Recipe) -> tuple[Any, Any, InputSpec]:
        g = torch.Generator().manual_seed(1)
        X = torch.randn(160, 4, generator=g)
        y = X @ torch.tensor([1.0, -2.0, 0.5, 3.0])
        return (X[:128], y[:128]), (X[128:], y[128:]), InputSpec(shape=(4,), kind="vector")

    def n_batches(self, train_data: Any, recipe: Recipe) -> int:
        return len(train_data[1]) // recipe.batch_size

    def batches(self, train_data: Any, recipe: Recipe, generator: torch.Generator) -> Iterator:
        X, y = train_data
        for i in range(0, len(y), recipe.batch_size):
            yield X[i:i + recipe.batch_size], y[i:i + recipe.batch_size]

    def loss(self, model: nn.Module, batch: Any, recipe: Recipe) -> torch.Tensor:
        return F.mse_loss(model(batch[0]).squeeze(1), batch[1])

    def evaluate(self, model: nn.Module, train_data: Any, test_data: Any) -> dict[str, Any]:
        with torch.no_grad():
            return {"test_mse": float(self.loss(model, test_data, None))}


class TooMany(ToyRegression):
    def n_batches(self, train_data: Any, recipe: Recipe) -> int:
        return super().n_batches(train_data, recipe) - 1


@pytest.fixture
def toy_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks, "_TASKS", dict(tasks._TASKS))  # registrations end with the test
    register_task("toy-regression", ToyRegression())
    register_task("too-many", TooMany())


def _toy_recipe(**changes: Any) -> Recipe:
    r = Recipe(name="toy", dataset="random vectors", builder=lambda n: nn.Linear(4, n),
               n_classes=1, epochs=8, batch_size=16, lr=0.2, schedule="constant",
               task="toy-regression")
    return r.replace(**changes)


def test_a_registered_task_trains_through_fit(toy_tasks: None) -> None:
    class EpochLosses(Callback):
        def __init__(self) -> None:
            self.losses: list[float] = []

        def on_epoch_end(self, state: TrainState) -> None:
            self.losses.append(state.metrics["epoch_loss"])

    r, cb = _toy_recipe(), EpochLosses()
    torch.manual_seed(0)
    model = r.builder(1)
    metrics, spec = fit(r, model, progress=False, callbacks=[cb])
    assert len(cb.losses) == 8 and cb.losses[-1] < 0.1 * cb.losses[0]
    assert metrics["final_loss"] == cb.losses[-1] and metrics["test_mse"] < cb.losses[0]
    assert spec.kind == "vector" and not model.training
    assert recipe_hash(r, model) != recipe_hash(r.replace(task="classify"), model)


def test_a_task_must_yield_the_batches_it_promised(toy_tasks: None) -> None:
    r = _toy_recipe(task="too-many")
    with pytest.raises(ValueError, match="more than the 7 batches"):
        fit(r, r.builder(1), progress=False)


def test_unknown_task_names_the_known_ones() -> None:
    with pytest.raises(TaskNotFoundError) as info:
        zoo.train("digits-mlp", task="clasify")
    err = info.value
    assert isinstance(err, ModelLoadError) and isinstance(err, NeuronscopeError)
    assert isinstance(err, KeyError)
    assert "Did you mean 'classify'" in str(err) and "Known tasks: charlm, classify" in str(err)
    r = zoo.recipe("digits-mlp").replace(task="nope")
    with pytest.raises(TaskNotFoundError, match="no training task 'nope'"):
        fit(r, r.builder(10), progress=False)


def test_bad_registrations_and_callbacks_are_refused() -> None:
    with pytest.raises(TypeError, match="instance"):
        register_task("toy", ToyRegression)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="lacks the method.*batches"):
        register_task("toy", object())  # type: ignore[arg-type]
    r = zoo.recipe("digits-mlp").replace(**TINY)
    with pytest.raises(TypeError, match="none of the methods"):
        fit(r, r.builder(10), progress=False, callbacks=[lambda state: None])
    assert type(get_task("classify")).__name__ == "ClassifyTask"


def test_builtin_recipe_hashes_are_unchanged() -> None:
    for name, key in BUILTIN_HASHES.items():
        r = zoo.recipe(name)
        assert r.task == "classify"
        assert recipe_hash(r, r.builder(r.n_classes)) == key


def test_callbacks_leave_every_module_in_its_mode() -> None:
    from neuronscope.zoo.callbacks import run_callbacks

    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(), torch.nn.Linear(2, 1))
    model.train()
    model[2].eval()  # a frozen head, say

    class Flip(Callback):
        def after_step(self, state: TrainState) -> None:
            state.model[1].eval()
            state.model[2].train()

    state = TrainState(model, None, None, None, None)
    run_callbacks([Flip()], "after_step", state)
    assert [m.training for m in model.modules()] == [True, True, True, False]
