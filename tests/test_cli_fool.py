"""`neuronscope fool` and `neuronscope evolve`, in-process through their own subparsers
(cmd_* as the CLI calls them, errors as it reports them)."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import pytest

from neuronscope.commands import evolve as evolve_cmd
from neuronscope.commands import fool as fool_cmd
from neuronscope.core.errors import NeuronscopeError
from neuronscope.methods.evolve import Evolution
from neuronscope.methods.fooling import Fooling

NET_FILE = """
import torch
from torch import nn

def classifier():  # logit k = 10 * pixel k of a 1x2x2 image: any class can be reached
    layer = nn.Linear(4, 3)
    with torch.no_grad():
        layer.bias.zero_()
        layer.weight.copy_(10 * torch.eye(3, 4))
    return nn.Sequential(nn.Flatten(), layer)

def convnet():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 5, 3))
"""


def cli(argv: list[str]) -> tuple[int, str]:
    """(exit status, error message) as `neuronscope` would give them."""
    parser = argparse.ArgumentParser(prog="neuronscope")
    sub = parser.add_subparsers(dest="command", required=True)
    fool_cmd.add_parsers(sub)
    evolve_cmd.add_parsers(sub)
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except NeuronscopeError as err:
        return 2, str(err)
    return 0, ""


@pytest.fixture()
def net(tmp_path: Path) -> Path:
    path = tmp_path / "net.py"
    path.write_text(textwrap.dedent(NET_FILE))
    return path


@pytest.mark.parametrize(("method", "search"), [("gradient", []), ("evolution", []),
                                                ("evolution", ["--search", "genetic"])])
def test_fool_writes_images_a_result_and_a_page(net: Path, tmp_path: Path, method: str,
                                                search: list[str],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, err = cli(["fool", f"{net}:classifier", "--input-shape", "1,2,2", "--classes", "0,2",
                     "--method", method, "--target", "0.95", "--out", str(out), *search])
    assert code == 0, err
    assert "2 of 2 classes reached 95%" in capsys.readouterr().out
    fool = Fooling.load(out / "fooling.safetensors")
    assert fool.classes == [0, 2] and bool(fool.reached.all()) and fool.method == method
    assert fool.settings["search"] == (search[1] if search else "es")
    assert (out / "grid.png").stat().st_size > 100
    assert sorted(p.name for p in (out / "images").iterdir()) == ["class-0.png", "class-2.png"]
    page = (out / "index.html").read_text()
    assert "images/class-2.png" in page and "grid.png" in page and "<table>" in page


def test_fool_refuses_bad_options(net: Path, tmp_path: Path) -> None:
    base = ["fool", f"{net}:classifier", "--input-shape", "1,2,2", "--out", str(tmp_path / "o")]
    assert cli([*base, "--classes", "5"])[1].startswith("unknown class 5: give class numbers 0")
    assert "give --budget >= 20" in cli([*base, "--method", "evolution", "--budget", "5",
                                         "--search", "genetic"])[1]
    # the evolution strategy's generation: 10 antithetic pairs and their centre
    assert "give --budget >= 21" in cli([*base, "--method", "evolution", "--budget", "20"])[1]
    with pytest.raises(SystemExit):
        cli([*base, "--method", "evolution", "--search", "magic"])
    with pytest.raises(SystemExit):
        cli([*base, "--target", "1.5"])
    assert fool_cmd.class_list("0, 7,circle") == [0, 7, "circle"]


def test_evolve_writes_the_best_image_the_history_and_a_page(
        net: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "evo"
    code, err = cli(["evolve", f"{net}:convnet", "2:3", "--input-shape", "3,32,32",
                     "--budget", "200", "--repeats", "2", "--noise", "0.01", "--out", str(out)])
    assert code == 0, err
    assert "2:3: best score" in capsys.readouterr().out
    evo = Evolution.load(out / "evolution.safetensors")
    assert evo.queries == 200 and evo.generations == 5 and evo.best_image.shape == (3, 32, 32)
    assert evo.settings["repeats"] == 2 and "FourierGenome" in evo.settings["generator"]
    assert (out / "best.png").stat().st_size > 500 and (out / "history.png").stat().st_size > 5000
    page = (out / "index.html").read_text()
    assert "best.png" in page and "history.png" in page and "XDream" in page


def test_evolve_refuses_bad_units_and_budgets(net: Path, tmp_path: Path) -> None:
    base = ["evolve", f"{net}:convnet", "--input-shape", "3,16,16", "--out", str(tmp_path)]
    code, err = cli([*base[:2], "2:9", *base[2:]])
    assert code == 2 and "out of range" in err and "valid channels 0-4" in err
    code, err = cli([*base[:2], "conv9:0", *base[2:]])
    assert code == 2 and "no layer 'conv9'" in err and "Layers: 0, 1, 2" in err
    assert "give --budget >= 40" in cli([*base[:2], "0:1", *base[2:], "--budget", "30",
                                         "--repeats", "2"])[1]
    with pytest.raises(SystemExit):
        cli([*base[:2], "0:1", *base[2:], "--population", "1"])
