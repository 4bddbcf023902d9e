"""The tones dataset: generated sound clips as log-mel spectrograms, with waveforms and
per-clip metadata."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from neuronscope import data
from neuronscope.core.spec import InputSpec
from neuronscope.data.tones import (
    CLASSES,
    N_FRAMES,
    N_MELS,
    N_SAMPLES,
    SAMPLE_RATE,
    Tones,
    band_edges,
    log_mel,
    synthesize,
)


@pytest.fixture(scope="module")
def test12() -> Tones:
    return data.load("tones", split="test", n=12)


def test_registered_and_shaped(test12: Tones) -> None:
    assert "tones" in data.names()
    assert len(test12) == 12 and test12.classes == CLASSES
    x, label = test12[0]
    assert x.shape == (1, N_MELS, N_FRAMES) == test12.spec.shape and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert isinstance(label, int) and test12.spec.kind == "audio"
    X, y = test12.tensors()
    assert X.shape == (12, 1, 64, 63) and y.tolist() == [i % 6 for i in range(12)]
    assert np.bincount(y.numpy()).tolist() == [2] * 6
    assert InputSpec.from_json(test12.spec.to_json()) == test12.spec  # plain JSON, for caches


def test_deterministic_and_item_independent(test12: Tones) -> None:
    again = Tones("test", n=12)
    assert torch.equal(again.inputs, test12.inputs)
    fewer = Tones("test", n=5)  # an item does not depend on how many are made
    assert torch.equal(fewer.inputs, test12.inputs[:5])
    assert torch.equal(fewer.waveform(3), test12.waveform(3))
    assert not torch.equal(Tones("test", n=12, seed=1).inputs, test12.inputs)
    train = Tones("train", n=12)
    assert not torch.equal(train.inputs, test12.inputs)  # streams differ
    both = Tones("all", n=15)  # 12 train + 3 test
    assert len(both) == 15 and torch.equal(both.inputs[:12], train.inputs)
    assert torch.equal(both.inputs[12:], test12.inputs[:3])


def test_metadata_agrees_with_the_labels() -> None:
    ds = Tones("train", n=60)
    for i in range(len(ds)):
        m, label = ds.meta(i), ds[i][1]
        assert m["label"] == label and m["class"] == CLASSES[label]
        assert m["vibrato"] == (m["class"] == "vibrato")
        assert m["percussive"] == bool(m["drums"]) == bool(m["hits"])
        if m["class"] == "percussion":
            assert m["percussive"] and m["n_notes"] == 0 and m["pitch"] == 0.0
        if m["class"] == "silence":
            assert not m["percussive"] and m["n_notes"] == 0
        if m["class"] in ("sine", "harmonic", "vibrato"):
            assert m["n_notes"] == 1 and 190 < m["pitch"] < 1100
        if m["class"] == "chord":
            assert m["n_notes"] >= 2
        if m["class"] == "sine":
            assert m["timbre"] == "sine"
        if m["class"] == "harmonic":
            assert m["timbre"] != "sine"
    assert ds.column("vibrato").dtype == bool and ds.column("vibrato").sum() == 10
    assert ds.column("percussive").sum() > 10  # drums under some notes too
    with pytest.raises(KeyError, match="no metadata key 'loudness'.*vibrato"):
        ds.column("loudness")


def test_waveform_gives_the_input(test12: Tones) -> None:
    for i in (0, 2, 4):
        w = test12.waveform(i)
        assert w.shape == (N_SAMPLES,) and w.dtype == torch.float32
        assert float(w.abs().max()) <= 0.99 + 1e-6
        assert torch.allclose(log_mel(w), test12[i][0], atol=2e-3)
    silence = test12.waveform(5)
    assert float(silence.abs().max()) < 0.1


def test_log_mel_puts_a_tone_in_its_band() -> None:
    t = torch.arange(N_SAMPLES, dtype=torch.float64) / SAMPLE_RATE
    x = log_mel(0.5 * torch.sin(2 * math.pi * 440 * t))
    band = int(x[0, :, 30].argmax())
    edges = band_edges()
    assert edges[band] < 440 < edges[band + 2]
    assert x.shape == (1, 64, 63)
    batch = log_mel(torch.stack([0.5 * torch.sin(2 * math.pi * 440 * t), torch.zeros_like(t)]))
    assert batch.shape == (2, 1, 64, 63) and torch.allclose(batch[0], x, atol=1e-6)
    assert float(batch[1].max()) == 0.0  # silence: the floor
    with pytest.raises(ValueError, match="1 s at 8000 Hz"):
        log_mel(torch.zeros(100))


def test_synthesize_stays_in_range() -> None:
    for label in range(len(CLASSES)):
        wave, meta = synthesize(np.random.default_rng(label), label)
        assert wave.shape == (N_SAMPLES,) and np.abs(wave).max() <= 0.99 + 1e-9
        assert meta["class"] == CLASSES[label]


def test_empty_split_and_bad_arguments() -> None:
    empty = Tones("test", n=0)
    assert len(empty) == 0 and empty.tensors()[0].shape == (0, 1, 64, 63)
    with pytest.raises(ValueError, match="non-negative"):
        Tones("test", n=-1)
    with pytest.raises(ValueError, match="valid splits"):
        data.load("tones", split="val")
    with pytest.raises(IndexError, match="out of range"):
        Tones("test", n=2)[5]


def test_no_torchaudio_needed() -> None:
    code = ("import sys, neuronscope as ns; ns.datasets.load('tones', split='test', n=2); "
            "print('torchaudio' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
