"""The live text probe (Neuronpedia's "test your own text", OpenAI's neuron viewer): one
text in, one unit's value at every token of it out, for the page that shades each token.

Text becomes tokens through the model's codec (`neuronscope.core.text.codec_for`): one
per character for a character model (characters outside its vocabulary read as U+FFFD
and named in the notes), WordPiece tokens for a BERT (MiniLM). A model with no limit on
its input (a recurrent one) reads the whole text in one pass. A model that reads at most
``max_tokens`` at once (MiniLM: 256) reads a longer text in windows of ``max_tokens``:
each window is ``max_tokens - 2`` tokens of the text framed by [CLS] and [SEP], the last
window overlaps the one before it so that every window is full (no padding, no mask), and
each token's value comes from the first window that holds it; so a token sees only the
text of its own window (said in the notes). A model that gives no ``max_tokens`` but fails
on a text longer than its InputSpec's length (``spec.shape[0]``: a Transformer with a
fixed table of positions) is read the same way in windows of that length, and the notes
say so; a model that reads any length (a recurrent one) never fails, so it still reads
the whole text in one pass.

The text is capped at `MAX_CHARS` characters: the probe answers a page in about a second
(20,000 characters took 0.8 s with pysource-lstm, 1.4 to 2 s with MiniLM: 4,500 to 5,600
tokens of prose to code, on 2 CPU cores). Longer
text is the work of `neuronscope.explain_cells` (cells against feature tracks, any
length) or `neuronscope.top_examples` (a unit's top windows over a dataset).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from neuronscope.core.errors import AddressError, NeuronscopeError
from neuronscope.core.layers import LayerInfo, eval_mode, find_layer, layer_table, layers
from neuronscope.core.model import model_device
from neuronscope.core.result import Result
from neuronscope.core.spec import input_spec
from neuronscope.core.text import (
    LONGER_HINT,
    TextCodec,
    TextInputError,
    codec_for,
    outside_vocab,
)
from neuronscope.core.units import Unit

from .read import read, spec_length

MAX_CHARS = 20_000  # the live probe answers in about a second (module docstring)
PROBE_LENGTH = 7  # tokens of the short pass that checks the layer's shape
CODE_SAMPLE = 'def greet(name):\n    """Say hello."""\n    return "hello, " + name  # hi\n'
PROSE_SAMPLE = "The cat sat on the mat. Paris is the capital of France, and it rains in April."


class TextTooLongError(TextInputError):
    """Text over the probe's limit of characters."""


@dataclass
class TextProbe(Result):
    """One text as `layer` sees it: the text's ``pieces`` (one per token; joined they give
    the text back, characters without a token as U+FFFD, special tokens by name and
    flagged in ``special``), ``values`` [tokens] of `unit` (or [tokens, units] for the
    whole layer), the characters the model has no token for (``unknown``), and ``notes``
    (plain sentences on how the text was read)."""

    FORMAT = "neuronscope.textprobe"

    layer: str
    unit: int | None
    pieces: list[str]
    special: list[bool]
    values: torch.Tensor
    unknown: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unit_name: str = "token"

    @property
    def vmax(self) -> float:
        """The shading scale: the largest magnitude over the text's own tokens (special
        tokens left out: a BERT's [CLS] and [SEP] often dwarf the rest), 0 for none."""
        text = [not s for s in self.special]
        v = self.values[torch.tensor(text)] if any(text) else self.values
        v = v[v.isfinite()]
        return float(v.abs().max()) if v.numel() else 0.0


def text_codec(model: nn.Module) -> TextCodec:
    """The codec of a text model, or a `NeuronscopeError` saying what model it needs."""
    spec = input_spec(model)
    codec = codec_for(spec) if spec is not None and spec.kind == "text" else None
    if codec is None:
        what = "no InputSpec" if spec is None else f"an InputSpec of kind {spec.kind!r}"
        raise NeuronscopeError(f"the text probe needs a text model (an InputSpec of kind "
                               f"'text' with a vocab or a tokenizer); this one has {what}")
    return codec


