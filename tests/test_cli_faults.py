"""Bad input to the `neuronscope` command ends in exit status 2 and one line that says
what was wrong and what is allowed, never in a traceback (issue #10)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

import neuronscope
from neuronscope.cli import main

SRC = str(Path(neuronscope.__file__).resolve().parents[1])  # the package under test
NETS = """
import sys
import torch
from torch import nn
from neuronscope.core.spec import InputSpec

def rgb():  # any RGB size, no InputSpec
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 2))

def gray8():  # like digits-cnn: 1x8x8 only
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(4 * 8 * 8, 10))
    return net, InputSpec(shape=(1, 8, 8), class_names=[str(i) for i in range(10)])

def quits():
    sys.exit("no GPU here")
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faults")
    (root / "nets.py").write_text(textwrap.dedent(NETS))
    for name, color in {"red": (255, 0, 0), "green": (0, 255, 0)}.items():
        for k in range(5):
            for folder in ("good", "text", "corrupt", "huge"):
                (root / folder / name).mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (20, 12), color).save(root / folder / name / f"{k}.png")
        (root / "few" / name).mkdir(parents=True)
        Image.new("RGB", (9, 9), color).save(root / "few" / name / "0.png")
    (root / "text" / "red" / "9.png").write_text("a text file, not a picture")
    (root / "corrupt" / "red" / "9.png").write_bytes((root / "good/red/0.png").read_bytes()[:40])
    Image.new("1", (20000, 20000)).save(root / "huge" / "red" / "9.png")
    (root / "empty").mkdir()
    (root / "a-file").write_text("x")
    fake = root / "site" / "torchvision"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise RuntimeError('operator torchvision::nms does not "
                                      "exist')\n")
    return root


def run(argv: list[str], extra_path: str = "") -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(p for p in (SRC, extra_path) if p)
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.run([sys.executable, "-m", "neuronscope", *argv], capture_output=True,
                          text=True, env=env, timeout=300)


def one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"neuronscope {proc.args[3]}: error: ")
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_subprocess_option_values(files: Path) -> None:
    one_line_error(run(["examples", "digits-mlp", "--data", "digits", "--k", "0"]),
                   "--k", "positive integer", "got 0")
    one_line_error(run(["atlas", "digits-mlp", "--data", "digits", "--split", "nope"]),
                   "'nope'", "'train', 'test', 'all'")
    one_line_error(run(["ablate", "digits-mlp", "--data", "digits", "--layer", "fc1",
                        "--value", "abc"]), "--value", "a number", "'mean'", "'abc'")
    one_line_error(run(["examples", "digits-mlp", "--data", "digits", "--units", "5-2"]),
                   "5-2", "reversed", "2-5")


def test_subprocess_out_paths(files: Path) -> None:
    one_line_error(run(["examples", "digits-mlp", "--data", "digits", "--out",
                        str(files / "a-file")]), "existing file", "folder")
    one_line_error(run(["atlas", "digits-mlp", "--data", "digits", "--out", "/proc/ns-atlas"]),
                   "cannot write in '/proc'")


def test_subprocess_data_faults(files: Path) -> None:
    nets = files / "nets.py"
    err = one_line_error(run(["atlas", f"{nets}:gray8", "--data", "faces"]),
                         "wants inputs of 1x8x8 (C,H,W)", "give 1x25x25")
    assert "faces" in err
    bad = files / "corrupt" / "red" / "9.png"
    one_line_error(run(["examples", f"{nets}:rgb", "--data", f"folder:{files / 'corrupt'}",
                        "--split", "all"]), str(bad), "not an image")


def test_subprocess_model_faults(files: Path) -> None:
    one_line_error(run(["layers", f"{files / 'nets.py'}:quits"]),
                   "quits() called sys.exit('no GPU here')")
    err = one_line_error(run(["layers", "torchvision:resnet18"], str(files / "site")),
                         "torchvision does not import",
                         "RuntimeError: operator torchvision::nms does not exist")
    assert "built for another torch" in err


