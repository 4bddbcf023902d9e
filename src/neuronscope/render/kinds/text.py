"""The text kind: token sequences shown as text, each character (or token) shaded by the
unit, around the position where the unit peaks.

Any text model whose InputSpec names a tokenizer (`neuronscope.core.text.codec_for`: a
character vocabulary, or a registered one such as WordPiece) is drawn alike: top examples
rank each input by its highest position (``reduce = "max"``), and each is shown as a
snippet of context around that position, the peak outlined.
"""

from __future__ import annotations

from typing import Any

import torch

from ...core.text import codec_for
from ..examples import text_html
from . import InputKind, Picture, register_kind

BEFORE, AFTER = 64, 24  # characters of context shown before and after the peak
TOKENS_BEFORE, TOKENS_AFTER = 20, 8  # the same for models with subword tokens
SAMPLE_CHARS, SAMPLE_TOKENS = 96, 28  # how much of a random example is shown


@register_kind
class TextKind(InputKind):
    """Sequences of token ids [T] of a model whose `InputSpec` names its tokenizer."""

    name = "text"
    needs_traces = True
    reduce = "max"  # a unit of text fires at some position: inputs ranked by their peak

    def accepts(self, spec: Any, sample: torch.Tensor) -> bool:
        return (sample.dim() == 1 and not sample.is_floating_point()
                and codec_for(spec) is not None)

    def examples(self, shown: Any) -> Picture:
        codec = codec_for(shown.spec)
        before, after = _context(codec)
        snippets, rows, marks = [], [], []
        for i, ids in enumerate(shown.inputs):
            pieces = codec.pieces(ids.tolist())
            trace = (shown.traces[i].tolist() if shown.traces is not None
                     else [0.0] * len(pieces))
            peak = _peak(shown.positions[i] if i < len(shown.positions) else (), trace)
            lo, hi = max(0, peak - before), min(len(pieces), peak + after + 1)
            kept = [j for j in range(lo, hi) if pieces[j]]  # padding shows as nothing
            snippets.append([pieces[j] for j in kept])
            rows.append([trace[j] for j in kept])
            marks.append(kept.index(peak) if peak in kept else None)
        return text_html(snippets, rows, titles=[f"{v:.3g}" for v in shown.values],
                         marks=marks)

    def brief(self, shown: Any) -> str | None:
        """The top example's few characters (or tokens) around its peak, shaded, in a
        72-pixel box."""
        if not shown.inputs:
            return None
        codec = codec_for(shown.spec)
        pieces = codec.pieces(shown.inputs[0].tolist())
        trace = shown.traces[0].tolist() if shown.traces is not None else [0.0] * len(pieces)
        peak = _peak(shown.positions[0] if shown.positions else (), trace)
        before, after = (10, 5) if codec.unit_name == "character" else (3, 2)
        kept = [j for j in range(max(0, peak - before), min(len(pieces), peak + after + 1))
                if pieces[j]]
        body = text_html([[pieces[j] for j in kept]], [[trace[j] for j in kept]],
                         marks=[kept.index(peak) if peak in kept else None])
        return (f"<span class='nopicture' style='overflow: hidden; font-size: 9px; "
                f"text-align: left'>{body}</span>")

    def samples(self, inputs: list[torch.Tensor], spec: Any) -> Picture:
        codec = codec_for(spec)
        most = SAMPLE_CHARS if codec.unit_name == "character" else SAMPLE_TOKENS
        texts = [[p for p in codec.pieces(x.tolist()) if p][:most] for x in inputs]
        return text_html(texts, [[0.0] * len(t) for t in texts])


def _context(codec: Any) -> tuple[int, int]:
    return (BEFORE, AFTER) if codec.unit_name == "character" else (TOKENS_BEFORE,
                                                                   TOKENS_AFTER)


def _peak(position: tuple[int, ...], trace: list[float]) -> int:
    """The position of the example's maximum (recorded while mining), else the trace's."""
    if position and 0 <= position[0] < len(trace):
        return int(position[0])
    return max(range(len(trace)), key=trace.__getitem__) if trace else 0
