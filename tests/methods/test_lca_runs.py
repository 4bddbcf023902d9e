"""`ns.LCA` across runs: a killed run resumes to the record of an unbroken one, real gloo
processes allocate as one process does, and bad input gets a clear answer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import neuronscope as ns
from neuronscope.core.errors import NeuronscopeError

from .lca_job import loss_fn, run, tiny
from .test_lca import train

ROOT = Path(__file__).parents[2]
JOB = Path(__file__).with_name("lca_job.py")


def same(a: ns.LCAResult, b: ns.LCAResult) -> None:
    for name in ("loss", "loss_change", "total", "error", "helping", "splits"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert all(torch.equal(a.cumulative[n], b.cumulative[n]) for n in a.cumulative)
    assert all(torch.equal(a.by_layer[n], b.by_layer[n]) for n in a.by_layer)


def test_a_checkpointed_run_resumes_to_the_record_of_an_unbroken_one(tmp_path: Path) -> None:
    model, data, evals = tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    lca = ns.LCA(model, loss_fn, evals)
    train(model, lca, data, opt, epochs=2)
    whole = lca.result()

    model, data, evals = tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    lca = ns.LCA(model, loss_fn, evals, checkpoint=tmp_path / "c.safetensors",
                 checkpoint_every=4)
    train(model, lca, data, opt)  # 6 steps: checkpointed at step 4
    saved = (model.state_dict(), opt.state_dict())
    assert ns.LCAResult.load(tmp_path / "c.safetensors").n_steps == 4
    del lca  # killed; the model and optimizer as the user saved them at step 6 ...

    lca = ns.LCA(model, loss_fn, evals, checkpoint=tmp_path / "c.safetensors")
    with pytest.raises(NeuronscopeError, match="other weights"):  # ... are not step 4's
        lca.before_step()

    # a resumed run (model and optimizer at the checkpoint's step 4) ends as the whole one
    model, data, evals = tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    train(model, None, data[:4], opt)
    lca = ns.LCA(model, loss_fn, evals, checkpoint=tmp_path / "c.safetensors")
    train(model, lca, data[4:] + data, opt)
    same(lca.result(), whole)
    assert saved  # (what a user would have restored)


def test_train_with_lca_resumes_a_run_killed_mid_epoch(tmp_path: Path, monkeypatch) -> None:
    from neuronscope.zoo.tasks import get_task

    args = {"epochs": 3, "n_train": 96, "batch_size": 32, "progress": False}
    _, whole = ns.train_with_lca("digits-mlp", out=tmp_path / "a", **args)
    task = type(get_task("classify"))
    real, calls = task.loss, {"n": 0}

    def dying(self, model, batch, recipe):
        calls["n"] += 1
        if calls["n"] == 5:  # second epoch, second step
            raise KeyboardInterrupt
        return real(self, model, batch, recipe)

    monkeypatch.setattr(task, "loss", dying)
    with pytest.raises(KeyboardInterrupt):
        ns.train_with_lca("digits-mlp", out=tmp_path / "b", **args)
    monkeypatch.setattr(task, "loss", real)
    model, resumed = ns.train_with_lca("digits-mlp", out=tmp_path / "b", **args)
    same(resumed, whole)
    assert ns.LCAResult.load(tmp_path / "b" / "lca.safetensors").n_steps == 9
    assert not model.training and ns.input_spec(model) is not None
    with pytest.raises(NeuronscopeError, match="other settings"):
        ns.train_with_lca("digits-mlp", out=tmp_path / "b", **{**args, "batch_size": 16})


def torchrun(out: Path, *extra: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node=2", str(JOB), str(out), *extra], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]


def test_two_gloo_processes_allocate_as_one_process(tmp_path: Path) -> None:
    """Each rank evaluates its share of the evaluation set; the sums are added over
    the ranks: the record equals one process's. Under DistributedDataParallel (each rank
    training on half of each batch) it equals it to float rounding of the training."""
    run(str(tmp_path))
    one = ns.LCAResult.load(tmp_path / "lca.safetensors")
    (tmp_path / "two").mkdir()
    torchrun(tmp_path / "two")
    two = ns.LCAResult.load(tmp_path / "two" / "lca.safetensors")
    assert two.settings["world"] == 2 and one.settings["world"] == 1
    assert torch.allclose(one.total, two.total, rtol=1e-12, atol=1e-15)
    assert torch.allclose(one.loss, two.loss, rtol=1e-12)
    assert all(torch.allclose(one.cumulative[n], two.cumulative[n], rtol=1e-10, atol=1e-15)
               for n in one.cumulative)
    (tmp_path / "ddp").mkdir()
    torchrun(tmp_path / "ddp", "--ddp")
    ddp = ns.LCAResult.load(tmp_path / "ddp" / "lca.safetensors")
    assert torch.allclose(one.total, ddp.total, rtol=1e-4, atol=1e-7)
    assert float(ddp.relative_error.median()) < 0.01


def test_bad_input_gets_a_clear_answer() -> None:
    model, data, evals = tiny()
    with pytest.raises(NeuronscopeError, match="iterator"):
        ns.LCA(model, loss_fn, iter(evals))
    with pytest.raises(NeuronscopeError, match="empty"):
        ns.LCA(model, loss_fn, torch.utils.data.TensorDataset(torch.zeros(0, 6)))
    with pytest.raises(NeuronscopeError, match="no batches"):
        ns.LCA(model, loss_fn, [])
    with pytest.raises(ValueError, match="method"):
        ns.LCA(model, loss_fn, evals, method="rk4")
    with pytest.raises(ValueError, match="positive"):
        ns.LCA(model, loss_fn, evals, error_threshold=0)
    frozen = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(NeuronscopeError, match="no parameter"):
        ns.LCA(frozen, loss_fn, evals)
    lca = ns.LCA(model, lambda m, b: m(b[0]).mean(1), evals)  # one loss per example
    with pytest.raises(NeuronscopeError, match="one number"):
        lca.before_step()
    lca = ns.LCA(model, lambda m, b: loss_fn(m, b).detach(), evals)
    with pytest.raises(NeuronscopeError, match="without a gradient"):
        lca.before_step()
    with pytest.raises(TypeError) as info:
        ns.LCA(model, lambda b: loss_fn(model, b), evals).before_step()
    assert "loss_fn(model, batch)" in "".join(getattr(info.value, "__notes__", []))
    with pytest.raises(NeuronscopeError, match="one batch"):
        ns.LCA(model, loss_fn, evals[0])
    lca = ns.LCA(model, loss_fn, evals)
    with pytest.raises(NeuronscopeError, match="before_step"):
        lca.after_step()
    lca.before_step()
    with pytest.raises(NeuronscopeError, match="twice"):
        lca.before_step()
    with pytest.raises(NeuronscopeError, match="under way"):
        lca.result()
    other = nn.Linear(6, 3)
    tmp = Path(__import__("tempfile").mkdtemp()) / "c.safetensors"
    lca.after_step()
    lca.checkpoint = tmp
    lca.save_checkpoint()
    with pytest.raises(NeuronscopeError, match="another model"):
        ns.LCA(other, loss_fn, evals, checkpoint=tmp)
    with pytest.raises(NeuronscopeError, match="max_splits"):
        ns.LCA(model, loss_fn, evals, checkpoint=tmp, max_splits=5)


def test_train_with_lca_runs_plain_or_nesterov_momentum() -> None:
    args = {"epochs": 1, "n_train": 64, "optimizer": "sgd", "momentum": 0.9, "progress": False}
    _, plain = ns.train_with_lca("digits-mlp", nesterov=False, **args)
    _, nesterov = ns.train_with_lca("digits-mlp", **args)
    assert plain.settings["nesterov"] is False and nesterov.settings["nesterov"] is True
    assert not torch.equal(plain.total, nesterov.total)  # a different training path


def test_train_with_lca_trains_a_model_of_your_own_in_place() -> None:
    model, _, _ = tiny()
    g = torch.Generator().manual_seed(3)
    data = torch.utils.data.TensorDataset(torch.randn(40, 6, generator=g),
                                          torch.randint(0, 3, (40,), generator=g))
    before = model[0].weight.detach().clone()
    trained, res = ns.train_with_lca(model, data=data, epochs=2, batch_size=16, lr=0.1,
                                     optimizer="adam", progress=False)
    assert trained is model and not torch.equal(before, model[0].weight)
    assert res.n_steps == 6 and res.settings["recipe"]["optimizer"] == "adam"
    assert float(res.relative_error.median()) < 0.01
    with pytest.raises(TypeError, match="n_train"):
        ns.train_with_lca(model, data=data, epochs=1, n_train=5)
    with pytest.raises(NeuronscopeError, match="data="):
        ns.train_with_lca(model, epochs=1)
