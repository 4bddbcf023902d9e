"""Tests of the `neuronscope` command, run in-process through `main(argv)`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from PIL import Image

from neuronscope.cli import main

NET_FILE = """
from collections import OrderedDict
import torch
from torch import nn

def build():
    torch.manual_seed(0)
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, 6, 3, padding=1)), ("relu1", nn.ReLU(inplace=True)),
        ("pool1", nn.MaxPool2d(2)), ("conv2", nn.Conv2d(6, 8, 3, padding=1)),
        ("relu2", nn.ReLU()), ("flatten", nn.Flatten()), ("fc", nn.Linear(8 * 8 * 8, 4)),
    ]))
"""


@pytest.fixture
def net(tmp_path: Path) -> str:
    path = tmp_path / "net.py"
    path.write_text(textwrap.dedent(NET_FILE))
    return f"{path}:build"


def test_layers_table_with_input_shape(net: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["layers", net, "--input-shape", "3,16,16"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:5] == ["layer", "kind", "module", "shape", "units"]
    rows = {line.split()[0]: line.split() for line in out[1:]}
    assert list(rows) == ["conv1", "relu1", "pool1", "conv2", "relu2", "flatten", "fc"]
    assert rows["conv2"][3:5] == ["8x8x8", "8"]
    assert rows["conv1"][5] == "3x3" and rows["conv2"][5] == "8x8"  # receptive field sizes
    assert rows["fc"][3:5] == ["4", "4"]


def test_model_without_spec_asks_for_an_input_shape(
    net: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["layers", net]) == 2
    assert "--input-shape 3,64,64" in capsys.readouterr().err
    assert main(["layers", net, "--input-shape", "3,x"]) == 2
    assert "expected positive sizes" in capsys.readouterr().err


def test_unknown_layer_is_an_error_naming_close_ones(
    net: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["weights", net, "conv", "--out", str(tmp_path / "w.png")])
    err = capsys.readouterr().err
    assert code == 2 and "no layer 'conv'" in err and "conv1" in err
    assert not (tmp_path / "w.png").exists()


def test_weights_writes_a_png(net: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "filters.png"
    assert main(["weights", net, "conv1", "--out", str(out)]) == 0
    with Image.open(out) as im:
        assert im.mode == "RGB" and im.width > 20  # six RGB filters, 8x upscaled
    assert str(out) in capsys.readouterr().out


def test_overview_writes_a_page(net: str, tmp_path: Path) -> None:
    assert main(["overview", net, "--input-shape", "3,16,16", "--out", str(tmp_path)]) == 0
    page = (tmp_path / "index.html").read_text()
    assert "conv2" in page and "weights-conv1.png" in page
    assert (tmp_path / "weights-conv1.png").is_file()


def test_train_lists_and_reports_accuracy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--list"]) == 0
    listed = capsys.readouterr().out
    assert "shapes-cnn" in listed and "digits-mlp" in listed
    assert main(["train", "digits-mlp", "-q"]) == 0
    first = capsys.readouterr().out
    accuracy = float(first.split("test accuracy ")[1].split()[0])
    assert accuracy >= 0.9 and "trained in" in first and ".safetensors" in first
    assert main(["train", "digits-mlp", "-q"]) == 0
    assert "cached" in capsys.readouterr().out


def test_unknown_model_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "shapes_cnn"]) == 2
    assert "Did you mean 'shapes-cnn'" in capsys.readouterr().err
    assert main(["layers", "shape-cnn"]) == 2
    assert "Did you mean 'shapes-cnn'" in capsys.readouterr().err


def test_input_shape_keeps_the_rest_of_the_spec(tmp_path: Path) -> None:
    from neuronscope.cli import build_parser
    from neuronscope.commands.common import load
    from neuronscope.core.spec import input_spec

    path = tmp_path / "normed.py"
    path.write_text(textwrap.dedent(NET_FILE) + textwrap.dedent("""
        from neuronscope.core.spec import InputSpec
        def normed():
            return build(), InputSpec(shape=(3, 8, 8), mean=(0.5,) * 3, std=(0.2,) * 3)
    """))  # a wrong shape in the spec, put right by --input-shape (its fc wants 16 x 16)
    args = build_parser().parse_args(["layers", f"{path}:normed", "--input-shape", "3x16x16"])
    spec = input_spec(load(args))
    assert spec.shape == (3, 16, 16) and spec.mean == (0.5,) * 3 and spec.std == (0.2,) * 3


def test_visualize_command(net: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "vis"
    assert main(["visualize", net, "conv2:1", "conv2:3", "--size", "16", "--steps", "3",
                 "--input-shape", "3,16,16", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "conv2:1" in printed and "activation" in printed
    assert (out / "grid.png").is_file() and (out / "summary.json").is_file()
    assert main(["visualize", net, "conv2:1", "--preset", "yosinski", "--param", "fourier",
                 "--input-shape", "3,16,16", "--steps", "1", "--out", str(out)]) == 2
    assert "param='pixel'" in capsys.readouterr().err


def test_ablate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "abl"
    assert main(["ablate", "digits-mlp", "--data", "digits", "--layer", "relu2", "--repeats", "2",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "relu2: 50 units" in printed and "Spearman" in printed
    names = sorted(p.name for p in out.iterdir())
    assert names == ["curves.png", "importance.png", "selectivity.png", "selectivity.safetensors",
                     "study.safetensors"]
