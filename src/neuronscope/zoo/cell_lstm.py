"""An ``nn.LSTM`` whose per-step states are layers of their own (`CellLSTM`), for hooks to
record and edit: ``h``, ``c`` and ``tanh_c``, each [B, T, units] (see `neuronscope.zoo.charlm`
for how edits reach the recurrence).

- ``c``: the cell state c_t, what the cell remembers (unbounded);
- ``tanh_c``: tanh(c_t), what the cell offers its output gate (h_t = o_t * tanh(c_t)),
  in [-1, 1]: the value Karpathy, Johnson and Fei-Fei (2015) colour text by, and the one
  to correlate a cell with features of the text by (c itself may drift far from 0 where
  nothing reads it); saturated cells tie at 1.0, so c ranks inputs better;
- ``h``: the hidden state h_t, what the next layer and the next step see.

Example:
    >>> lstm = CellLSTM(4, 3).eval()
    >>> h, c = lstm.steps(torch.zeros(2, 5, 4))
    >>> h.shape, c.shape
    (torch.Size([2, 5, 3]), torch.Size([2, 5, 3]))
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from neuronscope.core.errors import NeuronscopeError

State = tuple[torch.Tensor, torch.Tensor]  # (h, c) of a CellLSTM, each [1, B, H]
Clamp = tuple[torch.Tensor, torch.Tensor]  # (where the hooks changed states, their values)
ORDER = ("c", "tanh_c", "h")  # the order in which each step computes its states


class TokenError(NeuronscopeError, ValueError):
    """Input to a character model that is not a batch of token ids of its vocabulary."""


class StepStates(nn.Identity):
    """The states of every step of a `CellLSTM`, [B, T, units]: a name for hooks to hold.

    Called once per pass on the stacked states; what its hooks return is what the
    recurrence uses (see `neuronscope.zoo.charlm`).
    """


def watched(*modules: nn.Module) -> bool:
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


def _clamp(out: torch.Tensor, raw: torch.Tensor) -> Clamp | None:
    """(where the hooks changed the states, the values they gave), or None for nowhere."""
    changed = (out != raw) & ~(torch.isnan(out) & torch.isnan(raw))
    return (changed, out) if bool(changed.any()) else None


class _Steps:
    """What one run of the steps computed, per state name: the raw states of every step
    and the ones the steps went on with (the raw ones where no hook edited them)."""

    def __init__(self, clamps: dict[str, Clamp | None]) -> None:
        self.clamps = clamps
        self.raw: dict[str, list[torch.Tensor]] = {n: [] for n in ORDER}
        self.used: dict[str, list[torch.Tensor]] = {n: [] for n in ORDER}

    def take(self, name: str, t: int, value: torch.Tensor) -> torch.Tensor:
        """Keep step `t`'s raw `value` of state `name`; the value the step goes on with."""
        self.raw[name].append(value)
        clamp = self.clamps.get(name)
        if clamp is None:
            return value
        value = torch.where(clamp[0][:, t], clamp[1][:, t], value)
        self.used[name].append(value)
        return value

    def stacked(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(raw, used) states of `name`, [B, T, H] each (the same tensor when unedited)."""
        raw = torch.stack(self.raw[name], 1)
        return raw, (torch.stack(self.used[name], 1) if self.used[name] else raw)


class CellLSTM(nn.LSTM):
    """A one-layer, batch-first ``nn.LSTM`` whose per-step states are the layers ``c``,
    ``tanh_c`` and ``h`` ([B, T, units] each; see the module docstring). Same parameters
    and state dict as ``nn.LSTM``, but it returns only the output [B, T, H] (the hidden
    states, as ``h`` left them): nn.LSTM's final states [1, B, H] put the batch second,
    which methods that take axis 0 for the batch cannot use, and they are the last step
    of ``h`` / ``c`` anyway. `steps` gives the stacked h and c.

    Example:
        >>> lstm = CellLSTM(4, 3).eval()
        >>> lstm(torch.zeros(2, 5, 4)).shape
        torch.Size([2, 5, 3])
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size, num_layers=1, batch_first=True)
        self.h = StepStates()
        self.c = StepStates()
        self.tanh_c = StepStates()

    def states(self) -> tuple[nn.Module, ...]:
        """The state layers (``c``, ``tanh_c``, ``h``), in the order each step makes them."""
        return tuple(getattr(self, n) for n in ORDER)

    def forward(self, x: torch.Tensor, hx: State | None = None) -> torch.Tensor:
        """The hidden states [B, T, H] of a batch `x` [B, T, input_size], from the initial
        states `hx` (``(h_0, c_0)``, each [1, B, H] as for nn.LSTM; zeros by default)."""
        if x.dim() != 3:
            raise TokenError(f"CellLSTM takes a batch of sequences [batch, time, features], "
                             f"got shape {tuple(x.shape)}")
        if self.training and not watched(*self.states()):
            return super().forward(x, hx)[0]
        return self.steps(x, hx)[0]

    def _run(self, xproj: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
             clamps: dict[str, Clamp | None]) -> _Steps:
        """Run the steps, the states in `clamps` held where the hooks edited them."""
        w_hh, run = self.weight_hh_l0, _Steps(clamps)
        for t in range(xproj.shape[1]):
            i, f, g, o = (xproj[:, t] + h @ w_hh.T).chunk(4, dim=1)
            c = run.take("c", t, torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g))
            a = run.take("tanh_c", t, torch.tanh(c))
            h = run.take("h", t, torch.sigmoid(o) * a)
        return run

    def steps(self, x: torch.Tensor, hx: State | None = None) -> State:
        """The step-by-step path: (h, c) [B, T, H] each, as the hooks on ``h`` and ``c``
        left them; the recurrence uses what the hooks on ``c``, ``tanh_c`` and ``h``
        return (see `neuronscope.zoo.charlm`). ``h[:, -1]`` and ``c[:, -1]`` are
        nn.LSTM's final states."""
        b, n = x.shape[0], self.hidden_size
        h0, c0 = (x.new_zeros(b, n),) * 2 if hx is None else \
            (hx[0].reshape(b, n), hx[1].reshape(b, n))
        if x.shape[1] == 0:
            raise TokenError("CellLSTM got an empty sequence: give at least one step")
        xproj = F.linear(x, self.weight_ih_l0, self.bias_ih_l0 + self.bias_hh_l0)
        clamps: dict[str, Clamp | None] = {}
        limit = 2 * x.shape[1] + 4
        for _ in range(limit):
            run, outs = self._run(xproj, h0, c0, clamps), {}
            for name in ORDER:
                raw, used = run.stacked(name)
                outs[name] = getattr(self, name)(raw)
                if not _settled(outs[name], raw, used, f"lstm.{name}"):
                    clamps[name] = _clamp(outs[name], raw)
                    break
            else:
                return outs["h"], outs["c"]
        raise NeuronscopeError(
            f"the edits on lstm.c / lstm.tanh_c / lstm.h did not settle within {limit} "
            "passes of the recurrence: an edit of the states must depend on each step's own "
            "value (an ablation, a scaling) for the recurrence to take it at every step")
