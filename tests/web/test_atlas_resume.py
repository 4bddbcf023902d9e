"""An atlas build killed with SIGKILL at a random point, then rerun, ends identical to an
uninterrupted build; a rerun with an extra section computes only that section."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neuronscope.atlas.build import build_atlas
from neuronscope.core.errors import NeuronscopeError

from .atlas_job import build, tiny_data, tiny_model

ROOT = Path(__file__).parents[2]
JOB = Path(__file__).with_name("atlas_job.py")


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of an atlas but the work folder, by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "work" not in p.relative_to(folder).parts}


def test_killed_build_resumes_to_the_same_atlas(tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    build(str(whole))
    expected = snapshot(whole)
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get(
        "PYTHONPATH", "")])}
    rng = random.Random(os.getpid())
    proc = subprocess.Popen([sys.executable, str(JOB), str(killed)], env=env, cwd=ROOT)
    deadline = time.time() + 60
    while time.time() < deadline and not (killed / "manifest.json").exists():
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 1.5))  # somewhere in the middle of the build
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = json.loads((killed / "manifest.json").read_text())
    build(str(killed))
    got = snapshot(killed)
    assert got.keys() == expected.keys()
    assert [k for k in got if got[k] != expected[k]] == []
    print(f"killed after sections: { {k: sorted(v) for k, v in partial['layers'].items()} }")


@pytest.mark.parametrize("where", ["examples:conv2", "featvis:conv2", "ablation:fc"])
def test_death_inside_a_section_resumes_to_the_same_atlas(tmp_path: Path, where: str) -> None:
    whole = tmp_path / "whole"
    build(str(whole))
    dead = tmp_path / "dead"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get(
        "PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(JOB), str(dead), "--die-in", where], env=env,
                          cwd=ROOT)
    assert done.returncode == 9  # it died where asked
    build(str(dead))
    got, expected = snapshot(dead), snapshot(whole)
    assert got.keys() == expected.keys()
    assert [k for k in got if got[k] != expected[k]] == []


def test_new_sections_only_compute_what_is_missing(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "atlas"
    build_atlas(tiny_model(), tiny_data(), str(out), sections=("examples",), k=3,
                progress=False)
    before = snapshot(out)
    from neuronscope.atlas.sections import examples as examples_section

    def no_examples(*args: object, **kwargs: object) -> None:
        raise AssertionError("examples were computed again")

    monkeypatch.setattr(examples_section, "top_examples", no_examples)
    atlas = build_atlas(tiny_model(), tiny_data(), str(out), sections=("examples", "featvis"),
                        k=3, steps=2, progress=False)
    assert all(atlas.done(layer, "featvis") for layer in ("conv1", "conv2", "fc"))
    after = snapshot(out)
    assert all(after[k] == v for k, v in before.items() if k != "manifest.json")
    other = tiny_model()
    other.conv1.weight.data.mul_(2)
    with pytest.raises(NeuronscopeError, match="another model"):
        build_atlas(other, tiny_data(), str(out), sections=("examples",), progress=False)
