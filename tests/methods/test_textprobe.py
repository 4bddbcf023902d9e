"""The live text probe (`neuronscope.methods.textprobe`): a tiny char LSTM (values against
a direct recording, unknown characters, bad text and addresses) and the real MiniLM
(special tokens, [UNK], long text read in windows)."""

from __future__ import annotations

import tempfile

import pytest
import torch
from torch import nn

import neuronscope as ns
from neuronscope.core.errors import AddressError, NeuronscopeError
from neuronscope.core.spec import InputSpec, attach_spec
from neuronscope.core.text import TextInputError, codec_for
from neuronscope.methods.textprobe import (
    CODE_SAMPLE,
    MAX_CHARS,
    PROSE_SAMPLE,
    TextProbe,
    TextTooLongError,
    probe_text,
    sample_text,
    text_layers,
)
from neuronscope.zoo.charlm import char_lstm

VOCAB = "abcdefghijklmnopqrstuvwxyz ():=\n\ufffd"


@pytest.fixture(scope="module")
def lstm() -> nn.Module:
    torch.manual_seed(0)
    return attach_spec(char_lstm(len(VOCAB), embed=6, hidden=10).eval(),
                       InputSpec(shape=(16,), kind="text", vocab=VOCAB))


@pytest.fixture(scope="module")
def minilm() -> nn.Module:
    return ns.zoo.load("minilm")


def direct(model: nn.Module, ids: list[int], layer: str) -> torch.Tensor:
    with torch.no_grad(), ns.record(model, [layer]) as rec:
        model(torch.tensor([ids]))
    return rec[layer][0]


def test_values_are_the_layers_own(lstm: nn.Module) -> None:
    text = "def f(x):\n  return x\n"
    res = probe_text(lstm, text, "lstm.c", unit=3)
    ids = [VOCAB.index(c) for c in text]
    assert res.pieces == list(text) and res.special == [False] * len(text)
    assert torch.allclose(res.values, direct(lstm, ids, "lstm.c")[:, 3])
    every = probe_text(lstm, text, "lstm.h")
    assert every.values.shape == (len(text), 10) and every.unit is None
    assert torch.allclose(every.values, direct(lstm, ids, "lstm.h"))
    assert torch.equal(probe_text(lstm, text, "lstm.c:3").values, res.values)
    assert res.notes == [] and res.unknown == [] and res.unit_name == "character"
    assert res.vmax == pytest.approx(float(res.values.abs().max()))


def test_unknown_characters_are_named_not_refused(lstm: nn.Module) -> None:
    res = probe_text(lstm, "ab€c!a", "lstm.c", unit=0)
    assert res.unknown == ["!", "€"]
    assert res.pieces == ["a", "b", "\ufffd", "c", "\ufffd", "a"]
    assert len(res.notes) == 1 and "'€' (U+20AC)" in res.notes[0] and "U+FFFD" in res.notes[0]


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text_asks_for_some(lstm: nn.Module, text: str) -> None:
    with pytest.raises(TextInputError, match="type some text"):
        probe_text(lstm, text, "lstm.c", unit=0)


def test_long_text_is_refused_with_the_limit_and_what_to_use(lstm: nn.Module) -> None:
    with pytest.raises(TextTooLongError, match=r"20,001 characters.*20,000.*explain_cells"):
        probe_text(lstm, "a" * (MAX_CHARS + 1), "lstm.c", unit=0)
    assert probe_text(lstm, "ab" * 50, "lstm.c", unit=0, max_chars=100).values.shape == (100,)
    with pytest.raises(TextInputError, match="takes a str"):
        probe_text(lstm, b"ab", "lstm.c", unit=0)  # type: ignore[arg-type]


def test_bad_addresses_say_what_would_be_right(lstm: nn.Module) -> None:
    with pytest.raises(ns.LayerNotFoundError, match="lstm.c"):
        probe_text(lstm, "ab", "lstm.cc", unit=0)
    with pytest.raises(ns.UnitOutOfRangeError, match="0-9"):
        probe_text(lstm, "ab", "lstm.c", unit=10)
    with pytest.raises(AddressError, match="negative"):
        probe_text(lstm, "ab", "lstm.c", unit=-1)
    with pytest.raises(AddressError, match="two units"):
        probe_text(lstm, "ab", "lstm.c:2", unit=3)
    with pytest.raises(AddressError, match="position"):
        probe_text(lstm, "ab", "lstm.c:2@1")