OPTION_CASES = [
    (["examples", "M", "--data", "digits", "--k", "-1"], "--k"),
    (["atlas", "M", "--data", "digits", "--k", "0"], "--k"),
    (["examples", "M", "--data", "digits", "--batch-size", "0"], "--batch-size"),
    (["examples", "M", "--data", "digits", "--batch-size", "-5"], "--batch-size"),
    (["visualize", "M", "conv:1", "--steps", "-1"], "--steps"),
    (["atlas", "M", "--data", "digits", "--steps", "-1"], "--steps"),
    (["visualize", "M", "conv:1", "--n-starts", "0"], "--n-starts"),
    (["examples", "M", "--data", "digits", "--split", "nope"], "'train', 'test', 'all'"),
    (["ablate", "M", "--data", "digits", "--layer", "fc", "--split", "nope"], "--split"),
    (["ablate", "M", "--data", "digits", "--layer", "fc", "--repeats", "-1"], "--repeats"),
    (["ablate", "M", "--data", "digits", "--layer", "fc", "--repeats", "0"], "--repeats"),
    (["ablate", "M", "--data", "digits", "--layer", "fc", "--value", "nan"], "'mean'"),
    (["examples", "M", "--data", "digits", "--units", "3-"], "low-high"),
    (["examples", "M", "--data", "digits", "--image-size", "0"], "--image-size"),
    (["atlas", "M", "--data", "digits", "--std", "0.2,0,0.2"], "positive numbers"),
    (["atlas", "M", "--data", "digits", "--mean", "a,b,c"], "R,G,B"),
]


@pytest.mark.parametrize(("argv", "word"), OPTION_CASES, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else None)
def test_option_values_are_checked_by_argparse(
    argv: list[str], word: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and word in err[0], err


def test_out_paths(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nets, afile = files / "nets.py", str(files / "a-file")
    for argv in (["visualize", f"{nets}:rgb", "conv:0", "--input-shape", "3,8,8"],
                 ["ablate", f"{nets}:rgb", "--data", "digits", "--layer", "0"],
                 ["overview", f"{nets}:rgb", "--input-shape", "3,8,8"]):
        assert main([*argv, "--out", afile]) == 2
        assert "is an existing file" in capsys.readouterr().err
    assert main(["weights", f"{nets}:rgb", "0", "--out", f"{afile}/w.png"]) == 2
    assert "is a file, so nothing can be written under it" in capsys.readouterr().err
    assert main(["weights", f"{nets}:rgb", "0", "--out", "/proc/w.png"]) == 2
    assert "cannot write in '/proc'" in capsys.readouterr().err
    assert not (files / "a-file").is_dir()


def test_data_faults(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nets = files / "nets.py"
    assert main(["examples", f"{nets}:gray8", "--data", f"folder:{files / 'good'}"]) == 2
    err = capsys.readouterr().err
    assert "wants inputs of 1x8x8 (C,H,W) and the data give 3x8x8" in err and "Traceback" \
        not in err
    text = files / "text" / "red" / "9.png"
    assert main(["atlas", f"{nets}:rgb", "--data", f"folder:{files / 'text'}",
                 "--split", "all"]) == 2
    assert str(text) in capsys.readouterr().err
    huge = files / "huge" / "red" / "9.png"
    assert main(["examples", f"{nets}:rgb", "--data", f"folder:{files / 'huge'}",
                 "--split", "all"]) == 2
    err = capsys.readouterr().err
    assert str(huge) in err and "too large" in err and "400000000 pixels" in err
    assert main(["atlas", f"{nets}:rgb", "--data", f"folder:{files / 'few'}", "--split",
                 "test"]) == 2  # a folder is read whole unless a split is asked for
    err = capsys.readouterr().err
    assert "no items in split 'test'" in err and "--split all" in err
    assert main(["atlas", f"{nets}:rgb", "--data", f"folder:{files / 'empty'}"]) == 2
    assert "no images found" in capsys.readouterr().err
    assert main(["atlas", f"{nets}:rgb", "--data", "digits", "--sections", "examples,bogus",
                 "--out", str(files / "out")]) == 2
    assert "unknown atlas section 'bogus'; sections: weights, examples" in \
        capsys.readouterr().err


def test_an_input_shape_the_model_cannot_run_on(files: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    nets = files / "nets.py"
    for argv in (["layers", f"{nets}:rgb", "--input-shape", "1,8,8"],
                 ["visualize", f"{nets}:rgb", "conv:0", "--input-shape", "3,8"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "does not run on inputs of" in err[0], err
        assert "(--input-shape)" in err[0] and "Traceback" not in err[0]
