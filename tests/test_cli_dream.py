"""`neuronscope dream` in-process, through its own parser: a model file, a bundled photo
or an image file, at the image's own size."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from neuronscope.commands.dream import add_parsers
from neuronscope.core.errors import NeuronscopeError
from neuronscope.methods.deepdream import Dream

ROOT = Path(__file__).parents[1]
MODEL = f"{ROOT / 'tests/web/atlas_job.py'}:tiny_model"  # 3x16x16, conv1 .. fc


def run(*argv: str) -> None:
    parser = argparse.ArgumentParser(prog="neuronscope")
    add_parsers(parser.add_subparsers())
    args = parser.parse_args(["dream", *argv])
    args.func(args)


def test_dream_of_a_photo_writes_the_pictures_the_result_and_a_page(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    run(MODEL, "conv2", "--image", "chelsea", "--max-side", "60", "--octaves", "2",
        "--steps", "2", "--out", str(out))
    assert "-> " in capsys.readouterr().out
    for name in ("source.png", "dream.png"):
        assert Image.open(out / name).size == (60, 40)  # the photo's shape, not 16x16
    dream = Dream.load(out / "dream.safetensors")
    assert dream.target == "conv2" and dream.settings["octaves"] == 2
    page = (out / "index.html").read_text()
    assert 'src="dream.png"' in page and 'src="source.png"' in page and "40x60" in page


def test_dream_of_an_image_file_and_of_a_unit(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (24, 20, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "in.png")
    run(MODEL, "conv1:2", "--image", str(tmp_path / "in.png"), "--octaves", "1", "--steps",
        "1", "--out", str(tmp_path / "out"))
    assert Image.open(tmp_path / "out" / "dream.png").size == (20, 24)


def test_bad_arguments_say_what_would_be_right(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(NeuronscopeError,
                       match="neither an image file nor a bundled photo.*chelsea"):
        run(MODEL, "conv2", "--image", "no-such-photo", "--out", str(tmp_path))
    with pytest.raises(NeuronscopeError, match="no spatial map"):
        run(MODEL, "fc", "--image", "chelsea", "--out", str(tmp_path))
    with pytest.raises(SystemExit):
        run(MODEL, "conv2", "--image", "chelsea", "--octave-scale", "1")
    assert "above 1" in capsys.readouterr().err