def test_text_layers_and_models_that_are_not_text(lstm: nn.Module) -> None:
    names = [i.name for i in text_layers(lstm)]
    assert {"embed", "lstm.c", "lstm.h", "decoder"} <= set(names)
    image = attach_spec(nn.Sequential(nn.Conv2d(3, 2, 3)), InputSpec(shape=(3, 8, 8)))
    with pytest.raises(NeuronscopeError, match="needs a text model"):
        probe_text(image, "ab", "0", unit=0)


class CharConv(nn.Module):
    """Character ids [B, T] -> a same-length Conv1d over the embeddings: [B, units, T];
    as many units as the probe's short check has tokens, so only the unit axis tells."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(len(VOCAB), 4)
        self.conv = nn.Conv1d(4, 7, 3, padding=1)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.conv(self.embed(ids).transpose(1, 2))


def test_a_convolution_over_characters_shades_by_its_channels() -> None:
    torch.manual_seed(0)
    conv = attach_spec(CharConv().eval(), InputSpec(shape=(16,), kind="text", vocab=VOCAB))
    assert "conv" in [i.name for i in text_layers(conv)]
    text = "def f(x):\n  return x\n"
    res = probe_text(conv, text, "conv", unit=2)
    ids = [VOCAB.index(c) for c in text]
    out = direct(conv, ids, "conv")  # [units, T]
    assert res.values.shape == (len(text),)
    assert torch.allclose(res.values, out[2])  # channel 2 along the text, not token 2


def test_saved_and_loaded(lstm: nn.Module) -> None:
    res = probe_text(lstm, "ab!", "lstm.c", unit=1)
    back = TextProbe.load(res.save(tempfile.mkdtemp() + "/p.safetensors"))
    assert back.pieces == res.pieces and back.unknown == ["!"] and back.notes == res.notes
    assert torch.equal(back.values, res.values) and back.unit == 1


def test_minilm_tokens_special_marks_and_unk(minilm: nn.Module) -> None:
    layer = "encoder.layer.2.intermediate"
    text = "Paris is lovely in April 😀"
    res = probe_text(minilm, text, layer, unit=7)
    assert res.pieces[0] == "[CLS]" and res.pieces[-1] == "[SEP]"
    assert res.special == [True] + [False] * (len(res.pieces) - 2) + [True]
    assert "".join(res.pieces[1:-1]) == text
    assert res.unknown == ["😀"] and "[UNK]" in res.notes[0]
    ids = codec_for(ns.input_spec(minilm)).encode(text).ids
    assert torch.allclose(res.values, direct(minilm, ids, layer)[:, 7], atol=1e-5)
    inner = res.values[1:-1].abs().max()
    assert res.vmax == pytest.approx(float(inner))  # [CLS] and [SEP] left out of the scale


def test_minilm_without_a_time_axis(minilm: nn.Module) -> None:
    with pytest.raises(NeuronscopeError, match=r"one value per token.*encoder"):
        probe_text(minilm, "hello", "pooling", unit=0)


def test_the_shape_check_says_it_ran_on_a_sample(minilm: nn.Module) -> None:
    with pytest.raises(NeuronscopeError) as err:
        probe_text(minilm, "a much longer text than seven tokens, " * 5, "pooling", unit=0)
    assert "pooling gives (384,) (without batch) for a sample of 7 tokens" in str(err.value)


def test_minilm_long_text_in_full_windows(minilm: nn.Module) -> None:
    layer = "encoder.layer.0.intermediate"
    text = " ".join(f"word{i} is here." for i in range(110))
    codec = codec_for(ns.input_spec(minilm))
    stream = codec.stream(text)
    assert 2 * 254 < len(stream) < 3 * 254  # three windows, the last overlapping
    res = probe_text(minilm, text, layer, unit=11)
    assert len(res.values) == len(stream) + 2 and len(res.pieces) == len(stream) + 2
    assert "".join(p for p, s in zip(res.pieces, res.special, strict=True) if not s) == text
    assert "3 windows" in res.notes[0]
    w, n = 254, len(stream)
    for start, keep in ((0, range(0, w)), (w, range(w, 2 * w)), (n - w, range(2 * w, n))):
        window = direct(minilm, codec.frame(stream[start:start + w]), layer)[:, 11]
        got = res.values[[1 + t for t in keep]]
        assert torch.allclose(got, window[[1 + t - start for t in keep]], atol=1e-5)
    first = direct(minilm, codec.frame(stream[:w]), layer)[:, 11]
    last = direct(minilm, codec.frame(stream[n - w:]), layer)[:, 11]
    assert torch.allclose(res.values[0], first[0]) and torch.allclose(res.values[-1], last[-1])


class NanAtC(nn.Module):
    """A text model whose layer ``out`` is NaN at every 'c'."""

    def __init__(self) -> None:
        super().__init__()
        self.embed, self.out = nn.Embedding(3, 2), nn.Linear(2, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = torch.where((ids == 2)[..., None], torch.nan, self.embed(ids))
        return self.out(x)


def nan_model() -> nn.Module:
    return attach_spec(NanAtC(), InputSpec(shape=(4,), kind="text", vocab="abc"))


def test_nan_values_are_said_and_left_out_of_the_scale() -> None:
    res = probe_text(nan_model(), "abca", "out", unit=0)
    assert res.values[2].isnan() and "1 token(s) gave NaN" in res.notes[-1]
    assert res.vmax == pytest.approx(float(res.values[[0, 1, 3]].abs().max()))


class FixedPositions(nn.Module):
    """A character Transformer with a learned table of `positions` positions: it reads any
    text up to that length, and raises on a longer one (adding [T, d] to [positions, d])."""

    def __init__(self, positions: int, vocab_size: int = len(VOCAB)) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, 8)
        self.pos = nn.Parameter(torch.randn(positions, 8))
        self.block = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        self.out = nn.Linear(8, 5)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.out(self.block(self.embed(ids) + self.pos[:ids.shape[1]]))


def fixed(positions: int, spec_length: int) -> nn.Module:
    torch.manual_seed(0)
    return attach_spec(FixedPositions(positions).eval(),
                       InputSpec(shape=(spec_length,), kind="text", vocab=VOCAB))


def test_a_fixed_length_model_reads_a_long_text_in_windows_of_its_spec() -> None:
    model, text = fixed(16, 16), ("def f(x):\n  return x\n" * 2)[:40]
    ids = [VOCAB.index(c) for c in text]
    res = probe_text(model, text, "block", unit=3)
    assert res.values.shape == (40,) and res.pieces == list(text)
    for start, keep in ((0, range(0, 16)), (16, range(16, 32)), (24, range(32, 40))):
        window = direct(model, ids[start:start + 16], "block")[:, 3]
        assert torch.allclose(res.values[list(keep)], window[[t - start for t in keep]],
                              atol=1e-5)
    note = res.notes[-1]
    assert "3 windows of 16 characters" in note and "failed on the whole text" in note
    assert "max_length'] = 16" in note
    short = probe_text(model, text[:16], "out")  # within the spec: one pass, no note
    assert torch.allclose(short.values, direct(model, ids[:16], "out")) and short.notes == []


def test_a_model_that_fails_within_its_spec_gets_the_clear_error() -> None:
    with pytest.raises(NeuronscopeError, match=r"whole text of 40 tokens and on windows of "
                                               r"32 tokens.*size of tensor"):
        probe_text(fixed(16, 32), "abcd" * 10, "block", unit=0)
    with pytest.raises(NeuronscopeError, match=r"failed on 20 tokens.*max_length"):
        probe_text(fixed(16, 32), "abcd" * 5, "block", unit=0)  # not over the spec


def test_sample_text_by_vocabulary(lstm: nn.Module, minilm: nn.Module) -> None:
    code = attach_spec(nn.Identity(), InputSpec((8,), "text", vocab=CODE_SAMPLE + "TPFA"))
    assert sample_text(code) == CODE_SAMPLE
    prose = attach_spec(nn.Identity(), InputSpec((8,), "text", vocab=PROSE_SAMPLE + "?!"))
    assert sample_text(prose) == PROSE_SAMPLE  # no brackets or quotes: not Python's
    assert sample_text(lstm) == CODE_SAMPLE  # as many characters missing from each
    assert sample_text(minilm) == PROSE_SAMPLE  # tokens, not characters
