"""A character-level LSTM language model whose cells are addressable (zoo ``pysource-lstm``).

The model (`CharLSTM`) is ``embed -> lstm -> decoder``: token ids [B, T] in, next-character
logits [B, T, V] out. Its recurrent layer (`CellLSTM` in `neuronscope.zoo.cell_lstm`, an
``nn.LSTM`` with the same parameters and state dict) has three children that name the
states of every step, [B, T, units] each; a unit is one cell, on the last axis (declared
with `set_unit_axis` by `char_lstm`):

- ``lstm.c``: the cell state c_t, what the cell remembers (unbounded);
- ``lstm.tanh_c``: tanh(c_t), what the cell offers its output gate, in [-1, 1]: the
  value Karpathy, Johnson and Fei-Fei (2015) colour text by, and the one to correlate
  with features of the text (``explain_cells(m, text, layer="lstm.tanh_c")``): c drifts
  far from 0 where nothing reads it, which blurs a correlation;
- ``lstm.h``: the hidden state h_t = o_t * tanh(c_t).

How hooks see and edit the states. A hook on a module runs once per call, and
neuronscope records every call of a module separately (``rec.calls``), refusing to pick
one for ``rec[name]``. Calling ``lstm.c`` once per step would give T outputs of
[B, units] instead of one [B, T, units]; so each of ``lstm.h`` and ``lstm.c`` is called
*once per pass, on the stacked states of all steps*. But an edit made on the stacked
states comes after the recurrence has run, so the recurrence is fed back from what the
hooks returned, until the two agree:

1. the steps run (``c_t = f*c + i*g``, ``h_t = o*tanh(c_t)``, nn.LSTM's own equations);
2. ``lstm.c`` is called on the stacked raw c (what each step computed). When its hooks
   return it unchanged (recording, `tap`, no hook at all: the usual case) nothing more
   happens: one call, one pass. When they change some entries (`ablate`, `patch`), the
   steps run again with those entries of c replaced, at every step, by what the hooks
   returned, so that later steps see the edited cells (h_t is computed from the edited
   c_t, and the next step's gates from that h_t); ``lstm.c`` is called again on the new
   raw c, and so on until what the hooks return equals what the steps used. For an
   ablation to a value that takes one extra pass. Then ``lstm.tanh_c`` and ``lstm.h``
   are treated alike, in that order (an edit of ``lstm.tanh_c`` reaches h_t, not that
   step's c: the cell keeps what it remembers; later steps' c change only through gates
   that read the edited h).

So ``ns.ablate(m, "lstm.c:5")`` holds cell 5 at 0 at every step, inside the recurrence,
and an edit that depends only on each step's own value (``t * 2``) settles within T + 1
passes; one that does not settle within ``2 T + 4`` passes raises an error rather than
return an unsettled state. The price of the repeat: a module whose hooks edit runs
several times in that forward pass, and every call is seen, as for any module that runs
twice. ``rec["lstm.h"]`` under ``ablate(m, "lstm.c:5")`` is one call of the settled
states, but recording the edited layer itself, or a state made before it, in the same
pass (``lstm.c`` under ``ablate(m, "lstm.c:5")`` or ``"lstm.tanh_c:5"``) sees each pass:
``rec["lstm.c"]`` refuses and
``rec.calls("lstm.c")[-1]`` is the settled one (as its hooks left it: with the record
inside the ablation's ``with`` block, cell 5 reads 0). ``value="mean"`` settles on a
mean that is the mean of the cell under its own ablation (the fixed point), to 1e-6.

The step loop runs in eval mode (every neuronscope method runs models in eval mode) and
whenever a hook watches one of the states; in train mode with no such hook the
fused ``nn.LSTM`` kernel runs (training speed). The two give the same outputs to about
1e-6 (tested).

Training (next-character prediction, stateful as in char-rnn) is the task ``"charlm"``
in `neuronscope.zoo.charlm_task`.

Dataset examples: ``ns.top_examples(m, pysource_windows, layers=["lstm.c"])`` ranks each
window by the cell's peak over its characters (``reduce="max"``; or its mean) and keeps
the character position of the peak (``.positions[u, j, 0]``): the window is the context
of that character. One window counts once, however many of its characters are high.

Example:
    >>> import torch, neuronscope as ns
    >>> m = char_lstm(98, embed=8, hidden=16).eval()
    >>> ids = torch.randint(0, 98, (2, 5))
    >>> with ns.record(m, ["lstm.h", "lstm.c"]) as rec:
    ...     logits = m(ids)
    >>> logits.shape, rec["lstm.c"].shape
    (torch.Size([2, 5, 98]), torch.Size([2, 5, 16]))
    >>> with ns.ablate(m, "lstm.c:5"), ns.record(m, "lstm.h") as rec:
    ...     _ = m(ids)
    >>> bool((rec["lstm.h"][..., 5] == 0).all())  # h = o * tanh(c): cell 5 silent at every step
    True
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from neuronscope.core.axes import set_unit_axis

from .cell_lstm import CellLSTM, State, TokenError, watched

__all__ = ["CellLSTM", "CharLSTM", "State", "TokenError", "char_lstm"]

class CharLSTM(nn.Module):
    """Character language model: ``embed`` [B, T, E] -> ``lstm`` (`CellLSTM`; its states
    ``lstm.h``, ``lstm.c`` [B, T, H]) -> ``decoder`` logits [B, T, V] for the next character.

    Takes token ids [batch, time] (int64, 0 <= id < vocab_size); anything else is refused
    with a `TokenError` saying what would be right.

    Example:
        >>> m = CharLSTM(98, embed=8, hidden=16).eval()
        >>> m(torch.zeros(1, 4, dtype=torch.long)).shape
        torch.Size([1, 4, 98])
    """

    # the cells: what the atlas and top_examples show (explain_cells reads the last);
    # lstm.tanh_c is left out: tanh keeps c's order, but saturated cells tie at 1.0 in
    # float32, so their top examples would be in dataset order
    study_layers = ("lstm.h", "lstm.c")

    def __init__(self, vocab_size: int, embed: int = 48, hidden: int = 256) -> None:
        super().__init__()
        self.vocab_size = int(vocab_size)
        self.embed = nn.Embedding(vocab_size, embed)
        self.lstm = CellLSTM(embed, hidden)
        self.decoder = nn.Linear(hidden, vocab_size)

    def check(self, ids: Any) -> torch.Tensor:
        """`ids` as they are when they are a batch of token ids of the vocabulary, else a
        `TokenError` that says what was wrong."""
        hint = ("encode text with neuronscope.data.pysource.encode(text)[None] (characters "
                "outside the vocabulary become its last id, U+FFFD)")
        if not isinstance(ids, torch.Tensor):
            raise TokenError(f"{type(self).__name__} takes a tensor of token ids "
                             f"[batch, time], got {type(ids).__name__}; {hint}")
        if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
            raise TokenError(f"{type(self).__name__} takes integer token ids [batch, time], "
                             f"got a {ids.dtype} tensor; {hint}")
        if ids.dim() != 2:
            raise TokenError(f"{type(self).__name__} takes token ids [batch, time], got shape "
                             f"{tuple(ids.shape)}" + ("; for one sequence pass ids[None]"
                                                      if ids.dim() == 1 else f"; {hint}"))
        if ids.shape[1] == 0:
            raise TokenError(f"{type(self).__name__} got an empty sequence (shape "
                             f"{tuple(ids.shape)}): give at least one character")
        if ids.numel():
            lo, hi = int(ids.min()), int(ids.max())
            if lo < 0 or hi >= self.vocab_size:
                bad = lo if lo < 0 else hi
                b, t = (ids == bad).nonzero()[0].tolist()
                raise TokenError(
                    f"token id {bad} (sequence {b}, position {t}) is outside the vocabulary: "
                    f"ids go from 0 to {self.vocab_size - 1}; {hint}")
        return ids

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.lstm(self.embed(self.check(ids))))

    def forward_state(self, ids: torch.Tensor, state: State | None = None
                      ) -> tuple[torch.Tensor, State]:
        """(logits [B, T, V], the state after the last character): the forward pass from
        `state` (``(h, c)``, each [1, B, H]; zeros when None), for text fed in consecutive
        pieces (stateful training). The state returned is detached. Train mode with no
        hook on the states runs the fused kernel, else the steps (as `forward`).

        Example:
            >>> m = CharLSTM(98, embed=4, hidden=8).eval()
            >>> ids = torch.randint(0, 98, (2, 6))
            >>> a, state = m.forward_state(ids[:, :3])
            >>> b, _ = m.forward_state(ids[:, 3:], state)
            >>> torch.allclose(torch.cat([a, b], 1), m(ids), atol=1e-6), state[1].shape
            (True, torch.Size([1, 2, 8]))
        """
        x = self.embed(self.check(ids))
        if self.training and not watched(*self.lstm.states()):
            out, (h, c) = nn.LSTM.forward(self.lstm, x, state)
        else:
            out, cs = self.lstm.steps(x, state)
            h, c = out[:, -1][None], cs[:, -1][None]
        return self.decoder(out), (h.detach(), c.detach())


def char_lstm(n_classes: int = 98, embed: int = 48, hidden: int = 256) -> CharLSTM:
    """The architecture of ``pysource-lstm``: a `CharLSTM` over `n_classes` characters,
    with its state layers' unit axis declared (the last: [B, T, units]).

    Example:
        >>> m = char_lstm(98, hidden=32)
        >>> m.lstm.hidden_size, m.decoder.out_features
        (32, 98)
    """
    model = CharLSTM(n_classes, embed=embed, hidden=hidden)
    for layer in ("lstm.h", "lstm.c", "lstm.tanh_c"):
        set_unit_axis(model, layer, 2)
    return model
