"""A user's folder of WAV files as an audio model's data (``folder:PATH`` with a model
whose InputSpec has kind "audio"): classes from subfolders, each file cut to the model's
clip and made into its spectrogram, in its value range; the CLI's atlas on it."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from neuronscope import data
from neuronscope.cli import main
from neuronscope.core.audio import settings, spectrogram
from neuronscope.data.sound_folder import SoundFolder, SoundFolderError
from neuronscope.data.tones import tones_spec
from neuronscope.render.sound import wav_bytes

NET_FILE = """
from collections import OrderedDict
import torch
from torch import nn
from neuronscope.core.spec import attach_spec
from neuronscope.data.tones import tones_spec

def build():
    torch.manual_seed(0)
    net = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 4, 3, padding=1)), ("relu1", nn.ReLU()),
        ("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(4, 2))]))
    return attach_spec(net, tones_spec())
"""


def tone(freq: float, seconds: float, rate: int) -> torch.Tensor:
    t = torch.arange(int(seconds * rate)) / rate
    return 0.4 * torch.sin(2 * torch.pi * freq * t)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "sounds"
    for name, freq in (("high", 1500.0), ("low", 300.0)):
        (root / name).mkdir(parents=True)
        for k in range(5):  # other rates and lengths than the model's 1 s at 8 kHz
            rate = (16000, 8000, 22050)[k % 3]
            (root / name / f"{k}.wav").write_bytes(wav_bytes(tone(freq + 10 * k, 0.4 + 0.5 * k,
                                                                  rate), rate))
    (root / ".hidden").mkdir()
    (root / "notes.txt").write_text("not a sound")
    return root


def test_a_folder_of_wavs_is_read_as_the_model_hears_sounds(folder: Path) -> None:
    spec = tones_spec()
    ds = data.load(f"folder:{folder}", model=spec)
    assert isinstance(ds, SoundFolder) and ds.classes == ["high", "low"] and len(ds) == 10
    x, label = ds[6]
    assert x.shape == spec.shape and label == 1 and ds.spec.class_names == ["high", "low"]
    clip = ds.waveform(6)
    assert len(clip) == settings(spec)["n_samples"] == 8000
    assert torch.allclose(x, spectrogram(clip, spec), atol=1e-6)
    band = int(x[0].mean(1).argmax())  # the low class's loudest band is a low one
    assert band < int(ds[0][0][0].mean(1).argmax())
    assert [len(SoundFolder(folder, spec, split)) for split in ("train", "test")] == [8, 2]


def test_a_decibel_model_gets_its_own_value_range(folder: Path) -> None:
    spec = dataclasses.replace(tones_spec(), value_range=(-80.0, 0.0))
    x, _ = SoundFolder(folder, spec)[0]
    unit, _ = SoundFolder(folder, tones_spec())[0]
    assert float(x.min()) >= -80.0 and float(x.max()) <= 0.0
    assert torch.allclose(x, -80.0 + 80.0 * unit, atol=1e-4)


def test_subfolders_named_by_the_model_classes_get_its_class_indices(folder: Path) -> None:
    spec = dataclasses.replace(tones_spec(), class_names=["silence", "low", "high"])
    ds = SoundFolder(folder, spec)
    assert ds.classes == ["silence", "low", "high"] and ds.spec.class_names == ds.classes
    assert [ds.classes[int(label)] for label in ds.labels] == [f.parent.name for f in ds.files]
    assert SoundFolder(folder, tones_spec()).classes == ["high", "low"]  # others: sorted
    one = folder.parent / "one"
    (one / "low").mkdir(parents=True)
    (one / "low" / "a.wav").write_bytes((folder / "low" / "0.wav").read_bytes())
    alone = SoundFolder(one, spec)  # a single class of the model's: still its index
    assert alone.classes == spec.class_names and alone.labels.tolist() == [1]


def test_a_folder_with_a_class_the_model_lacks_says_labels_are_its_own(
        folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    spec = dataclasses.replace(tones_spec(), class_names=["silence", "low", "high"])
    (folder / "chirp").mkdir()
    (folder / "chirp" / "a.wav").write_bytes((folder / "low" / "0.wav").read_bytes())
    with caplog.at_level(logging.WARNING):
        ds = SoundFolder(folder, spec)
    assert ds.classes == ["chirp", "high", "low"]  # its own, sorted: said, not silent
    assert "but 'chirp' is not" in caplog.text and "'high' is 1 here, 2 for the model" in \
        caplog.text, caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        SoundFolder(folder, tones_spec())  # no class of the model's among them: no warning
    assert "model's classes" not in caplog.text


def test_a_waveform_model_gets_the_clip_itself(folder: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    from neuronscope.core.spec import InputSpec

    spec = InputSpec((1, 4000), kind="audio", value_range=(-1.0, 1.0),
                     extra={"sample_rate": 8000})
    ds = data.load(f"folder:{folder}", model=spec)
    x, label = ds[3]
    assert x.shape == (1, 4000) and torch.allclose(x[0], ds.waveform(3), atol=1e-6)
    assert float(x.abs().max()) > 0.3  # the loudest half second of a 0.4-amplitude tone
    with caplog.at_level(logging.WARNING):
        unit, _ = SoundFolder(folder, dataclasses.replace(spec, value_range=(0.0, 1.0)))[3]
    assert torch.allclose(unit, (x + 1) / 2, atol=1e-6) and "default value range" in caplog.text
    with pytest.raises(SoundFolderError, match="sample_rate"):
        SoundFolder(folder, InputSpec((1, 4000), kind="audio"))


def test_a_normalized_stereo_model_gets_its_own_input(folder: Path) -> None:
    spec = dataclasses.replace(tones_spec(), shape=(2, 64, 63), mean=(0.1, 0.2), std=(0.5, 0.25))
    x, _ = SoundFolder(folder, spec)[0]
    unit, _ = SoundFolder(folder, tones_spec())[0]
    assert x.shape == (2, 64, 63)
    assert torch.allclose(x[0], (unit[0] - 0.1) / 0.5, atol=1e-5)
    assert torch.allclose(x[1], (unit[0] - 0.2) / 0.25, atol=1e-5)


def test_bad_folders_and_files_are_named(folder: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SoundFolderError, match="no .wav files"):
        SoundFolder(empty, tones_spec())
    (folder / "low" / "9.wav").write_bytes(b"\x89PNG\r\n not a sound")
    ds = SoundFolder(folder, tones_spec())
    bad = [i for i, f in enumerate(ds.files) if f.name == "9.wav"][0]
    with pytest.raises(SoundFolderError, match=r"9\.wav' cannot be read: .*PNG"):
        ds[bad]
    with pytest.raises(SoundFolderError, match="lack sample_rate"):
        SoundFolder(folder, dataclasses.replace(tones_spec(), extra={}))


def test_a_file_cut_short_is_read_as_far_as_it_goes_with_a_warning(
        folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    whole = wav_bytes(tone(440.0, 1.0, 8000), 8000)
    (folder / "low" / "cut.wav").write_bytes(whole[:44 + 8000])  # 0.5 s of its 1 s
    ds = SoundFolder(folder, tones_spec())
    cut = [i for i, f in enumerate(ds.files) if f.name == "cut.wav"][0]
    with caplog.at_level(logging.WARNING, logger="neuronscope.data.sound_folder"):
        clip = ds.waveform(cut)
    assert "cut.wav is cut short: its header promises 1.00 s, it holds 0.50 s" in caplog.text
    assert float(clip[:4000].abs().max()) > 0.3 and float(clip[4000:].abs().max()) == 0.0


def test_the_atlas_command_takes_a_folder_of_sounds(folder: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    net = tmp_path / "snd.py"
    net.write_text(textwrap.dedent(NET_FILE))
    out = tmp_path / "atlas"
    assert main(["atlas", f"{net}:build", "--data", f"folder:{folder}",  # split: all of it
                 "--sections", "examples,ablation", "--k", "2", "--out", str(out)]) == 0
    said = capsys.readouterr().out  # lesions: the folder's classes are not the model's
    assert "not computed: ablation (conv1, fc): the data's labels are its own 2 classes " \
        "('high', 'low'), not the model's 6" in said, said
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["data"]["n"] == 10 and "skipped" not in manifest["layers"]["conv1"]["examples"]
    assert manifest["data"]["name"].endswith(":all")
    clips = sorted((out / "examples" / "items").glob("*.wav"))  # the files' own clips
    assert clips and clips[0].read_bytes()[:4] == b"RIFF"
    assert np.isfinite(np.frombuffer(clips[0].read_bytes()[44:], "<i2")).all()
    units = json.loads((out / "units" / "conv1" / "examples.json").read_text())["units"]
    titles = [m["title"] for m in units[0]["media"]["top"]]  # each file and its folder's class
    found = [re.fullmatch(r"(high|low)/\d\.wav \((high|low)\)", t) for t in titles]
    assert len(titles) == 2 and all(f and f[1] == f[2] for f in found), titles


PLUGIN = """
import torch
from torch.utils.data import TensorDataset
import neuronscope as ns
from neuronscope.data.tones import tones_spec

def sounds(split="test", **kwargs):
    data = TensorDataset(torch.rand(6, *tones_spec().shape), torch.arange(6) % 2)
    data.spec = tones_spec()
    return data

ns.datasets.register("my-sounds", sounds)
"""


def test_the_examples_command_takes_a_plugin_that_registers_the_data(tmp_path: Path) -> None:
    net, plugin = tmp_path / "snd.py", tmp_path / "mine.py"
    net.write_text(textwrap.dedent(NET_FILE))
    plugin.write_text(textwrap.dedent(PLUGIN))
    out = tmp_path / "ex"
    assert main(["examples", f"{net}:build", "--plugin", str(plugin), "--data", "my-sounds",
                 "--layer", "conv1", "--k", "2", "--out", str(out)]) == 0
    assert any(out.rglob("*.png"))
