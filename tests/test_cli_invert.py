"""`neuronscope invert`, in-process through the command module's own parser: a model file,
a bundled photo or a dataset item in, two PNGs, the result and an index page out."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import pytest

from neuronscope.commands.invert import add_parsers
from neuronscope.core.errors import NeuronscopeError
from neuronscope.methods.invert import Inversion

NET_FILE = """
import torch
from torch import nn

def build():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3))
"""


def _run(tmp_path: Path, *argv: str) -> Path:
    (tmp_path / "net.py").write_text(textwrap.dedent(NET_FILE))
    parser = argparse.ArgumentParser()
    add_parsers(parser.add_subparsers(dest="command", required=True))
    out = tmp_path / "out"
    args = parser.parse_args(["invert", f"{tmp_path / 'net.py'}:build", *argv,
                              "--out", str(out)])
    args.func(args)
    return out


def test_invert_a_photo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _run(tmp_path, "0", "--input-shape", "3,16,16", "--image", "astronaut",
               "--steps", "300", "--lr", "0.01")
    printed = capsys.readouterr().out
    assert "correlation" in printed and "index.html" in printed
    inv = Inversion.load(out / "inversion.safetensors")
    assert inv.images.shape == (1, 3, 16, 16) and inv.settings["steps"] == 300
    assert float(inv.correlation[0]) > 0.8
    assert (out / "original.png").stat().st_size > 100
    assert (out / "reconstruction.png").stat().st_size > 100
    page = (out / "index.html").read_text()
    assert f"{float(inv.correlation[0]):.3f}" in page and "reconstruction.png" in page


def test_invert_a_dataset_item_and_refuse_bad_input(tmp_path: Path) -> None:
    out = _run(tmp_path, "2", "--input-shape", "3,64,64", "--data", "shapes", "--index", "3",
               "--steps", "3")
    inv = Inversion.load(out / "inversion.safetensors")
    assert inv.layer == "2" and inv.originals.shape == (1, 3, 64, 64)
    assert "shapes test item 3" in (out / "index.html").read_text()
    with pytest.raises(NeuronscopeError, match="neither an image file nor a bundled photo"):
        _run(tmp_path, "0", "--input-shape", "3,16,16", "--image", str(tmp_path / "no.png"))
    with pytest.raises(NeuronscopeError, match="--index 5000.*0-1999"):
        _run(tmp_path, "0", "--input-shape", "3,64,64", "--data", "shapes", "--index", "5000")
    with pytest.raises(SystemExit):  # one source, not both
        _run(tmp_path, "0", "--input-shape", "3,16,16", "--image", "astronaut", "--data",
             "shapes")
