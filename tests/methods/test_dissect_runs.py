"""A dissection resumes from its checkpoint after an interruption, refuses the checkpoint
of another job, and gives the same result split over two gloo processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import Dataset

from neuronscope.core.errors import NeuronscopeError
from neuronscope.data.shapes import Shapes
from neuronscope.methods.dissect import Dissection

from .dissect_job import run
from .test_examples_resume import _env

JOB = Path(__file__).with_name("dissect_job.py")
ROOT = Path(__file__).parents[2]


def same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name].thresholds, b[name].thresholds)
        assert torch.equal(a[name].iou, b[name].iou)
        assert torch.equal(a[name].top, b[name].top)


class Stops(Dataset):
    """Shapes that fail on the second read of one item (the IoU pass), once."""

    def __init__(self, at: int) -> None:
        self.shapes, self.at, self.reads = Shapes("test", n=90, masks=True), at, 0
        self.concepts = self.shapes.concepts

    def __len__(self) -> int:
        return len(self.shapes)

    def __getitem__(self, i: int) -> dict:
        if i == self.at:
            self.reads += 1
            if self.reads == 2:
                raise KeyboardInterrupt("stopped in the IoU pass")
        return self.shapes[i]


@pytest.fixture(scope="module")
def whole() -> dict:
    return run()


def test_an_interrupted_dissection_resumes_to_the_same_result(whole: dict,
                                                              tmp_path: Path) -> None:
    ckpt = tmp_path / "dissect.ckpt"
    with pytest.raises(KeyboardInterrupt):
        run(Stops(at=70), checkpoint=ckpt)  # batch 4 of 6 in the second pass
    from neuronscope.core import store
    from neuronscope.methods.dissect.run import FORMAT, VERSION

    meta = store.load(ckpt, FORMAT, VERSION)[1]
    assert (meta["stage"], meta["done"]) == ("iou", 4)  # thresholds done, 4 batches tallied
    same(run(checkpoint=ckpt), whole)
    same(run(checkpoint=ckpt), whole)  # a finished checkpoint: nothing left to read
    with pytest.raises(NeuronscopeError, match="another dissection .*quantile"):
        run(checkpoint=ckpt, quantile=0.01)


def test_two_gloo_processes_equal_one(whole: dict, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(JOB), str(out), "--checkpoint", str(tmp_path / "ddp.ckpt")]
    done = subprocess.run(cmd, env=_env(), cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "ddp.ckpt.rank0").exists() and (tmp_path / "ddp.ckpt.rank1").exists()
    same({n: Dissection.load(f"{out}.{n}") for n in ("1", "2")}, whole)
