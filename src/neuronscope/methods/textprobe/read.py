"""How the text probe reads a text: the model's layer run over the text's tokens in one
pass, or in windows (`cut_windows`) where the model reads a limited number of tokens (its
codec's ``max_tokens``) or fails on more than its InputSpec's length (`read`).
"""

from __future__ import annotations

import torch
from torch import nn

from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.layers import eval_mode
from neuronscope.core.model import model_device
from neuronscope.core.recording import record
from neuronscope.core.spec import input_spec
from neuronscope.core.text import Encoded, TextCodec

BATCH = 16  # windows run at once


class ModelFailed(NeuronscopeError):
    """The model raised on a batch of windows; ``first`` is the first line of its error."""

    def __init__(self, message: str, first: str) -> None:
        super().__init__(message)
        self.first = first


def spec_length(model: nn.Module) -> int | None:
    """The number of tokens a text model's InputSpec gives (``shape[0]`` of a 1-D spec): a
    length the model says it reads; None for other specs."""
    spec = input_spec(model)
    if spec is None or spec.kind != "text" or len(spec.shape) != 1:
        return None
    return int(spec.shape[0]) if int(spec.shape[0]) > 0 else None


def read(model: nn.Module, codec: TextCodec, text: str, enc: Encoded, layer: str,
          axis: int | None) -> tuple[torch.Tensor, list[tuple[int, int, int]], list[str]]:
    """The layer's values [windows, T, units], which part of each window to keep (see
    `cut_windows`) and the notes: in windows of ``codec.max_tokens`` where the model gives
    one; else in one pass, and in windows of the InputSpec's length only if that pass
    fails on a text longer than it (a model that reads any length never gets there)."""
    windows, keep, notes = cut_windows(codec, text, enc, codec.max_tokens)
    length = spec_length(model)
    try:
        return run_windows(model, layer, windows, axis), keep, notes
    except ModelFailed as whole:
        if codec.max_tokens is not None or length is None or len(enc.ids) <= length:
            raise
        why = (f"the model failed on the whole text of {len(enc.ids):,} {codec.unit_name}s "
               f"({whole.first}), longer than its InputSpec's {length}, which gives no "
               "extra['max_length']")
        windows, keep, notes = cut_windows(codec, text, enc, length, why)
        try:
            values = run_windows(model, layer, windows, axis)
        except ModelFailed as part:
            raise NeuronscopeError(
                f"the model failed on the whole text of {len(enc.ids)} tokens and on windows "
                f"of {length} tokens, its InputSpec's length ({part.first}): check that it "
                "runs on an input of its InputSpec's shape, and give the most tokens it "
                "reads at once in InputSpec.extra['max_length']") from None
    notes[-1] += (f"; InputSpec.extra['max_length'] = {length} reads it so without trying "
                  "the whole text first")
    return values, keep, notes


def cut_windows(codec: TextCodec, text: str, enc: Encoded, limit: int | None,
             why: str | None = None
             ) -> tuple[list[list[int]], list[tuple[int, int, int]], list[str]]:
    """The sequences of at most `limit` tokens to run and, in the order of `enc`'s
    tokens, (window, start, end) of the values each gives; and a note when the text took
    several windows, starting with `why` (by default: the text is over `limit`)."""
    if limit is None or len(enc.ids) <= limit:
        return [enc.ids], [(0, 0, len(enc.ids))], []
    marked = codec.frame([-1])
    pre, post = marked.index(-1), len(marked) - marked.index(-1) - 1
    stream = codec.stream(text)
    inner = [i for i, s in zip(enc.ids, enc.special, strict=True) if not s]
    if stream != inner or enc.special[:pre] != [True] * pre or sum(enc.special) != pre + post:
        raise NeuronscopeError("the tokenizer cuts this text differently as one sequence and "
                               "as a stream, so windows cannot be joined: probe a shorter "
                               f"text (at most {limit} tokens)")
    w = limit - pre - post
    starts = list(range(0, len(stream), w))
    starts[-1] = len(stream) - w  # the last window full: it overlaps the one before
    windows = [codec.frame(stream[s:s + w]) for s in starts]
    keep = [(0, 0, pre)]  # the leading specials from the first window
    done = 0
    for n, s in enumerate(starts):
        keep.append((n, pre + done - s, pre + min(s + w, len(stream)) - s))
        done = min(s + w, len(stream))
    keep.append((len(starts) - 1, pre + w, pre + w + post))
    if why is None:
        why = (f"the text is {len(stream):,} {codec.unit_name}s, over the {limit} this "
               "model reads at once")
    framed = " framed as one sequence each" if pre + post else ""
    note = (f"{why}: it was read in {len(windows)} windows of {w} {codec.unit_name}s{framed} "
            "(the last overlapping the one before); each token sees only its own window")
    return windows, keep, [note]


@torch.no_grad()
def run_windows(model: nn.Module, layer: str, windows: list[list[int]], axis: int | None = 2
         ) -> torch.Tensor:
    """The layer's values [windows, tokens, units] for equal-length token windows (the
    units on `axis` of the layer's output)."""
    device, out = model_device(model), []
    with eval_mode(model):
        for b in range(0, len(windows), BATCH):
            x = torch.tensor(windows[b:b + BATCH], dtype=torch.long, device=device)
            try:
                with record(model, [layer]) as rec:
                    model(x)
            except (RuntimeError, ValueError, IndexError) as exc:  # the model's own, on one line
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise ModelFailed(
                    f"the model failed on {x.shape[1]} tokens ({first}); a model that reads "
                    "a fixed or limited number of tokens says so in its InputSpec: "
                    "extra['max_length'] = N (longer text is then read in windows of N)",
                    first) from None
            v = rec[layer]
            if v.dim() == 3 and axis == 1:  # [batch, units, tokens]
                v = v.transpose(1, 2)
            if v.dim() != 3 or tuple(v.shape[:2]) != tuple(x.shape):
                raise NeuronscopeError(f"{layer} gave {tuple(v.shape)} for {tuple(x.shape)} "
                                       "token ids: the probe needs [batch, tokens, units]")
            out.append(v.float().cpu())
    return torch.cat(out)