def text_layers(model: nn.Module) -> list[LayerInfo]:
    """The layers the probe can shade text by: one value per token and unit ([batch,
    tokens, units], or [batch, units, tokens] after a Conv1d; run once per pass), in the
    order they run.

    Example:
        >>> from neuronscope.core.spec import InputSpec, attach_spec
        >>> from neuronscope.zoo.charlm import char_lstm
        >>> m = attach_spec(char_lstm(3, embed=4, hidden=5), InputSpec((8,), "text", vocab="ab "))
        >>> [i.name for i in text_layers(m)], text_layers(m)[-1].n_units
        (['embed', 'lstm', 'lstm.c', 'lstm.tanh_c', 'lstm.h', 'decoder'], 3)
    """
    ids = _example(model, [0])
    with eval_mode(model), torch.no_grad():
        infos = layers(model, ids)
    return [i for i in infos if _per_token(i, ids.shape[1])
            and i.kind not in ("dropout", "reshape")]  # copies of the layer before


def sample_text(model: nn.Module) -> str:
    """A text to start the probe page with: `CODE_SAMPLE` (a few lines of Python) for a
    character model whose vocabulary lacks no more of its characters than of
    `PROSE_SAMPLE`'s (an English sentence), else the sentence: for a tokenizer model
    (MiniLM), or a vocabulary without the code's brackets and quotes (a prose model).

    Example:
        >>> from neuronscope.core.spec import InputSpec, attach_spec
        >>> prose = "abcdefghijklmnopqrstuvwxyz .,"
        >>> sample_text(attach_spec(nn.Identity(), InputSpec((64,), "text", vocab=prose)))
        'The cat sat on the mat. Paris is the capital of France, and it rains in April.'
    """
    vocab = getattr(text_codec(model), "vocab", None)
    if vocab is None:
        return PROSE_SAMPLE
    code, prose = (len(outside_vocab(s, vocab)) for s in (CODE_SAMPLE, PROSE_SAMPLE))
    return CODE_SAMPLE if code <= prose else PROSE_SAMPLE


def probe_text(model: nn.Module, text: str, layer: str, *, unit: int | None = None,
               max_chars: int = MAX_CHARS) -> TextProbe:
    """`unit` of `layer` (every unit when None; ``layer="lstm.c:5"`` names one too) at each
    token of `text` (see the module docstring for how a long text is read).

    Empty or whitespace-only text, and text over `max_chars` characters, raise a
    `TextInputError` (`TextTooLongError`); an unknown layer a `LayerNotFoundError` with
    the closest names, a unit outside the layer a `UnitOutOfRangeError`.

    Example:
        >>> import torch
        >>> from neuronscope.core.spec import InputSpec, attach_spec
        >>> from neuronscope.zoo.charlm import char_lstm
        >>> spec = InputSpec(shape=(8,), kind="text", vocab="ab \\ufffd")
        >>> m = attach_spec(char_lstm(4, embed=4, hidden=3), spec)
        >>> res = probe_text(m, "ab ba!", "lstm.c", unit=2)
        >>> res.pieces, res.values.shape, res.unknown
        (['a', 'b', ' ', 'b', 'a', '\\ufffd'], torch.Size([6]), ['!'])
        >>> probe_text(m, "ab", "lstm.c").values.shape  # every cell
        torch.Size([2, 3])
    """
    _check_text(text, max_chars)
    codec = text_codec(model)
    address = _address(layer, unit)
    enc = codec.encode(text)
    if not any(not s for s in enc.special):
        raise TextInputError("the model's tokenizer reads no token in this text: type some "
                             "words")
    info = _check_layer(model, address, enc.ids)
    values, keep, notes = read(model, codec, text, enc, address.layer, info.unit_axis)
    values = values.movedim(-1, 0)  # [units, windows, T]
    joined = torch.cat([values[:, w, a:b] for w, a, b in keep], dim=1).T  # [tokens, units]
    if address.channel is not None:
        joined = joined[:, address.channel]
    if enc.unknown:
        notes.insert(0, _unknown_note(codec, enc.unknown))
    bad = int((~joined.isfinite()).reshape(len(joined), -1).any(1).sum())
    if bad:
        notes.append(f"{bad} token(s) gave NaN or an infinite value (left unshaded)")
    return TextProbe(layer=address.layer, unit=address.channel, pieces=enc.pieces,
                     special=list(enc.special) or [False] * len(enc.ids), values=joined,
                     unknown=enc.unknown, notes=notes, unit_name=codec.unit_name)


