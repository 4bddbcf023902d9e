"""The waveform kind: a raw-waveform model's inputs [C, N] drawn as display spectrograms
and played as WAV clips of the input itself, through the atlas with no special case."""

from __future__ import annotations

import io
import json
import wave
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image
from torch import nn
from torch.utils.data import TensorDataset

from neuronscope.atlas.build import build_atlas
from neuronscope.core.spec import InputSpec, attach_spec
from neuronscope.render.kinds import field_size, kind_for
from neuronscope.render.kinds.waveform import WaveformKind, display_spectrogram
from neuronscope.render.weights import filter_grid
from neuronscope.web.app import create_app

RATE, N = 8000, 2000
SPEC = InputSpec(shape=(1, N), kind="audio", value_range=(-1.0, 1.0),
                 class_names=["low", "high"], extra={"sample_rate": RATE})


def sounds() -> TensorDataset:
    t = torch.arange(N) / RATE
    x = torch.stack([0.5 * torch.sin(2 * torch.pi * (300 + 150 * i) * t)[None]
                     for i in range(16)])
    data = TensorDataset(x, (torch.arange(16) >= 8).long())
    data.spec = SPEC  # type: ignore[attr-defined]
    return data


def net() -> nn.Module:
    torch.manual_seed(0)
    return attach_spec(nn.Sequential(OrderedDict([
        ("conv1", nn.Conv1d(1, 4, 32, stride=8)), ("relu1", nn.ReLU()),
        ("pool", nn.AdaptiveAvgPool1d(1)), ("flatten", nn.Flatten()),
        ("fc", nn.Linear(4, 2))])).eval(), SPEC)


def test_a_waveform_is_drawn_by_its_spectrogram_and_named_in_samples() -> None:
    x = sounds()[10][0]
    assert kind_for(SPEC, x).name == "waveform"
    s = display_spectrogram(x, SPEC)
    hz = 300 + 150 * 10
    assert int(s[0].mean(1).argmax()) == round(hz / RATE * 128)  # the tone's own bin
    assert float(s.min()) >= 0 and float(s.max()) == 1.0
    assert field_size([32], "audio", SPEC) == "32 samples (4 ms)"
    assert (field_size([1]), field_size([5])) == ("1 step", "5 steps")  # any other kind
    assert filter_grid(torch.randn(4, 1, 32), scale=2).size == (66, 13)  # a row per filter


def test_the_atlas_of_a_waveform_model_shows_and_plays_its_examples(tmp_path: Path) -> None:
    build_atlas(net(), sounds(), str(tmp_path), layers=["conv1"], sections=("examples",),
                k=3, progress=False)
    units = json.loads((tmp_path / "units/conv1/examples.json").read_text())
    assert units["picture"] == "png"
    first = units["units"][0]
    clips = [m["file"] for m in first["media"]["top"]]
    assert clips == [f"examples/items/item-{i:06d}.wav" for i in first["top"]]
    with wave.open(io.BytesIO((tmp_path / clips[0]).read_bytes())) as w:
        assert (w.getframerate(), w.getnframes()) == (RATE, N)
        played = np.frombuffer(w.readframes(N), "<i2") / 32767
    source = sounds()[first["top"][0]][0][0].numpy()
    assert np.abs(played - source).max() < 1e-3  # the input itself, not a reconstruction
    picture = Image.open(tmp_path / "examples/conv1/unit-0000-top.png")
    assert picture.width >= 3 * 96  # wide enough for a player under each
    plain = WaveformKind().samples([sounds()[i][0] for i in first["top"]], SPEC)
    assert picture.height > plain.height  # with the strip of the unit's value over time
    client = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    page = client.get("/layer/conv1/unit/0").text
    assert "the strip under each is the unit" in page and "value over time" in page
    assert "statistics only" not in page and page.count("<audio controls") == 3 + 3 + len(
        first["media"].get("random", []))
    assert "32 samples (4 ms)" in client.get("/").text


@pytest.mark.parametrize("bad", [torch.zeros(3, 8, 8), torch.zeros(5, dtype=torch.long)])
def test_other_inputs_are_not_waveforms(bad: torch.Tensor) -> None:
    found = kind_for(SPEC, bad)
    assert found is None or found.name != "waveform"
