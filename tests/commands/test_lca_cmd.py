"""The lca command: a real (short) run writes lca.safetensors and the report, resumes in
its folder, and refuses bad input with a message saying what to do."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from neuronscope.cli import Parser
from neuronscope.commands import lca
from neuronscope.core.errors import NeuronscopeError
from neuronscope.methods.lca import LCAResult
from neuronscope.render.lca_report import FIGURES, INDEX


def _parser() -> argparse.ArgumentParser:
    parser = Parser(prog="neuronscope")
    lca.add_parsers(parser.add_subparsers(dest="command", required=True))
    return parser


def _run(argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    args.func(args)


QUICK = ["--epochs", "1", "--eval-size", "64", "--no-progress"]


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lca")
    _run(["lca", "digits-mlp", *QUICK, "--out", str(out)])
    return out


def test_run_writes_a_result_and_its_report(done: Path) -> None:
    res = LCAResult.load(done / "lca.safetensors")
    assert res.n_steps > 0 and res.layers == ["fc1", "fc2", "fc3"]
    assert res.settings["model"] == "digits-mlp" and res.settings["recipe"]["epochs"] == 1
    html = (done / INDEX).read_text()
    for name in FIGURES:
        assert (done / name).stat().st_size > 5000 and name in html
    assert "fc1.weight: cumulative allocation" in html  # drawn as images: the spec's 1x8x8


def test_summary_printed(done: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _run(["lca", "zoo:digits-mlp", *QUICK, "--out", str(done)])  # finished: only redrawn
    text = capsys.readouterr().out
    res = LCAResult.load(done / "lca.safetensors")
    assert f"mean fraction of parameters helping: {float(res.helping.mean()):.3f}" in text
    assert "went backwards" in text and "median relative error" in text
    assert f"report: {done / INDEX}" in text and "nan" not in text


def test_other_settings_in_the_same_folder_are_refused(done: Path) -> None:
    with pytest.raises(NeuronscopeError, match="other settings"):
        _run(["lca", "digits-mlp", *QUICK, "--lr", "0.5", "--out", str(done)])


@pytest.mark.parametrize(("argv", "message"), [
    (["nope"], "no built-in model 'nope'"),
    (["digits-mpl"], "Did you mean 'digits-mlp'"),
    (["efficientnet-lite0"], "no training recipe"),
    (["mine.py:build"], "give --data"),
    (["digits-mlp", "--data", "digits"], "--data is for a model of your own"),
    (["digits-mlp", "--momentum", "0.9"], "--optimizer sgd"),
])
def test_bad_models_and_options(argv: list[str], message: str, tmp_path: Path) -> None:
    with pytest.raises(NeuronscopeError, match=message):
        _run(["lca", *argv, "--epochs", "1", "--out", str(tmp_path / "x")])
    assert not (tmp_path / "x").exists()  # refused before any work


@pytest.mark.parametrize("argv", [["--epochs", "0"], ["--epochs", "1", "--momentum", "1.5"],
                                  ["--epochs", "1", "--lr", "-1"], []])
def test_bad_numbers_exit_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    with pytest.raises(SystemExit) as exit_:
        _parser().parse_args(["lca", "digits-mlp", *argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("expected" in err or "--epochs" in err)


def test_help_says_how_to_resume() -> None:
    text = " ".join(_parser()._subparsers._group_actions[0].choices["lca"].format_help().split())
    assert "resumes" in text and "--out" in text and "ns.LCA" in text


def test_registered_in_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from neuronscope import cli

    if "lca" not in cli.build_parser()._subparsers._group_actions[0].choices:
        pytest.skip("`lca` is not yet registered in cli.py")
    assert cli.main(["lca", "nope", "--epochs", "1", "--out", str(tmp_path)]) == 2
    assert "no built-in model 'nope'" in capsys.readouterr().err


NET = """
import torch.nn as nn


def build():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10))
"""


def test_a_model_of_your_own_trains_on_its_data(tmp_path: Path) -> None:
    (tmp_path / "net.py").write_text(NET)
    out = tmp_path / "own"
    _run(["lca", f"{tmp_path / 'net.py'}:build", "--data", "digits", "--input-shape", "1,8,8",
          "--epochs", "1", "--batch-size", "64", "--lr", "0.1", "--no-progress",
          "--out", str(out)])
    res = LCAResult.load(out / "lca.safetensors")
    assert res.settings["model"] == "Sequential" and res.layers == ["1", "3"]
    assert res.settings["recipe"]["lr"] == 0.1 and res.n_steps == res.settings["recipe"][
        "n_train"] // 64 + 1
    assert float(res.relative_error.median()) < 0.01
    assert (out / INDEX).is_file()
