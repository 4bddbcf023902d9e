"""The docstrings dataset: windows of a model's tokens over the stdlib's prose."""

from __future__ import annotations

import pytest
import torch

import neuronscope as ns
from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.spec import InputSpec
from neuronscope.data.docstrings import Docstrings, docstrings

CHARS = InputSpec(shape=(32,), kind="text", vocab="".join(map(chr, range(32, 127))) + "\n\ufffd")


def test_windows_of_characters_cover_the_prose_without_padding() -> None:
    ds = Docstrings("test", spec=CHARS, seq_len=32, max_chars=5_000)
    text = docstrings("test", 5_000)
    assert len(ds) == len(text) // 32 and ds[0].shape == (32,) and ds[0].dtype == torch.long
    assert ds.text(0) + ds.text(1) == text[:64].translate(
        {ord(c): "\ufffd" for c in set(text[:64]) if c not in CHARS.vocab})


def test_windows_are_as_long_as_a_character_models_input_by_default() -> None:
    assert Docstrings("test", spec=CHARS, max_chars=2_000).seq_len == 32  # the spec's
    lm = ns.zoo.load("minilm")  # reads up to 256 tokens: a shorter default
    assert ns.datasets.load("docstrings", split="test", model=lm, max_chars=2_000).seq_len == 64


def test_a_wordpiece_model_gets_framed_windows_it_reads_whole() -> None:
    lm = ns.zoo.load("minilm")
    ds = ns.datasets.load("docstrings", split="test", model=lm, seq_len=16, max_chars=3_000)
    x = ds.tensors()
    assert x.shape[1] == 16 and bool((x[:, 0] == 101).all()) and bool((x[:, -1] == 102).all())
    assert not bool((x == 0).any())  # no [PAD]
    assert lm(x[:2]).shape == (2, 384)


def test_without_a_model_it_says_how_to_load_it() -> None:
    with pytest.raises(NeuronscopeError, match="model=model"):
        ns.datasets.load("docstrings", split="test")
    with pytest.raises(ValueError, match="seq_len must be in 3..256"):
        ns.datasets.load("docstrings", split="test", model=ns.zoo.load("minilm"), seq_len=999)
