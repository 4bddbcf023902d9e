"""Running only the part of a model above one layer, many variants of that layer at once.

Lesion studies change one layer's output in many ways (a unit silenced, then
another, ...) and need the model's output for each. Recomputing everything below
the layer every time is waste. `LayerSplit` traces the model with ``torch.fx``,
runs it once per input batch keeping every value the upper part needs, and then
runs only the nodes that depend on the layer, for ``M`` variants of its output
stacked along the batch axis. Residual paths that bypass the layer are served from
the kept values, so branching networks split too.

A model that ``torch.fx`` cannot trace, a layer called more than once, an output
element address (``lstm[0]``) or a split that does not reproduce the model's own
output falls back to full forward passes with a patch hook, one per variant (a log
line says which and why).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from torch import fx, nn

from .data import run_model
from .hooks import patch
from .units import Unit, find_module

logger = logging.getLogger(__name__)

# fn(layer output [B, ...]) -> M variants stacked: [M * B, ...] (variant-major)
Variants = Callable[[torch.Tensor], torch.Tensor]
Single = Callable[[torch.Tensor, int], torch.Tensor]  # (layer output, i) -> variant i


class _Tracer(fx.Tracer):
    """torch.fx's tracer, keeping the layer's module as one call even when it is a block."""

    def __init__(self, layer: str) -> None:
        super().__init__()
        self.layer = layer

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return qualname == self.layer or super().is_leaf_module(m, qualname)


class LayerSplit:
    """Evaluate a model with `M` variants of one layer's output, for a batch of inputs.

    Example:
        >>> import torch, torch.nn as nn
        >>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).eval()
        >>> split = LayerSplit(model, "1")
        >>> x = torch.randn(5, 3)
        >>> out = split.run(x, lambda h: torch.cat([h, torch.zeros_like(h)]), m=2)
        >>> out.shape, split.fast
        (torch.Size([10, 2]), True)
    """

    def __init__(self, model: nn.Module, layer: str) -> None:
        self.model, self.layer = model, str(Unit.parse(layer))
        unit = Unit.parse(layer)
        find_module(model, unit.module_path)  # LayerNotFoundError with suggestions
        self.fast, self.why = False, ""
        self._graph: fx.GraphModule | None = None
        if unit.keys:
            self.why = f"{self.layer} is an element of a module's output"
            return
        try:
            tracer = _Tracer(unit.layer)
            gm = fx.GraphModule(model, tracer.trace(model))
        except Exception as exc:  # noqa: BLE001 - any tracing failure means: no split
            self.why = f"torch.fx cannot trace {type(model).__name__} ({type(exc).__name__})"
            return
        nodes = [n for n in gm.graph.nodes if n.op == "call_module" and n.target == unit.layer]
        if not nodes:
            self.why = (f"{self.layer} is not among the calls torch.fx traced (it runs inside "
                        "a module the trace keeps whole, or on a path the trace did not take)")
            return
        if len(nodes) > 1:
            self.why = f"{self.layer} is called {len(nodes)} times in one pass"
            return
        self._graph, self._node = gm, nodes[0]
        order = list(gm.graph.nodes)
        above = {self._node}
        for n in order[order.index(self._node) + 1:]:
            if any(a in above for a in n.all_input_nodes):
                above.add(n)
        self._above = [n for n in order if n in above and n is not self._node]
        self._needed = {a for n in self._above for a in n.all_input_nodes if a not in above}
        self.fast, self._checked = True, False

    def _fallback(self, x: Any, variants: Variants, m: int,
                  single: Single | None = None) -> torch.Tensor:
        outputs = []
        # the layer's output is the same in every pass: make the M variants once, not once
        # per pass; but a layer called again within a pass on other values (a recurrent
        # state that settles, see zoo/cell_lstm.py) gets variants of what it is called on:
        # `single(t, i)` makes variant i alone, else all M are made again
        made: list[tuple[torch.Tensor, torch.Tensor]] = []
        for i in range(m):
            def one(t: torch.Tensor, i: int = i) -> torch.Tensor:
                if made and (made[0][0] is t or torch.equal(made[0][0], t)):
                    return made[0][1][i]
                if made and single is not None:
                    return single(t, i)
                made[:] = [(t, variants(t).view(m, *t.shape))]
                return made[0][1][i]

            with patch(self.model, self.layer, one):
                outputs.append(run_model(self.model, x))
        return _cat(outputs)

    @torch.no_grad()
    def run(self, x: Any, variants: Variants, m: int, single: Single | None = None) -> Any:
        """The model's outputs [M * B, ...] for the M variants of the layer (variant-major;
        for a dict or tuple output, each of its tensors stacked so).

        `variants` maps the layer's output [B, ...] to the M variants stacked along
        the batch axis [M * B, ...]; `single(t, i)`, where given, makes variant i alone
        (equal to ``variants(t)[i]``), for a layer run again within a pass.
        """
        if not self.fast or isinstance(x, dict):  # keyword inputs: whole passes
            return self._fallback(x, variants, m, single)
        kept, layer_out = self._below(x)
        if not self._checked:  # the split must give the model's own output
            self._checked = True
            same = self._above_run(kept, layer_out.clone(), 1)
            if not _close(same, run_model(self.model, x)):
                self.fast, self.why = False, "the split did not reproduce the model's output"
                logger.info("LayerSplit(%s): %s; using full forward passes", self.layer, self.why)
                return self._fallback(x, variants, m, single)
        return self._above_run(kept, variants(layer_out), m)

    def _below(self, x: Any) -> tuple[dict[fx.Node, Any], torch.Tensor]:
        """Run the graph up to the layer; keep what the upper part needs (cloned)."""
        assert self._graph is not None
        interp = fx.Interpreter(self._graph)
        args = x if isinstance(x, tuple) else (x,)
        placeholders = iter(args)
        kept: dict[fx.Node, Any] = {}
        for node in self._graph.graph.nodes:
            if node.op == "placeholder":
                interp.env[node] = next(placeholders)
            elif node in self._above:
                continue
            else:
                interp.env[node] = interp.run_node(node)
            if node in self._needed:
                value = interp.env[node]
                kept[node] = value.clone() if isinstance(value, torch.Tensor) else value
            if node is self._node:
                layer_out = interp.env[node]
        return kept, layer_out.clone()

    def _above_run(self, kept: dict[fx.Node, Any], stacked: torch.Tensor, m: int) -> torch.Tensor:
        """Run the nodes that depend on the layer, every kept batch value repeated M times."""
        assert self._graph is not None
        interp = fx.Interpreter(self._graph)
        b = stacked.shape[0] // m
        for node, value in kept.items():
            batched = (isinstance(value, torch.Tensor) and node.op != "get_attr"
                       and value.dim() > 0 and value.shape[0] == b)
            interp.env[node] = value.repeat(m, *([1] * (value.dim() - 1))) if batched else value
        interp.env[self._node] = stacked
        out = stacked
        for node in self._above:
            if node.op == "output":
                out = interp.fetch_args_kwargs_from_env(node)[0][0]
                break
            interp.env[node] = interp.run_node(node)
        return out


def _cat(outputs: list[Any]) -> Any:
    """Outputs of several passes joined along the batch axis, tensor by tensor."""
    first = outputs[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(outputs)
    if isinstance(first, dict):
        return {key: _cat([o[key] for o in outputs]) for key in first}
    if isinstance(first, (tuple, list)):
        return type(first)(_cat(list(parts)) for parts in zip(*outputs, strict=True))
    return first


def _close(a: Any, b: Any) -> bool:
    """Whether two outputs hold the same structure and nearly the same tensors."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and torch.allclose(a, b, rtol=1e-4, atol=1e-5)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return False
