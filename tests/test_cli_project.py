"""`neuronscope project` end to end, in-process: a model file, a photo and an image file."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import pytest
import torch
from PIL import Image

from neuronscope import cli
from neuronscope.commands import project as project_command
from neuronscope.methods.projection import Projection

NET_FILE = """
import torch
import torch.nn.functional as F
from torch import nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 5, 3)

    def forward(self, x):
        return self.conv2(F.max_pool2d(F.relu(self.conv1(x)), 2)).clamp(min=0)

def build():
    torch.manual_seed(0)
    return Net()
"""


def _main(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    """cli.main, with the project command added if cli.py does not list it yet."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "project" not in sub.choices:
        project_command.add_parsers(sub)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    return cli.main(argv)


def test_project_writes_pictures_results_and_a_page(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "net.py").write_text(textwrap.dedent(NET_FILE))
    model = [f"{tmp_path / 'net.py'}:build", "--input-shape", "3,32,32"]
    out = tmp_path / "out"
    code = _main(["project", *model, "conv2:3", "--image", "astronaut", "--out", str(out)],
                 monkeypatch)
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "3 projection(s) of conv2:3" in printed.out and "ReLUs on the path   1" in printed.out
    names = sorted(p.name for p in out.iterdir())
    assert names == ["deconvnet.png", "deconvnet.safetensors", "gradient.png",
                     "gradient.safetensors", "guided.png", "guided.safetensors", "index.html",
                     "input.png"]
    with Image.open(out / "guided.png") as im:
        assert im.size == (256, 256) and im.mode == "RGB"  # 32 px, scaled 8 times
    guided = Projection.load(out / "guided.safetensors")
    assert guided.attribution.shape == (1, 3, 32, 32) and guided.relus == 1  # the F.relu
    page = (out / "index.html").read_text()
    assert "guided.png" in page and "deconvnet.png" in page and "input.png" in page

    picture = tmp_path / "gray.png"
    Image.new("L", (50, 40), 200).save(picture)
    code = _main(["project", *model, "conv2:1@2,2", "--image", str(picture), "--method",
                  "deconv", "--out", str(tmp_path / "one")], monkeypatch)
    assert code == 0, capsys.readouterr().err
    one = Projection.load(tmp_path / "one" / "deconvnet.safetensors")
    assert one.method == "deconvnet" and one.unit == "conv2:1@2,2"
    assert torch.count_nonzero(one.attribution) > 0


def test_project_refuses_an_unknown_image(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "net.py").write_text(textwrap.dedent(NET_FILE))
    code = _main(["project", f"{tmp_path / 'net.py'}:build", "--input-shape", "3,32,32",
                  "conv2:0", "--image", "astronot", "--out", str(tmp_path / "o")], monkeypatch)
    err = capsys.readouterr().err
    assert code == 2 and "neither an image file nor a bundled photo" in err
    assert "Did you mean 'astronaut'" in err
