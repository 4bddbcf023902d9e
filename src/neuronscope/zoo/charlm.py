"""A character-level LSTM language model whose cells are addressable (zoo ``pysource-lstm``).

The model (`CharLSTM`) is ``embed -> lstm -> decoder``: token ids [B, T] in, next-character
logits [B, T, V] out. Its recurrent layer (`CellLSTM`, an ``nn.LSTM`` with the same
parameters and state dict) has two children that name the states of every step:

- ``lstm.h``: the hidden state h_t, [B, T, units];
- ``lstm.c``: the cell state c_t, [B, T, units]; a unit is one cell, on the last axis
  (declared with `set_unit_axis` by `char_lstm`).

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
   ablation to a value that takes one extra pass. Then ``lstm.h`` is treated alike.

So ``ns.ablate(m, "lstm.c:5")`` holds cell 5 at 0 at every step, inside the recurrence,
and an edit that depends only on each step's own value (``t * 2``) settles within T + 1
passes; one that does not settle within ``2 T + 4`` passes raises an error rather than
return an unsettled state. The price of the repeat: a module whose hooks edit runs
several times in that forward pass, and every call is seen, as for any module that runs
twice. ``rec["lstm.h"]`` under ``ablate(m, "lstm.c:5")`` is one call of the settled
states, but recording the edited layer itself in the same pass (``lstm.c`` under
``ablate(m, "lstm.c:5")``) sees each pass: ``rec["lstm.c"]`` refuses and
``rec.calls("lstm.c")[-1]`` is the settled one (as its hooks left it: with the record
inside the ablation's ``with`` block, cell 5 reads 0). ``value="mean"`` settles on a
mean that is the mean of the cell under its own ablation (the fixed point), to 1e-6.

The step loop runs in eval mode (every neuronscope method runs models in eval mode) and
whenever a hook watches ``lstm.h`` or ``lstm.c``; in train mode with no such hook the
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
import torch.nn.functional as F
from torch import nn

from neuronscope.core.axes import set_unit_axis
from neuronscope.core.errors import NeuronscopeError

State = tuple[torch.Tensor, torch.Tensor]  # (h, c) of a CellLSTM, each [1, B, H]


class TokenError(NeuronscopeError, ValueError):
    """Input to a character model that is not a batch of token ids of its vocabulary."""


class StepStates(nn.Identity):
    """The states of every step of a `CellLSTM`, [B, T, units]: a name for hooks to hold.

    Called once per pass on the stacked states; what its hooks return is what the
    recurrence uses (see the module docstring).
    """


def _watched(*modules: nn.Module) -> bool:
    """Whether any forward hook (the module's own or a global one) would see `modules`."""
    from torch.nn.modules import module as torch_module

    if getattr(torch_module, "_global_forward_hooks", None) or \
            getattr(torch_module, "_global_forward_pre_hooks", None):
        return True
    return any(m._forward_hooks or m._forward_pre_hooks for m in modules)


def _settled(out: torch.Tensor, raw: torch.Tensor, used: torch.Tensor, where: str
             ) -> bool:
    """Whether the hooks' output `out` (given `raw`) equals the states the steps `used`."""
    if out is raw:
        return used is raw
    if not isinstance(out, torch.Tensor) or out.shape != raw.shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise NeuronscopeError(f"a hook on {where} returned {got}; the recurrence needs a "
                               f"tensor of the states' shape {tuple(raw.shape)}")
    return torch.allclose(out, used, rtol=1e-6, atol=1e-6, equal_nan=True)


def _clamp(out: torch.Tensor, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(where the hooks changed the states, the values they gave), or None for nowhere."""
    changed = (out != raw) & ~(torch.isnan(out) & torch.isnan(raw))
    return (changed, out) if bool(changed.any()) else None


class CellLSTM(nn.LSTM):
    """A one-layer, batch-first ``nn.LSTM`` whose per-step states are the layers ``h``
    and ``c`` ([B, T, units] each; see the module docstring). Same parameters and state
    dict as ``nn.LSTM``, but it returns only the output [B, T, H] (the hidden states, as
    ``lstm.h`` left them): nn.LSTM's final states [1, B, H] put the batch second, which
    methods that take axis 0 for the batch cannot use, and they are the last step of
    ``lstm.h`` / ``lstm.c`` anyway. `steps` gives both stacked states.

    Example:
        >>> lstm = CellLSTM(4, 3).eval()
        >>> lstm(torch.zeros(2, 5, 4)).shape
        torch.Size([2, 5, 3])
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size, num_layers=1, batch_first=True)
        self.h = StepStates()
        self.c = StepStates()

    def forward(self, x: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> torch.Tensor:
        """The hidden states [B, T, H] of a batch `x` [B, T, input_size], from the initial
        states `hx` (``(h_0, c_0)``, each [1, B, H] as for nn.LSTM; zeros by default)."""
        if x.dim() != 3:
            raise TokenError(f"CellLSTM takes a batch of sequences [batch, time, features], "
                             f"got shape {tuple(x.shape)}")
        if self.training and not _watched(self.h, self.c):
            return super().forward(x, hx)[0]
        return self.steps(x, hx)[0]

    def _run(self, xproj: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
             clamp_c: tuple[torch.Tensor, torch.Tensor] | None,
             clamp_h: tuple[torch.Tensor, torch.Tensor] | None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the steps: (raw c, c used, raw h, h used), each [B, T, H]."""
        w_hh = self.weight_hh_l0
        raw_c, used_c, raw_h, used_h = [], [], [], []
        for t in range(xproj.shape[1]):
            i, f, g, o = (xproj[:, t] + h @ w_hh.T).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            raw_c.append(c)
            if clamp_c is not None:
                c = torch.where(clamp_c[0][:, t], clamp_c[1][:, t], c)
                used_c.append(c)
            h = torch.sigmoid(o) * torch.tanh(c)
            raw_h.append(h)
            if clamp_h is not None:
                h = torch.where(clamp_h[0][:, t], clamp_h[1][:, t], h)
                used_h.append(h)
        rc, rh = torch.stack(raw_c, 1), torch.stack(raw_h, 1)
        uc = torch.stack(used_c, 1) if clamp_c is not None else rc
        uh = torch.stack(used_h, 1) if clamp_h is not None else rh
        return rc, uc, rh, uh

    def steps(self, x: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor] | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """The step-by-step path: (h, c) [B, T, H] each, as the hooks on ``lstm.h`` and
        ``lstm.c`` left them; the recurrence uses what those hooks return (see the module
        docstring). ``h[:, -1]`` and ``c[:, -1]`` are nn.LSTM's final states."""
        b, n = x.shape[0], self.hidden_size
        if hx is None:
            h0 = c0 = x.new_zeros(b, n)
        else:
            h0, c0 = hx[0].reshape(b, n), hx[1].reshape(b, n)
        if x.shape[1] == 0:
            raise TokenError("CellLSTM got an empty sequence: give at least one step")
        xproj = F.linear(x, self.weight_ih_l0, self.bias_ih_l0 + self.bias_hh_l0)
        clamp_c = clamp_h = None
        limit = 2 * x.shape[1] + 4
        for _ in range(limit):
            raw_c, used_c, raw_h, used_h = self._run(xproj, h0, c0, clamp_c, clamp_h)
            out_c = self.c(raw_c)
            if not _settled(out_c, raw_c, used_c, "lstm.c"):
                clamp_c = _clamp(out_c, raw_c)
                continue
            out_h = self.h(raw_h)
            if not _settled(out_h, raw_h, used_h, "lstm.h"):
                clamp_h = _clamp(out_h, raw_h)
                continue
            return out_h, out_c
        raise NeuronscopeError(
            f"the edits on lstm.c / lstm.h did not settle within {limit} passes of the "
            "recurrence: an edit of the states must depend on each step's own value "
            "(an ablation, a scaling) for the recurrence to take it at every step")


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

    study_layers = ("lstm.h", "lstm.c")  # the cells: what the atlas and top_examples show

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
        if self.training and not _watched(self.lstm.h, self.lstm.c):
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
    for layer in ("lstm.h", "lstm.c"):
        set_unit_axis(model, layer, 2)
    return model
