"""Cell explainer (Karpathy, Johnson & Fei-Fei 2015, "Visualizing and understanding
recurrent networks"): which simple feature of the text each cell of a character model
tracks.

A *track* is one number per character of the text, the state of a feature after that
character has been read (what a causal model could know there): inside a string literal,
inside a comment, bracket depth, position in the line... Tracks live in the registry
`TRACKS` (`register_track`); each names the modes it belongs to:

- ``"python"``: the text is read by Python's own `tokenize`, which gives the exact
  ``in_string``, ``in_docstring``, ``in_code_string`` (a string literal that is not a
  docstring), ``in_comment``, ``in_prose`` (in a string or a comment: a cell on in
  both is a prose cell, not a string cell), ``bracket_depth`` (brackets outside
  strings and comments), ``block_depth`` and ``after_keyword``, plus the character tracks
  ``column``, ``line_start`` and ``indent``;
- ``"chars"``: character counting only, for any text: ``column``, ``line_start``,
  ``indent``, ``bracket_depth`` (every bracket counted, also in strings) and
  ``quote_parity`` (inside '...' or "..." by parity on each line).

With ``tracks="python"``, text that does not tokenize (a fragment cut inside a
multi-line string, a bad dedent) or does not read as Python (English prose, which
tokenizes: under half of its lines parse as statements) degrades to the ``"chars"``
tracks; the result says so (`CellExplanation.mode`, `.notes`) and the log warns.

How the text is fed (any model that takes character ids [B, T] and whose layer gives
[B, T, units], or [B, units, T] where its unit axis is 1, as after a Conv1d): in
windows, not one long pass. The text is cut into windows of ``window`` characters
(default the model's input length, 128 for ``pysource-lstm``) that overlap by
``context`` characters (default half a window); each window runs from a zero state and
keeps only the values of its last ``window - context`` characters (the first window
keeps all), so every character is seen with ``context`` to ``window - 1`` characters
before it (the text's first characters with fewer), and windows run in batches, which is
fast on a CPU where one long pass would be a Python loop over every character. Measured
on pysource-lstm over the test split, windows of 128 with 64 of context give the same
best correlations (to 0.01) as windows of 8,192 with 4,096: its cells hold nothing from
further back that the tracks see. Memory is one batch of windows plus the tracks
[characters, tracks]; the cells' values are never held for the whole text (correlations
are accumulated as sums) unless ``keep_values=True``. The whole test split of pysource
(1.03M characters) took 27 s with pysource-lstm's 256 cells on 2 CPU cores, the
process's peak memory growing by 240 MB.

Characters outside the model's vocabulary are an error that names them, unless
``unknown="replace"`` reads them as the vocabulary's U+FFFD (said in `.notes`).

Example:
    >>> import torch
    >>> from neuronscope.zoo.charlm import char_lstm
    >>> from neuronscope.data.pysource import VOCAB
    >>> m = char_lstm(len(VOCAB), embed=4, hidden=8)
    >>> res = explain_cells(m, "x = ('a', 1)  # c\\n", vocab=VOCAB, progress=False)
    >>> res.mode, res.r.shape[0], "in_string" in res.tracks
    ('python', 8, True)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from neuronscope.core.axes import cached_axis
from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.layers import eval_mode, study_layers
from neuronscope.core.model import model_device
from neuronscope.core.recording import record
from neuronscope.core.spec import input_spec
from neuronscope.core.text import (
    LONGER_HINT,
    REPLACEMENT,
    char_ids,
    outside_vocab,
    unknown_message,
)

from .result import THRESHOLD, CellExplanation
from .tracks import CellTextError, compute_tracks, track_names  # noqa: F401 (doctests)

MAX_CHARS = 5_000_000  # longer text: split it (the tracks alone take 4 bytes x tracks each)


def encode_text(text: str, vocab: str, unknown: str = "error") -> torch.Tensor:
    """`text` as ids [n] of `vocab`. Characters outside it raise a `CellTextError` naming
    them (``unknown="error"``), or become the vocabulary's U+FFFD character
    (``unknown="replace"``, when the vocabulary has one).

    Example:
        >>> encode_text("ab", "abc").tolist()
        [0, 1]
    """
    if unknown not in ("error", "replace"):
        raise ValueError(f"unknown must be 'error' or 'replace', got {unknown!r}")
    outside = outside_vocab(text, vocab)
    if outside and not (unknown == "replace" and REPLACEMENT in vocab):
        fix = ("pass unknown='replace' to read them as U+FFFD, or " if REPLACEMENT in vocab
               else "")
        hint = " (Windows line ends: text.replace('\\r\\n', '\\n'))" if "\r" in outside else ""
        raise CellTextError(f"{unknown_message(text, outside, len(vocab))}; {fix}remove them"
                            f"{hint}")
    return char_ids(text, vocab, REPLACEMENT if outside else None)


def windows(n: int, window: int, context: int) -> list[tuple[int, int]]:
    """(start, first kept offset) of each window over `n` characters (see the module
    docstring): windows of `window` characters, each keeping from `context` on (the
    first from 0, the last shifted back to end at the text's end).

    Example:
        >>> windows(10, 4, 2)
        [(0, 0), (2, 2), (4, 2), (6, 2)]
    """
    if n <= window:
        return [(0, 0)]
    out, done = [(0, 0)], window
    while done < n:
        start = min(done - context, n - window)
        out.append((start, done - start))
        done = start + window
    return out


@torch.no_grad()
def cell_values(model: nn.Module, ids: torch.Tensor, layer: str, window: int, context: int,
                batch_size: int = 64, progress: bool = True
                ) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield (offset, values [m, cells]) for consecutive stretches of the text `ids` [n],
    in order (see `windows`)."""
    n, device = len(ids), model_device(model)
    plan = windows(n, min(window, n), context)
    bar = tqdm(total=n, desc=f"cells {layer}", unit="char", disable=not progress)
    with eval_mode(model):
        for b in range(0, len(plan), batch_size):
            part = plan[b:b + batch_size]
            length = min(window, n)
            x = torch.stack([ids[s:s + length] for s, _ in part]).to(device)
            with record(model, [layer]) as rec:
                model(x)
            out = given = rec[layer]
            if out.dim() == 3 and cached_axis(model, layer, 3) == 1:  # [B, units, T]: conv
                out = out.transpose(1, 2)
            if out.dim() != 3 or out.shape[:2] != x.shape:
                raise NeuronscopeError(
                    f"explain_cells needs a layer with one value per character and unit "
                    f"([batch, characters, units], or [batch, units, characters] after a "
                    f"convolution); {layer!r} gave {tuple(given.shape)} for input "
                    f"{tuple(x.shape)}"
                    + (LONGER_HINT if out.dim() == 3 and out.shape[1] > x.shape[1] else ""))
            for (s, keep), v in zip(part, out, strict=True):
                yield s + keep, v[keep:].float().cpu()
                bar.update(length - keep)
    bar.close()


def explain_cells(model: nn.Module, text: str, tracks: str | Sequence[str] = "python", *,
                  layer: str | None = None, vocab: str | None = None,
                  window: int | None = None,
                  context: int | None = None, unknown: str = "error",
                  keep_values: bool = False, threshold: float = THRESHOLD,
                  batch_size: int = 64, progress: bool = True) -> CellExplanation:
    """Correlate every cell of `layer` with each feature track of `text` (see the module
    docstring): per cell its best track and r, the full table, and a summary.

    `layer` defaults to the last layer the model declares worth studying
    (``study_layers``: ``lstm.c`` for the zoo's LSTM; its ``lstm.tanh_c``, bounded, reads
    cells more clearly); a model that declares none needs it.
    `vocab` defaults to the model's `InputSpec` vocabulary, `window` to its input length
    (128 when it has none), `context` to half the window. Characters outside the
    vocabulary raise a `CellTextError` naming them unless ``unknown="replace"``; empty
    text and text over `MAX_CHARS` characters raise one too.

    Example:
        >>> from neuronscope.zoo.charlm import char_lstm
        >>> from neuronscope.data.pysource import VOCAB
        >>> m = char_lstm(len(VOCAB), embed=4, hidden=8)
        >>> res = explain_cells(m, "a = [1,\\n     2]\\n", "chars", vocab=VOCAB, progress=False)
        >>> res.tracks == track_names("chars"), res.r.shape
        (True, torch.Size([8, 5]))
    """
    if not isinstance(text, str):
        raise CellTextError(f"explain_cells takes the text as a str, got {type(text).__name__}")
    if not text:
        raise CellTextError("the text is empty: give at least one character (a few lines of "
                            "code give meaningful correlations)")
    if len(text) > MAX_CHARS:
        raise CellTextError(f"the text has {len(text):,} characters, over the limit of "
                            f"{MAX_CHARS:,}: explain a part, or split it and compare")
    if layer is None:
        declared = study_layers(model)
        if not declared:
            raise CellTextError("name the layer of cells: layer=... (a layer whose output is "
                                "[batch, characters, cells], e.g. an LSTM's output 'lstm[0]')")
        layer = declared[-1]
    spec = input_spec(model)
    vocab = vocab if vocab is not None else getattr(spec, "vocab", None)
    if not vocab:
        raise CellTextError("the model has no vocabulary in its InputSpec: pass vocab= (the "
                            "characters of token ids 0, 1, 2, ...)")
    if window is None:
        window = int(spec.shape[0]) if spec is not None and len(spec.shape) == 1 else 128
    context = window // 2 if context is None else int(context)
    if window < 1 or not 0 <= context < window:
        raise ValueError(f"need window >= 1 and 0 <= context < window, got {window}, {context}")
    ids = encode_text(text, vocab, unknown)
    values, mode, notes = compute_tracks(text, tracks)
    outside = sorted(set(text) - set(vocab))
    if outside:  # unknown="replace" (else encode_text raised)
        notes.append(f"{len(outside)} character(s) outside the vocabulary read as U+FFFD: "
                     f"{''.join(outside[:20])!r}{' ...' if len(outside) > 20 else ''}")
    names = list(values)
    y = torch.from_numpy(np.stack([values[k] for k in names], 1)).double()  # [n, K]
    y -= y.mean(0)
    n = len(text)
    sx = sxx = sxy = None
    kept = []
    for start, v in cell_values(model, ids, layer, window, context, batch_size, progress):
        v64 = v.double()
        part = y[start:start + len(v64)]
        if sx is None:
            sx, sxx, sxy = v64.sum(0), (v64 * v64).sum(0), v64.T @ part
        else:
            sx += v64.sum(0)
            sxx += (v64 * v64).sum(0)
            sxy += v64.T @ part
        if keep_values:
            kept.append(v)
    var_x = (sxx - sx * sx / n).clamp(min=0)  # [cells]
    var_y = (y * y).sum(0)  # [K]
    live_x = var_x > 1e-9 * sxx.clamp(min=1e-30)  # a constant cell: r undefined
    live_y = var_y > 1e-9
    denom = (var_x[:, None] * var_y[None, :]).sqrt()
    ok = live_x[:, None] & live_y[None, :]
    r = torch.where(ok, sxy / denom.where(ok, 1.0), math.nan).float().clamp(-1, 1)
    flat = [k for k, live in zip(names, live_y.tolist(), strict=True) if not live]
    if flat:
        notes.append(f"constant on this text (r undefined, NaN): {', '.join(flat)}")
    if not bool(live_x.all()):
        notes.append(f"{int((~live_x).sum())} cell(s) constant on this text (r NaN)")
    return CellExplanation(
        layer=layer, tracks=names, mode=mode, r=r, n_chars=n, threshold=float(threshold),
        notes=notes, text=text if keep_values else "",
        values=torch.cat(kept) if keep_values else None,
        settings={"window": window, "context": context, "unknown": unknown,
                  "feeding": "windows", "requested": tracks if isinstance(tracks, str)
                  else list(tracks)})
