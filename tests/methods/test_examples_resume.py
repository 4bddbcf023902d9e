"""top_examples survives SIGKILL (resumes from its checkpoint) and runs sharded under torchrun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import neuronscope as ns

from .examples_job import make_inputs, make_model, run
from .test_examples import assert_same

JOB = Path(__file__).with_name("examples_job.py")
ROOT = Path(__file__).parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _batches_done(path: Path) -> int:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["neuronscope"])["info"]["batches_done"]


def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    expected = run()
    ckpt, out = tmp_path / "mine.ckpt", tmp_path / "out.safetensors"
    proc = subprocess.Popen([sys.executable, str(JOB), str(out), "--checkpoint", str(ckpt),
                             "--slow", "0.01"], env=_env(), cwd=ROOT)
    deadline = time.time() + 60
    while time.time() < deadline and not (ckpt.exists() and _batches_done(ckpt) >= 3):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL and not out.exists()
    done = _batches_done(ckpt)
    assert 3 <= done < 12  # killed mid-run: 90 items in batches of 8 make 12
    resumed = run(str(ckpt))
    assert_same(expected, resumed)
    assert _batches_done(ckpt) == 12
    with pytest.raises(ns.NeuronscopeError, match="another run"):
        ns.top_examples(make_model(), make_inputs(), k=3, batch_size=8, progress=False,
                        checkpoint=ckpt)


def test_two_gloo_processes_equal_one(tmp_path: Path) -> None:
    out = tmp_path / "ddp.safetensors"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(JOB), str(out), "--checkpoint", str(tmp_path / "ddp.ckpt")]
    done = subprocess.run(cmd, env=_env(), cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "ddp.ckpt.rank0").exists() and (tmp_path / "ddp.ckpt.rank1").exists()
    assert_same(run(), ns.TopExamples.load(out))
