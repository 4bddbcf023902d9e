"""The Python standard library source corpus."""

from __future__ import annotations

import pytest
import torch

from neuronscope import data
from neuronscope.data.pysource import (
    VOCAB,
    PySource,
    corpus_text,
    decode,
    encode,
    source_files,
)


def test_vocab_and_round_trip():
    assert len(VOCAB) == 98 and len(set(VOCAB)) == 98
    assert "\n" in VOCAB and "\t" in VOCAB and "~" in VOCAB
    text = "def f(x):\n\treturn {'a': x ** 2}  # ~!\n"
    ids = encode(text)
    assert ids.dtype == torch.int64 and ids.shape == (len(text),)
    assert decode(ids) == text
    assert int(ids.max()) < len(VOCAB) - 1  # nothing unknown in plain ASCII


def test_unknown_characters_map_to_the_last_token():
    ids = encode("é→\r")
    assert ids.tolist() == [len(VOCAB) - 1] * 3
    assert decode(ids) == "\ufffd" * 3


def test_items_are_shifted_windows():
    ds = data.load("pysource", split="test", seq_len=32, max_chars=20_000)
    assert len(ds) == (len(ds.text) - 1) // 32
    for i in (0, 1, len(ds) - 1):
        x, y = ds[i]
        assert x.dtype == torch.int64 and x.shape == (32,) and y.shape == (32,)
        assert torch.equal(x[1:], y[:-1])
        assert ds.decode(x) + ds.decode(y[-1:]) == ds.text[i * 32 : i * 32 + 33]
    x0, _ = ds[0]
    x1, _ = ds[1]
    assert int(y[-1]) == int(ds.ids[len(ds) * 32])  # windows do not overlap
    assert ds.decode(x0) + ds.decode(x1) == ds.text[:64]
    X, Y = ds.tensors()
    assert X.shape == (len(ds), 32) and torch.equal(X[1], x1) and torch.equal(X[:, 1:], Y[:, :-1])


def test_spec_and_attributes():
    ds = PySource("test", max_chars=5_000)
    assert ds.vocab == VOCAB and ds.spec.vocab == VOCAB
    assert ds.spec.kind == "text" and ds.spec.shape == (128,)
    assert torch.equal(ds.encode("abc"), encode("abc"))
    assert len(ds.text) == 5_000


def test_default_budgets_and_determinism():
    train = PySource("train")
    assert len(train.text) == 2_000_000
    test = PySource("test")
    assert len(test.text) == 2_000_000 // 9
    again = PySource("test")
    assert again.text == test.text and torch.equal(again.ids, test.ids)
    assert "def " in train.text and "import " in train.text


def test_split_by_file():
    train, test, all_ = source_files("train"), source_files("test"), source_files("all")
    assert train == sorted(train) and not set(train) & set(test)
    assert sorted(train + test) == all_
    assert 0.05 < len(test) / len(all_) < 0.15
    assert not any(part in ("test", "tests", "idlelib") for f in all_ for part in f.split("/"))
    assert "os.py" in all_ and "json/decoder.py" in all_
    a, b = PySource("train", max_chars=3_000), PySource("test", max_chars=3_000)
    assert a.text != b.text


def test_all_split_is_train_then_test():
    ds = PySource("all", max_chars=10_000)
    assert (
        ds.text == PySource("train", max_chars=9_000).text + PySource("test", max_chars=1_000).text
    )


def test_bad_seq_len():
    with pytest.raises(ValueError, match="seq_len"):
        PySource("test", seq_len=0, max_chars=100)


def test_decode_refuses_bad_ids():
    with pytest.raises(ValueError, match="0 to 97"):
        decode([5, 98])


def test_generated_tables_are_left_out():
    files = source_files("all")
    for table in ("html/entities.py", "stringprep.py", "re/_casefix.py"):
        assert table not in files
    assert "html/parser.py" in files and "re/_parser.py" in files


def test_corpus_text_is_whole_files_that_tokenize():
    import io
    import tokenize

    text = corpus_text("test", 30_000)
    assert 0 < len(text) <= 30_000 and PySource("test", max_chars=30_000).text.startswith(text)
    assert text.endswith("\n")
    list(tokenize.generate_tokens(io.StringIO(text).readline))  # raises if cut mid-file
    assert corpus_text("test") == corpus_text("test", 2_000_000 // 9)
    with pytest.raises(ValueError, match="train"):
        corpus_text("all")


def test_corpus_text_too_small_for_any_whole_file_says_so() -> None:
    with pytest.raises(ValueError, match="no whole file of the test split fits in 100"):
        corpus_text("test", 100)


def test_a_model_gets_windows_as_long_as_its_input() -> None:
    from neuronscope.core.spec import InputSpec

    spec = InputSpec(shape=(32,), kind="text", vocab=VOCAB)
    x, y = data.load("pysource", split="test", model=spec, max_chars=4_000)[0]
    assert x.shape == y.shape == (32,)
    longer = data.load("pysource", split="test", model=spec, max_chars=4_000, seq_len=64)
    assert longer[0][0].shape == (64,)  # asked for: as asked
