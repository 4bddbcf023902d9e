"""The feature-visualization section of a spectrogram model: its synthetic spectrograms
drawn by the audio kind (coloured, low bands at the bottom), each with a WAV clip that the
unit page plays under it."""

from __future__ import annotations

import io
import json
import wave
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image
from torch import nn
from torch.utils.data import TensorDataset

from neuronscope.atlas.build import build_atlas
from neuronscope.atlas.schedule import model_unmet
from neuronscope.core.spec import InputSpec, attach_spec
from neuronscope.web.app import create_app

BANDS, FRAMES, HOP = 16, 20, 64


def spec() -> InputSpec:
    edges = torch.linspace(50.0, 3900.0, BANDS + 2).tolist()
    return InputSpec(shape=(1, BANDS, FRAMES), kind="audio", extra={
        "sample_rate": 8000, "n_fft": 256, "hop": HOP, "band_edges": edges, "db_floor": -80.0})


def unit_page(atlas: Path, layer: str, unit: int) -> str:
    got = TestClient(create_app(atlas), base_url="http://127.0.0.1").get(
        f"/layer/{layer}/unit/{unit}")
    assert got.status_code == 200, got.text
    return got.text


@pytest.fixture(scope="module")
def atlas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    net = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 3, 3, padding=1)), ("relu1", nn.ReLU()),
        ("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(3, 2))]))
    model = attach_spec(net.eval(), spec())
    data = TensorDataset(torch.rand(6, 1, BANDS, FRAMES), torch.arange(6) % 2)
    out = tmp_path_factory.mktemp("fvaudio")
    build_atlas(model, data, str(out), layers=["conv1"], sections=("featvis",), steps=8,
                n_starts=1, unit_batch=8, progress=False)
    return out


def test_the_spectrograms_are_drawn_and_kept_with_their_clips(atlas: Path) -> None:
    manifest = json.loads((atlas / "manifest.json").read_text())
    assert "skipped" not in manifest["layers"]["conv1"]["featvis"]
    units = json.loads((atlas / "units/conv1/featvis.json").read_text())
    assert units["media"] == {"suffix": "wav", "element": "audio", "mime": "audio/wav"}
    for tag in ("pos0", "neg"):
        png = atlas / f"featvis/conv1/unit-0001-{tag}.png"
        with Image.open(png) as image:
            assert image.mode == "RGB" and image.width >= 96  # coloured, scaled up
            assert image.size == (FRAMES * 5, BANDS * 5)
        with wave.open(io.BytesIO((atlas / f"featvis/conv1/unit-0001-{tag}.wav")
                                  .read_bytes())) as clip:
            assert clip.getframerate() == 8000 and clip.getnchannels() == 1
            assert clip.getnframes() == HOP * (FRAMES - 1)
            assert any(clip.readframes(clip.getnframes()))  # not silence


def test_the_unit_page_plays_each_synthetic_spectrogram(atlas: Path) -> None:
    page = unit_page(atlas, "conv1", 1)
    section = page[page.index("<h2>Feature visualization</h2>"):]
    assert section.count("<audio controls") == 2  # one start and the negative
    assert "unit-0001-pos0.wav" in section and "unit-0001-neg.wav" in section
    assert "Griffin-Lim" in section


def test_the_section_needs_images_or_spectrograms() -> None:
    assert model_unmet("image_or_spectrogram", spec()) is None
    assert model_unmet("image_or_spectrogram", InputSpec(shape=(3, 8, 8))) is None
    text = model_unmet("image_or_spectrogram", InputSpec(shape=(8,), kind="text"))
    assert text == "the model reads text: this section needs image or spectrogram input " \
        "[C, H, W]"
    assert "shape [8000]" in model_unmet("image_or_spectrogram",
                                         InputSpec(shape=(8000,), kind="audio"))
    assert model_unmet("image_model", spec()) is not None  # dream, inversion: images only


def test_the_model_page_speaks_of_bands_frames_and_sounds(atlas: Path) -> None:
    got = TestClient(create_app(atlas), base_url="http://127.0.0.1").get("/")
    assert got.status_code == 200
    assert "3 bands x 3 frames" in got.text and "response to a sound" in got.text
    assert " px" not in got.text


def test_the_model_page_of_an_stft_bin_model_speaks_of_frequency_bins(tmp_path: Path) -> None:
    bins = InputSpec(shape=(1, 33, 11), kind="audio", extra={"sample_rate": 8000, "n_fft": 64,
                                                            "hop": 16})  # no band_edges
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3), nn.Flatten())
    data = TensorDataset(torch.rand(4, 1, 33, 11))
    build_atlas(attach_spec(net.eval(), bins), data, str(tmp_path), layers=["2"],
                sections=("ablation",), progress=False)
    got = TestClient(create_app(tmp_path), base_url="http://127.0.0.1").get("/").text
    assert "5 frequency bins x 5 frames" in got and "bands" not in got
    # the section it could not compute, with the reason, on the model page
    assert "<details id='not-computed'>" in got and "<b>ablation</b> (2): the data has no " \
        "labels" in got
