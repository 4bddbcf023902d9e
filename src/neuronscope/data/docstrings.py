"""English prose for text models: the docstrings of the Python standard library (the
files and split of `pysource`), cut into fixed-length windows of a model's tokens.

A text model tokenizes text its own way, so the windows are made for a model: load it
with ``data.load("docstrings", model=model)`` (or ``spec=``), and its tokenizer
(`neuronscope.core.text.codec_for`) cuts the docstrings, joined by blank lines, into
windows of ``seq_len`` tokens that the model takes whole (a BERT's [CLS] and [SEP]
around each), with no padding. Items are LongTensors [seq_len]; there are no labels.
``seq_len`` defaults to the model's input length where its tokenizer reads any length (a
character model such as pysource-lstm: 128), else to 64 (below a BERT's limit, 256 for
MiniLM, which it may be raised to).

Example:
    >>> from neuronscope.core.spec import InputSpec
    >>> spec = InputSpec(shape=(16,), kind="text", vocab="".join(map(chr, range(32, 127))) + "\\n")
    >>> ds = Docstrings("test", spec=spec, seq_len=16, max_chars=2_000)
    >>> ds[0].shape, ds.text(0) == ds.text(0)
    (torch.Size([16]), True)
"""

from __future__ import annotations

import ast
import sysconfig
import warnings
from pathlib import Path

import torch
from torch.utils.data import Dataset

from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.spec import InputSpec
from neuronscope.core.text import codec_for
from neuronscope.data.base import check_split
from neuronscope.data.pysource import source_files

SEQ_LEN = 64  # tokens per window (a BERT's [CLS] and [SEP] included)
MAX_CHARS = 4_000_000  # of docstrings read per split (the stdlib has about 3.3M in train)


def docstrings(split: str = "train", max_chars: int | None = None) -> str:
    """The split's docstrings (modules, classes, functions), each with its indentation
    removed, joined by blank lines, up to `max_chars` characters.

    Example:
        >>> len(docstrings("test", 1_000)) <= 1_000
        True
    """
    check_split(split)
    root, budget = Path(sysconfig.get_paths()["stdlib"]), max_chars or MAX_CHARS
    parts, total = [], 0
    for rel in source_files(split):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # old escape sequences in some files
                tree = ast.parse((root / rel).read_text(encoding="utf-8", errors="replace"))
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                 ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) >= 20:
                    parts.append(doc)
                    total += len(doc) + 2
                    if total >= budget:
                        return "\n\n".join(parts)[:budget]
    return "\n\n".join(parts)


class Docstrings(Dataset):
    """The standard library's docstrings as windows of `seq_len` tokens of a text model
    (its InputSpec: `spec`); ``text(i)`` is window i as text, ``codec`` the tokenizer."""

    def __init__(self, split: str = "train", spec: InputSpec | None = None,
                 seq_len: int | None = None, max_chars: int | None = None) -> None:
        codec = codec_for(spec)
        if codec is None:
            raise NeuronscopeError(
                "docstrings are text cut by a model's tokenizer: load them for a text model "
                "(data.load('docstrings', model=model), or spec=its InputSpec; the command "
                "line does so itself)" if spec is None else
                f"the model's InputSpec (kind {spec.kind!r}) names no tokenizer neuronscope "
                "knows: a text model needs a vocab or extra['tokenizer'] (see "
                "neuronscope.core.text)")
        if seq_len is None:  # a character model's own length; a tokenizer's 64
            assert spec is not None
            seq_len = (int(spec.shape[0]) if codec.max_tokens is None and len(spec.shape) == 1
                       else SEQ_LEN)
        framed = len(codec.frame([]))
        limit = codec.max_tokens or seq_len
        if not framed < seq_len <= limit:
            raise ValueError(f"seq_len must be in {framed + 1}..{limit} for this model, "
                             f"got {seq_len}")
        self.split, self.spec, self.codec, self.seq_len = split, spec, codec, seq_len
        ids = torch.tensor(codec.stream(docstrings(split, max_chars)), dtype=torch.long)
        step = seq_len - framed
        n = len(ids) // step
        if n == 0:
            raise NeuronscopeError(f"the {split} docstrings make no window of {seq_len} tokens")
        body = ids[: n * step].view(n, step)
        self.windows = torch.stack([torch.tensor(codec.frame(row.tolist())) for row in body]) \
            if framed else body
        self.classes = None

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.windows[i]

    def text(self, i: int) -> str:
        """Window `i` as text (its tokens' pieces joined)."""
        return "".join(self.codec.pieces(self.windows[i].tolist()))

    def tensors(self) -> torch.Tensor:
        """Every window [N, seq_len]."""
        return self.windows

    def __repr__(self) -> str:
        return (f"Docstrings(split={self.split!r}, {len(self)} windows of {self.seq_len} "
                f"{self.codec.unit_name}s)")
