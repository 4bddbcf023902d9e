"""Text codecs: how a text model turns text into token ids and back into the pieces of
text a page shades, one registered codec per kind of tokenizer.

A model's `InputSpec` says which: a ``vocab`` (characters, id = index) gets the
character codec; ``extra["tokenizer"]`` names a registered one (``"wordpiece"`` reads
``extra["tokenizer_file"]``, a Hugging Face ``tokenizer.json``). Every place that turns
text into a model input or draws token ids as text (the text input kind, the live text
probe, text datasets made for a model) goes through `codec_for`, so a new tokenizer is
one `register_codec` call.

Example:
    >>> from neuronscope.core.spec import InputSpec
    >>> codec = codec_for(InputSpec(shape=(8,), kind="text", vocab="ab \\ufffd"))
    >>> enc = codec.encode("ab?a")
    >>> enc.ids, enc.pieces, enc.unknown
    ([0, 1, 3, 0], ['a', 'b', '\ufffd', 'a'], ['?'])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from .errors import NeuronscopeError
from .spec import InputSpec

REPLACEMENT = "\ufffd"

LONGER_HINT = ("; a layer longer than its input (a convolution padded past the end that the "
               "model trims later in forward) is read where it is trimmed: put the trim in a "
               "module of its own and name that, with "
               "neuronscope.core.axes.set_unit_axis(model, name, 1) when its output is "
               "[batch, units, tokens]")


class TextInputError(NeuronscopeError, ValueError):
    """Text a model cannot read (empty, or characters it has no token for)."""


@dataclass
class Encoded:
    """One text as a model reads it: token ``ids``, the piece of the text each token stands
    for (``pieces``, joined they give the text back, special tokens shown by name), and the
    characters the model has no token for (``unknown``; each read as a replacement)."""

    ids: list[int]
    pieces: list[str]
    unknown: list[str] = field(default_factory=list)
    special: list[bool] = field(default_factory=list)  # tokens that stand for no text


class TextCodec:
    """Text -> token ids (`encode`) and token ids -> pieces of text (`pieces`).

    ``pad_id``: the id of padding (positions that carry no text), or None.
    ``max_tokens``: the longest sequence the model takes at once (None: any; a model of
    fixed or limited length says so in ``InputSpec.extra["max_length"]``).
    """

    pad_id: int | None = None
    max_tokens: int | None = None
    unit_name = "token"

    def encode(self, text: str) -> Encoded:
        raise NotImplementedError

    def pieces(self, ids: list[int]) -> list[str]:
        raise NotImplementedError

    def stream(self, text: str) -> list[int]:
        """The ids of `text` as a run of tokens without the marks a whole sequence gets
        (for cutting a long text into windows); characters without a token are replaced."""
        return self.encode(text).ids

    def frame(self, ids: list[int]) -> list[int]:
        """A window of `stream` ids made a whole sequence (a BERT's [CLS] ... [SEP])."""
        return ids


class CharCodec(TextCodec):
    """One token per character of ``vocab``. Characters outside it are read as its
    `replacement` (U+FFFD where the vocabulary has it, or the model's own unknown
    character, ``InputSpec.extra["unknown_char"]``) and listed in ``unknown``; without
    one they are refused with a `TextInputError` naming them."""

    unit_name = "character"

    def __init__(self, vocab: str, replacement: str | None = None,
                 max_tokens: int | None = None) -> None:
        self.vocab = vocab
        self.lut = {ch: i for i, ch in enumerate(vocab)}
        if replacement is None and REPLACEMENT in self.lut:
            replacement = REPLACEMENT
        if replacement is not None and replacement not in self.lut:
            raise TextInputError(f"the unknown character {replacement!r} is not in the "
                                 f"vocabulary of {len(vocab)}")
        self.replacement = replacement
        self.max_tokens = max_tokens

    def encode(self, text: str) -> Encoded:
        unknown = outside_vocab(text, self.vocab)
        if unknown and self.replacement is None:
            raise TextInputError(
                f"{unknown_message(text, unknown, len(self.vocab))}; the vocabulary has no "
                "U+FFFD to read them as: remove them, or name the model's own unknown "
                "character in InputSpec.extra['unknown_char']")
        ids = char_ids(text, self.vocab, self.replacement).tolist()
        return Encoded(ids, [self.vocab[i] for i in ids], unknown, [False] * len(ids))

    def pieces(self, ids: list[int]) -> list[str]:
        return [self.vocab[int(i)] for i in ids]


def outside_vocab(text: str, vocab: str) -> list[str]:
    """The characters of `text` that `vocab` lacks, sorted.

    Example:
        >>> outside_vocab("abXa!", "ab")
        ['!', 'X']
    """
    return sorted(set(text) - set(vocab))


def unknown_message(text: str, outside: list[str], vocab_size: int) -> str:
    """Which characters of `text` are `outside` a vocabulary, and where each first is."""
    shown = ", ".join(f"{ch!r} (U+{ord(ch):04X}, first at {text.index(ch)})"
                      for ch in outside[:8])
    more = f" and {len(outside) - 8} more" if len(outside) > 8 else ""
    return (f"{len(outside)} character(s) outside the model's vocabulary of {vocab_size}: "
            f"{shown}{more}")


def char_ids(text: str, vocab: str, replacement: str | None = None) -> torch.Tensor:
    """`text` as ids [n] of `vocab` (id = index), in one table lookup (5 M characters in a
    fraction of a second); characters outside it become `replacement`'s id, or -1.

    Example:
        >>> char_ids("abz", "ab", replacement="a").tolist()
        [0, 1, 0]
    """
    if not text:
        return torch.zeros(0, dtype=torch.long)
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    missing = vocab.index(replacement) if replacement is not None else -1
    table = np.full(max(int(codes.max()), max(map(ord, vocab))) + 1, missing, np.int64)
    table[[ord(c) for c in vocab]] = np.arange(len(vocab))
    return torch.from_numpy(table[codes])


class WordPieceCodec(TextCodec):
    """A Hugging Face ``tokenizers`` tokenizer (BERT's WordPiece): pieces are the spans of
    the text each token covers (the space before a word kept with it), special tokens
    ([CLS], [SEP]) shown by name."""

    def __init__(self, tokenizer_file: str, max_tokens: int | None = None) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError as e:  # pragma: no cover - a dependency
            raise NeuronscopeError("this model's tokenizer needs the package tokenizers: "
                                   "pip install tokenizers") from e
        self.tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self.max_tokens = max_tokens
        self.pad_id = self.tokenizer.token_to_id("[PAD]")
        self.cls_id = self.tokenizer.token_to_id("[CLS]")
        self.sep_id = self.tokenizer.token_to_id("[SEP]")
        self.unk_id = self.tokenizer.token_to_id("[UNK]")

    def encode(self, text: str) -> Encoded:
        enc = self.tokenizer.encode(text)
        pieces, special, unknown, end = [], [], [], 0
        for tok_id, tok, (a, b), mask in zip(enc.ids, enc.tokens, enc.offsets,
                                              enc.special_tokens_mask, strict=True):
            if mask:
                pieces.append(tok)
                special.append(True)
                continue
            start = end if a >= end else a  # the space before a word goes with it
            pieces.append(text[start:b])
            special.append(False)
            end = max(end, b)
            if tok_id == self.unk_id:
                unknown.append(text[a:b])
        return Encoded(list(enc.ids), pieces, sorted(set(unknown)), special)

    def stream(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def frame(self, ids: list[int]) -> list[int]:
        return [self.cls_id, *ids, self.sep_id]

    def pieces(self, ids: list[int]) -> list[str]:
        out = []
        for i in ids:
            tok = self.tokenizer.id_to_token(int(i)) or f"[{int(i)}]"
            if tok.startswith("##"):
                out.append(tok[2:])
            elif tok.startswith("[") and tok.endswith("]"):
                out.append(tok if int(i) != self.pad_id else "")
            else:
                out.append(" " + tok)
        return out


Factory = Callable[[InputSpec], TextCodec]
_CODECS: dict[str, Factory] = {}


def register_codec(name: str, factory: Factory) -> None:
    """Register a codec for specs whose ``extra["tokenizer"]`` is `name`; `factory(spec)`
    makes it (called once per spec's settings)."""
    _CODECS[name] = factory


def codecs() -> list[str]:
    """The registered tokenizer names (and "chars", for specs with a vocabulary)."""
    return ["chars", *_CODECS]


def codec_for(spec: InputSpec | None) -> TextCodec | None:
    """The codec of a text model's spec, or None when it names none (not a text model, or a
    tokenizer no codec is registered for)."""
    if spec is None:
        return None
    if spec.vocab:
        longest = spec.extra.get("max_length")
        return _char_codec(spec.vocab, spec.extra.get("unknown_char"),
                           int(longest) if longest else None)
    name = spec.extra.get("tokenizer")
    if name not in _CODECS:
        return None
    key = (name, tuple(sorted((k, str(v)) for k, v in spec.extra.items())))
    return _cached(key, spec)


_MADE: dict[Any, TextCodec] = {}


def _cached(key: Any, spec: InputSpec) -> TextCodec:
    if key not in _MADE:
        _MADE[key] = _CODECS[key[0]](spec)
    return _MADE[key]


@lru_cache(maxsize=8)
def _char_codec(vocab: str, replacement: str | None, max_tokens: int | None) -> CharCodec:
    return CharCodec(vocab, replacement, max_tokens)


def _wordpiece(spec: InputSpec) -> TextCodec:
    path = spec.extra.get("tokenizer_file")
    if not path:
        raise NeuronscopeError("a wordpiece text spec needs extra['tokenizer_file'] (a "
                               "tokenizer.json)")
    return WordPieceCodec(path, spec.extra.get("max_length"))


register_codec("wordpiece", _wordpiece)
