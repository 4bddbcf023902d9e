"""Text codecs: characters and WordPiece, text -> ids -> pieces of the same text."""

from __future__ import annotations

import pytest

import neuronscope as ns
from neuronscope.core.spec import InputSpec
from neuronscope.core.text import CharCodec, codec_for, register_codec


def test_the_character_codec_names_and_replaces_what_it_cannot_read() -> None:
    codec = codec_for(InputSpec(shape=(4,), kind="text", vocab="ab\n\ufffd"))
    assert isinstance(codec, CharCodec)
    enc = codec.encode("ab\né")
    assert enc.ids == [0, 1, 2, 3] and enc.unknown == ["é"]
    assert enc.pieces == ["a", "b", "\n", "\ufffd"] and codec.pieces([1, 0]) == ["b", "a"]
    assert codec.pad_id is None and codec.unit_name == "character"


def test_no_codec_for_images_or_unknown_tokenizers() -> None:
    assert codec_for(None) is None
    assert codec_for(InputSpec(shape=(3, 8, 8))) is None
    assert codec_for(InputSpec(shape=(8,), kind="text", extra={"tokenizer": "bpe?"})) is None


def test_a_registered_codec_is_found_by_its_name() -> None:
    register_codec("reversed", lambda spec: CharCodec(spec.extra["chars"][::-1]))
    codec = codec_for(InputSpec(shape=(8,), kind="text",
                                extra={"tokenizer": "reversed", "chars": "xyz"}))
    assert codec.encode("zx").ids == [0, 2]


def test_wordpiece_pieces_give_the_text_back_and_mark_specials() -> None:
    codec = codec_for(ns.input_spec(ns.zoo.load("minilm")))
    text = "Tokenization  of ☃ snowmen, twice."
    enc = codec.encode(text)
    assert enc.pieces[0] == "[CLS]" and enc.pieces[-1] == "[SEP]"
    assert enc.special[0] and enc.special[-1] and not any(enc.special[1:-1])
    assert "".join(p for p, s in zip(enc.pieces, enc.special, strict=True) if not s) == text
    assert enc.unknown == ["☃"]  # [UNK] in this vocabulary
    assert codec.frame(codec.stream(text)) == enc.ids
    assert codec.pad_id == 0 and codec.max_tokens == 256
    assert "".join(codec.pieces(codec.stream("a token"))) == " a token"


@pytest.mark.parametrize("text", ["", " ", "\n\n"])
def test_empty_text_encodes_to_nothing_for_characters(text: str) -> None:
    codec = codec_for(InputSpec(shape=(4,), kind="text", vocab=" \n"))
    assert len(codec.encode(text).ids) == len(text)