def _check_text(text: str, max_chars: int) -> None:
    if not isinstance(text, str):
        raise TextInputError(f"the text probe takes a str, got {type(text).__name__}")
    if not text.strip():
        raise TextInputError("type some text: the text is " + ("empty" if not text else
                                                               "only whitespace"))
    if len(text) > max_chars:
        raise TextTooLongError(
            f"the text has {len(text):,} characters, over the live probe's limit of "
            f"{max_chars:,} (it answers in about a second): probe a part of it, or for long "
            "text use ns.explain_cells (cells against features of the text) or "
            "ns.top_examples (a unit's strongest windows of a dataset)")


def _address(layer: str, unit: int | None) -> Unit:
    address = Unit.parse(layer)
    if address.pos is not None:
        raise AddressError(f"{address} names one position; the text probe shows every "
                           f"token: give the layer and unit, {address.layer}:{address.channel}")
    if unit is not None and address.channel is not None and unit != address.channel:
        raise AddressError(f"two units given: {address} and unit={unit}; give one")
    if unit is not None:
        if isinstance(unit, bool) or not hasattr(unit, "__index__"):
            raise AddressError(f"unit must be an int, got {unit!r}")
        unit = int(unit)
        if unit < 0:
            raise AddressError(f"unit {unit} is negative: units are numbered from 0")
        address = Unit(address.layer, unit)
    return address


def _example(model: nn.Module, ids: list[int]) -> torch.Tensor:
    """A short batch of one made of `ids` repeated, for shapes: `PROBE_LENGTH` tokens, or
    fewer where the model reads fewer (its codec's ``max_tokens``, its InputSpec's length)."""
    limits = [text_codec(model).max_tokens, spec_length(model)]
    n = min([PROBE_LENGTH, *(n for n in limits if n is not None)])
    return torch.tensor([[ids[i % len(ids)] for i in range(n)]], dtype=torch.long)


def _per_token(info: LayerInfo, tokens: int) -> bool:
    """One value per token and unit: [batch, tokens, units], or [batch, units, tokens]
    where the units lie on axis 1 (a Conv1d's output)."""
    return (len(info.shape) == 2 and info.calls == 1 and info.unit_axis in (1, 2)
            and info.shape[2 - info.unit_axis] == tokens)


def _check_layer(model: nn.Module, address: Unit, window: list[int]) -> LayerInfo:
    ids = _example(model, window).to(model_device(model))
    with eval_mode(model), torch.no_grad():
        info = find_layer(model, layer_table(model, ids), address, single_call=True)
    if not _per_token(info, ids.shape[1]):
        raise NeuronscopeError(
            f"{info.name} gives {tuple(info.shape)} (without batch) for a sample of "
            f"{ids.shape[1]} tokens (the probe checks the layer's shape on a short sample): "
            "the text probe needs one value per token and unit ([batch, tokens, units], or "
            "[batch, units, tokens] after a convolution); layers that give that: "
            f"{', '.join(i.name for i in text_layers(model)[:8])}, ..."
            + (LONGER_HINT if len(info.shape) == 2 and info.unit_axis in (1, 2)
               and info.shape[2 - info.unit_axis] > ids.shape[1] else ""))
    return info


def _unknown_note(codec: TextCodec, unknown: list[str]) -> str:
    shown = ", ".join(f"{ch!r} (U+{ord(ch):04X})" if len(ch) == 1 else repr(ch)
                      for ch in unknown[:12])
    more = f" and {len(unknown) - 12} more" if len(unknown) > 12 else ""
    if codec.unit_name == "character":
        read = getattr(codec, "replacement", None) or "\ufffd"
        name = "U+FFFD (\ufffd)" if read == "\ufffd" else f"{read!r}, its unknown character"
        return (f"{len(unknown)} character(s) outside the model's vocabulary, each read as "
                f"{name}: {shown}{more}")
    return f"{len(unknown)} piece(s) of the text have no token, read as [UNK]: {shown}{more}"
