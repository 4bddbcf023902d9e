"""The Python standard library's own source code as a next-character-prediction corpus."""

from __future__ import annotations

import hashlib
import os
import sysconfig
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from neuronscope.core.spec import InputSpec
from neuronscope.data.base import check_index, check_split

UNKNOWN = "\ufffd"  # the token for any character outside the vocabulary
VOCAB: str = "\t\n" + "".join(chr(c) for c in range(32, 127)) + UNKNOWN
MAX_CHARS = 2_000_000  # default character budget of the train split
TEST_PERCENT = 10
# folders that are tests, tools or generated tables rather than library code
_SKIP_DIRS = {
    "test", "tests", "idlelib", "turtledemo", "site-packages", "dist-packages",
    "__pycache__", "encodings", "pydoc_data", "__phello__", "ensurepip",
}  # fmt: skip

_LUT = np.full(0x110000, len(VOCAB) - 1, dtype=np.uint8)
_LUT[[ord(c) for c in VOCAB[:-1]]] = np.arange(len(VOCAB) - 1)


def encode(text: str) -> torch.Tensor:
    """Characters -> token ids (LongTensor); characters outside ``VOCAB`` map to the last id.

    Example:
        >>> decode(encode("def f():\\n"))
        'def f():\\n'
    """
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return torch.from_numpy(_LUT[codes].astype(np.int64))


def decode(ids: torch.Tensor | list[int]) -> str:
    """Token ids -> text (the unknown token decodes to U+FFFD).

    Example:
        >>> decode([42, 75])
        'Hi'
    """
    values = ids.reshape(-1).tolist() if isinstance(ids, torch.Tensor) else list(ids)
    bad = [int(i) for i in values if not 0 <= int(i) < len(VOCAB)]
    if bad:
        raise ValueError(f"token id {bad[0]} out of range: ids go from 0 to {len(VOCAB) - 1}")
    return "".join(VOCAB[int(i)] for i in values)


def _is_test(relpath: str) -> bool:
    digest = hashlib.sha1(relpath.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 100 < TEST_PERCENT


def source_files(split: str = "train") -> list[str]:
    """The stdlib ``.py`` files of a split, as sorted paths relative to the stdlib folder.

    Tests, IDLE, bundled packages and generated tables (encodings, pydoc topics) are left out.
    A file is in the test split when a hash of its relative path says so (about 10%).

    Example:
        >>> "os.py" in source_files("train") + source_files("test")
        True
    """
    check_split(split)
    root = Path(sysconfig.get_paths()["stdlib"])
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("config-")]
        rel_dir = Path(dirpath).relative_to(root)
        for name in filenames:
            if name.endswith(".py") and not name.startswith("_sysconfigdata"):
                found.append((rel_dir / name).as_posix())
    found.sort()
    if split == "all":
        return found
    return [f for f in found if _is_test(f) == (split == "test")]


def _read_corpus(split: str, budget: int) -> str:
    """Concatenate the split's files, in a fixed hash order, up to `budget` characters."""
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(source_files(split), key=lambda f: hashlib.sha1(f.encode()).hexdigest())
    parts, total = [], 0
    for rel in files:
        if total >= budget:
            break
        text = (root / rel).read_text(encoding="utf-8", errors="replace")
        parts.append(text[: budget - total])
        total += len(parts[-1])
    return "".join(parts)


class PySource(Dataset):
    """The running interpreter's standard library source, for next-character prediction.

    Items are ``(x, y)``: two LongTensors [seq_len], y = x shifted by one character, taken
    from non-overlapping windows of the corpus. The corpus joins the split's files in a fixed
    pseudo-random order (a hash of each path, so a capped corpus samples the whole library),
    cut at ``max_chars`` characters (default 2,000,000 for "train", 222,222 for "test", their
    sum for "all", which is the train text followed by the test text, 9:1). The split is by
    file (~90/10).
    The text depends on the Python version that runs it.

    Example:
        >>> ds = PySource("test", max_chars=10_000)
        >>> x, y = ds[0]
        >>> bool((x[1:] == y[:-1]).all()), ds.decode(x[:0])
        (True, '')
    """

    vocab: str = VOCAB

    def __init__(self, split: str = "train", seq_len: int = 128, max_chars: int | None = None):
        check_split(split)
        seq_len = int(seq_len)
        if seq_len < 1:
            raise ValueError(f"seq_len must be a positive integer, got {seq_len}")
        if max_chars is None:  # defaults: 2,000,000 train, 1/9 of that for test
            max_chars = {"train": MAX_CHARS, "test": MAX_CHARS // 9}.get(
                split, MAX_CHARS + MAX_CHARS // 9
            )
        max_chars = int(max_chars)
        if split == "all":  # train text, then test text, in a 9:1 budget
            train_part = max_chars * 9 // 10
            text = _read_corpus("train", train_part) + _read_corpus("test", max_chars - train_part)
        else:
            text = _read_corpus(split, max_chars)
        self.split, self.seq_len, self.text = split, seq_len, text
        self.ids = encode(text)
        self.spec = InputSpec(
            shape=(seq_len,), kind="text", vocab=VOCAB, extra={"dataset": "pysource"}
        )

    @staticmethod
    def encode(text: str) -> torch.Tensor:
        """Characters -> token ids (see :func:`encode`)."""
        return encode(text)

    @staticmethod
    def decode(ids: torch.Tensor | list[int]) -> str:
        """Token ids -> text (see :func:`decode`)."""
        return decode(ids)

    def __len__(self) -> int:
        return max(0, (len(self.ids) - 1) // self.seq_len)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        i = check_index(i, len(self))
        start = i * self.seq_len
        return (
            self.ids[start : start + self.seq_len].clone(),
            self.ids[start + 1 : start + self.seq_len + 1].clone(),
        )

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All windows at once: (X int64 [N, seq_len], Y int64 [N, seq_len]).

        Example:
            >>> X, Y = PySource("test", seq_len=16, max_chars=1_000).tensors()
            >>> X.shape[1], bool((X[:, 1:] == Y[:, :-1]).all())
            (16, True)
        """
        n, length = len(self), self.seq_len
        x = self.ids[: n * length].reshape(n, length).clone()
        y = self.ids[1 : n * length + 1].reshape(n, length).clone()
        return x, y

    def __repr__(self) -> str:
        return f"PySource(split={self.split!r}, {len(self.text):,} chars, seq_len={self.seq_len})"
