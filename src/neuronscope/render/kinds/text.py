"""The text kind: token sequences shown as text, each character shaded by the unit."""

from __future__ import annotations

from typing import Any

import torch

from ..examples import text_html
from . import InputKind, Picture, register_kind


@register_kind
class TextKind(InputKind):
    """Sequences of character ids [T] of a model whose `InputSpec` has a vocabulary."""

    name = "text"
    needs_traces = True

    def accepts(self, spec: Any, sample: torch.Tensor) -> bool:
        return (spec is not None and bool(getattr(spec, "vocab", None)) and sample.dim() == 1
                and not sample.is_floating_point())

    def examples(self, shown: Any) -> Picture:
        texts = [_decode(x, shown.spec.vocab) for x in shown.inputs]
        rows = (shown.traces.tolist() if shown.traces is not None
                else [[0.0] * len(t) for t in texts])
        return text_html(texts, rows, titles=[f"{v:.3g}" for v in shown.values])

    def samples(self, inputs: list[torch.Tensor], spec: Any) -> Picture:
        texts = [_decode(x, spec.vocab) for x in inputs]
        return text_html(texts, [[0.0] * len(t) for t in texts])


def _decode(ids: torch.Tensor, vocab: str) -> str:
    return "".join(vocab[int(t)] for t in ids)
