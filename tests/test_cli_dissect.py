"""`neuronscope dissect` end to end, in-process: a model file, shapes concept data."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from neuronscope.cli import main
from neuronscope.methods.dissect import Dissection

NET_FILE = """
import torch
from torch import nn

def build():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1)
    with torch.no_grad():  # unit 0 fires on red pixels
        conv.weight[0] = 0
        conv.weight[0, :, 1, 1] = torch.tensor([20.0, -20.0, -20.0])
        conv.bias[0] = -9.0
    return nn.Sequential(conv, nn.Hardtanh(0.0, 1.0), nn.Conv2d(4, 5, 3, stride=2), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 7))
"""


def test_dissect_writes_results_pictures_and_a_report(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "net.py").write_text(textwrap.dedent(NET_FILE))
    out = tmp_path / "out"
    code = main(["dissect", f"{tmp_path / 'net.py'}:build", "--input-shape", "3,64,64",
                 "--concepts", "shapes", "--layers", "1", "3", "--limit", "100",
                 "--checkpoint", str(tmp_path / "ck"), "--device", "cpu", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert (tmp_path / "ck").is_file()  # the state, to resume from
    assert "over 100 inputs" in printed and "rotation" in printed and "report:" in printed
    first = Dissection.load(out / "dissection" / "1.safetensors")
    assert first.concepts[0] == "color:red" and first.ious[0] > 0.5 and first.n == 100
    assert first.faithfulness is not None and len(first.faithfulness) == 4
    assert sorted(p.name for p in (out / "dissection").iterdir()) == [
        "1.safetensors", "3.safetensors"]
    for control in ("control-rotation", "control-shuffled_masks"):
        assert Dissection.load(out / control / "1.safetensors").control
    assert (out / "units" / "1-0.png").stat().st_size > 1000
    page = (out / "report.html").read_text()
    assert "detectors.png" in page and "units/1-0.png" in page and "color:red" in page


def test_dissect_takes_every_convolution_by_default(tmp_path: Path) -> None:
    from neuronscope.commands.dissect import _conv_layers
    from neuronscope.core.model import load_model
    from neuronscope.data.shapes import Shapes

    (tmp_path / "net.py").write_text(textwrap.dedent(NET_FILE))
    model = load_model(f"{tmp_path / 'net.py'}:build")
    assert _conv_layers(model, Shapes("test", n=2, masks=True)) == ["0", "2"]


def test_a_report_says_what_was_not_run(tmp_path: Path) -> None:
    (tmp_path / "net.py").write_text(textwrap.dedent(NET_FILE))
    out = tmp_path / "out"
    assert main(["dissect", f"{tmp_path / 'net.py'}:build", "--input-shape", "3,32,32",
                 "--concepts", "shapes", "--layers", "1", "--limit", "30", "--no-causal",
                 "--no-controls", "--out", str(out)]) == 0
    page = (out / "report.html").read_text()
    assert "causal check was not run" in page and "No control was run" in page
    assert Dissection.load(out / "dissection" / "1.safetensors").n == 30


def test_dissect_refuses_unknown_concept_data(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "net.py").write_text(textwrap.dedent(NET_FILE))
    code = main(["dissect", f"{tmp_path / 'net.py'}:build", "--input-shape", "3,64,64",
                 "--concepts", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "unknown concept data" in err and "colors:NAME" in err
