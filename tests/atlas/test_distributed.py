"""An atlas built by 2 real gloo processes (torchrun) is the atlas one process builds, file
for file, byte for byte; a shared build killed in the middle resumes to it; and
`torchrun -m neuronscope atlas` shares the work from the command line.

A shared build resumes with any number of processes (rank 0 keeps the records of the
parts written), so the killed build is finished by one process, which is faster here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from neuronscope.cli import main

from .dist_job import OPTIONS, build

ROOT = Path(__file__).parents[2]
JOB = Path(__file__).with_name("dist_job.py")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def files(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (the work folder included), by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def assert_same(got: Path, expected: dict[str, bytes]) -> None:
    have = files(got)
    assert sorted(have) == sorted(expected)
    assert [name for name in have if have[name] != expected[name]] == []


def torchrun(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
           "OMP_NUM_THREADS": "1"}
    return subprocess.run([*TORCHRUN, *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("one") / "atlas"
    build(str(out))
    return files(out)


def test_two_gloo_processes_build_the_atlas_of_one(one_process: dict[str, bytes],
                                                   tmp_path: Path) -> None:
    assert not any(name.startswith("work/") for name in one_process)
    assert {"featvis", "ablation", "dream", "examples"} <= set(
        json.loads(one_process["manifest.json"])["layers"]["conv1"])
    done = torchrun(str(JOB), str(tmp_path / "two"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same(tmp_path / "two", one_process)


def test_a_killed_shared_build_resumes_to_the_same_atlas(one_process: dict[str, bytes],
                                                         tmp_path: Path) -> None:
    out = tmp_path / "killed"
    dead = torchrun(str(JOB), str(out), "--die-in", "ablation:conv2")
    assert dead.returncode != 0  # rank 1 died in the last part of conv2's lesions:
    assert re.search(r"exitcode\s*:\s*9\b", dead.stderr), dead.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert "ablation" in manifest["layers"]["conv1"]
    assert "ablation" not in manifest["layers"]["conv2"]
    record = list((out / "work").glob("ablation-*.json"))
    assert len(record) == 1 and list(json.loads(record[0].read_text())["written"]) == ["0"]
    build(str(out))  # one process finishes it; conv2's selectivity is not computed again
    assert_same(out, one_process)


def test_an_error_on_one_rank_stops_every_rank_with_its_message(tmp_path: Path) -> None:
    done = torchrun(str(JOB), str(tmp_path / "failed"), "--fail-in", "examples:conv1")
    assert done.returncode != 0
    said = re.findall(r"\[rank(\d)\]: neuronscope.core.errors.NeuronscopeError: rank 1 failed "
                      r"in examples:conv1", done.stderr)
    assert sorted(said) == ["0", "1"], done.stderr[-3000:]  # rank 0 raised it too
    assert not (tmp_path / "failed" / "units" / "conv1" / "examples.json").exists()


def test_torchrun_runs_the_atlas_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    rng = np.random.default_rng(0)
    for label in ("a", "b", "c"):
        (tmp_path / "data" / label).mkdir(parents=True)
        for i in range(5):
            pixels = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "data" / label / f"{i}.png")
    args = ["atlas", f"{ROOT / 'tests/web/atlas_job.py'}:tiny_model", "--data",
            f"folder:{tmp_path / 'data'}", "--split", "all", "--k", "2", "--steps", "2",
            "--unit-batch", "2", "--device", "cpu"]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    assert "browse it: neuronscope serve" in capsys.readouterr().out
    done = torchrun("-m", "neuronscope", *args, "--out", str(tmp_path / "two"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("browse it:") == 1  # rank 0 reports, the other is silent
    assert_same(tmp_path / "two", files(tmp_path / "one"))
    assert OPTIONS["unit_batch"] == 2
