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

from ...core.data import ignored_ids
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

    def describe(self, positions: bool, field: str | None = None) -> str:
        if not positions:
            return "the start of each input (the unit has one value per input)"
        return "a snippet of each input around its peak, every token shaded by the unit"

    def examples(self, shown: Any) -> Picture:
        return _snippets(codec_for(shown.spec), shown.inputs, shown.traces,
                         _in_steps(shown), titles=[f"{v:.3g}" for v in shown.values],
                         spec=shown.spec)

    def brief(self, shown: Any) -> str | None:
        """The top example's few characters (or tokens) around its peak, shaded, in a
        72-pixel box."""
        if not shown.inputs:
            return None
        codec = codec_for(shown.spec)
        body = _snippets(codec, shown.inputs[:1], shown.traces, _in_steps(shown)[:1],
                         context=(10, 5) if codec.unit_name == "character" else (3, 2),
                         spec=shown.spec)
        return (f"<span class='nopicture' style='overflow: hidden; font-size: 9px; "
                f"text-align: left'>{body}</span>")

    def samples(self, inputs: list[torch.Tensor], spec: Any,
                traces: torch.Tensor | None = None) -> Picture:
        """Random examples: shaded around their peak when `traces` are given, else the
        start of each, plain."""
        codec = codec_for(spec)
        if traces is not None:
            return _snippets(codec, inputs, traces, [()] * len(inputs), spec=spec)
        most = SAMPLE_CHARS if codec.unit_name == "character" else SAMPLE_TOKENS
        texts = [[p for p in codec.pieces(x.tolist()) if p][:most] for x in inputs]
        return text_html(texts, [[0.0] * len(t) for t in texts])


def _in_steps(shown: Any) -> list[tuple[int, ...] | None]:
    """Each example's recorded peak as an input step (`Shown.peaks`): ``(step,)``; ``()``
    where there is none to show (-1); None where it falls past the input's end."""
    if shown.peaks is None:
        return list(shown.positions)
    return [None if p is None else () if p < 0 else (p,) for p in shown.peaks]


def _snippets(codec: Any, inputs: list[torch.Tensor], traces: torch.Tensor | None,
              positions: list[tuple[int, ...] | None], titles: list[str] | None = None,
              context: tuple[int, int] | None = None, spec: Any = None) -> str:
    """Each input as a snippet of `context` (before, after) around its peak (the recorded
    position as an input step, else the trace's maximum over the tokens that carry text),
    shaded by the trace, the peak outlined; an input whose trace is the same at every
    step (a unit with one value per input) from its start, with no peak; one whose
    recorded peak lies past its end (position None: a layer longer than its input) by
    its end, no peak outlined, its title saying so."""
    before, after = context or _context(codec)
    snippets, rows, marks, titles = [], [], [], list(titles) if titles else titles
    for i, ids in enumerate(inputs):
        pieces = codec.pieces(ids.tolist())
        trace = traces[i].tolist() if traces is not None else [0.0] * len(pieces)
        position = positions[i] if i < len(positions) else ()
        if position is None:  # the layer's maximum is past the input's end: show the end
            ignore = set(ignored_ids(spec))
            hi = 1 + max((j for j, t in enumerate(ids.tolist()) if t not in ignore), default=0)
            peak, lo = -1, max(0, hi - before - after - 1)
            if titles:
                titles[i] += " (at a position past the input's end)"
        elif not position and len(set(trace)) <= 1:  # no peak (a unit without positions)
            peak, lo, hi = -1, 0, min(len(pieces), before + after + 1)  # from the start
        else:
            peak = _peak(position, trace, set(ignored_ids(spec)), ids.tolist())
            lo, hi = max(0, peak - before), min(len(pieces), peak + after + 1)
        kept = [j for j in range(lo, hi) if pieces[j]]  # padding shows as nothing
        snippets.append([pieces[j] for j in kept])
        rows.append([trace[j] for j in kept])
        marks.append(kept.index(peak) if peak in kept else None)
    return text_html(snippets, rows, titles=titles, marks=marks)


def _context(codec: Any) -> tuple[int, int]:
    return (BEFORE, AFTER) if codec.unit_name == "character" else (TOKENS_BEFORE,
                                                                   TOKENS_AFTER)


def _peak(position: tuple[int, ...], trace: list[float], ignore: set[int] | None = None,
          ids: list[int] | None = None) -> int:
    """The position of the example's maximum (recorded while mining), else the trace's
    over the tokens not in `ignore` (padding, [CLS] ...)."""
    if position and 0 <= position[0] < len(trace):
        return int(position[0])
    steps = [j for j in range(len(trace)) if not (ignore and ids and ids[j] in ignore)]
    return max(steps or range(len(trace)), key=trace.__getitem__) if trace else 0
