"""Backward rules for every ReLU of a forward pass: guided backprop and the deconvnet.

`ReluRules` is a `torch.overrides.TorchFunctionMode`: inside its block every ReLU-like
call, however it is written, runs its usual forward but takes a rule's backward:
``nn.ReLU`` and ``nn.ReLU6`` modules (inplace or not), ``F.relu``, ``torch.relu``,
``Tensor.relu``, their ``_`` in-place forms, ``F.relu6``, ``F.hardtanh`` with min 0,
``torch.clamp`` / ``clip`` / ``clamp_min`` with min 0, ``F.threshold`` at 0 and
``F.leaky_relu`` with slope 0. Leaky ReLU of another slope, GELU, SiLU and the like are
not ReLUs: they keep their own gradient, and `inspect_path` lists them.

Rules (grad: the gradient arriving at the ReLU's output; x: its input):
  guided     grad * (x > 0) * (grad > 0)   (Springenberg et al. 2014; within the cap of
             a ReLU6 or clamp, x < max too)
  deconvnet  relu(grad), whatever x was    (Zeiler & Fergus 2014)

Calls the mode cannot see (TorchScript, a torch.compile'd module, a C++ op) are found two
ways: `scripted_modules` before the pass, and `inspect_path` after it, which walks the
autograd graph and finds any ReLU whose backward was left plain.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from .errors import NeuronscopeError

RULES = ("guided", "deconvnet")
Op = Callable[[torch.Tensor], torch.Tensor]


def _zero(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == 0


def _cap(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0)


def _relu(a: dict) -> tuple[Op, float | None]:
    return torch.relu, None


def _hardtanh(a: dict) -> tuple[Op, float | None] | None:
    lo, hi = a["min_val"], a["max_val"]
    ok = _zero(lo) and hi is not None and _cap(hi)
    return (lambda x: F.hardtanh(x, 0.0, float(hi)), float(hi)) if ok else None


def _clamp(a: dict) -> tuple[Op, float | None] | None:
    lo, hi = a["min"], a.get("max")
    if not (_zero(lo) and _cap(hi)):
        return None
    return (lambda x: torch.clamp(x, min=0, max=hi)), (None if hi is None else float(hi))


def _threshold(a: dict) -> tuple[Op, float | None] | None:
    th, value = a["threshold"], a["value"]
    ok = _zero(th) and isinstance(value, (int, float))
    return (lambda x: F.threshold(x, 0.0, value), None) if ok else None


def _leaky(a: dict) -> tuple[Op, float | None] | None:
    return (torch.relu, None) if _zero(a["negative_slope"]) else None


# family: (parameters after the input with defaults, what makes it a ReLU)
_RELU = ({"inplace": False}, _relu)
_RELU6 = ({"inplace": False}, lambda a: (lambda x: F.hardtanh(x, 0.0, 6.0), 6.0))
_HARDTANH = ({"min_val": -1.0, "max_val": 1.0, "inplace": False}, _hardtanh)
_CLAMP = ({"min": None, "max": None}, _clamp)
_CLAMP_MIN = ({"min": None}, _clamp)
_THRESHOLD = ({"threshold": None, "value": None, "inplace": False}, _threshold)
_LEAKY = ({"negative_slope": 0.01, "inplace": False}, _leaky)
_T = torch.Tensor
_FUNCS: dict[Any, tuple[tuple[dict, Callable], bool]] = {  # func -> (family, always in place)
    **{f: (_RELU, False) for f in (F.relu, torch.relu, _T.relu)},
    **{f: (_RELU, True) for f in (torch.relu_, _T.relu_)},
    F.relu6: (_RELU6, False),
    F.hardtanh: (_HARDTANH, False), F.hardtanh_: (_HARDTANH, True),
    **{f: (_CLAMP, False) for f in (torch.clamp, torch.clip, _T.clamp, _T.clip)},
    **{f: (_CLAMP, True) for f in (torch.clamp_, torch.clip_, _T.clamp_, _T.clip_)},
    **{f: (_CLAMP_MIN, False) for f in (torch.clamp_min, _T.clamp_min)},
    **{f: (_CLAMP_MIN, True) for f in (torch.clamp_min_, _T.clamp_min_)},
    **{f: (_THRESHOLD, False) for f in (F.threshold, torch.threshold)},
    **{f: (_THRESHOLD, True) for f in (F.threshold_, torch.threshold_)},
    F.leaky_relu: (_LEAKY, False), F.leaky_relu_: (_LEAKY, True),
}


def _bind(defaults: dict, args: tuple, kwargs: dict) -> dict | None:
    names = list(defaults)
    if len(args) > len(names) or any(k not in defaults for k in kwargs):
        return None  # an out= or a form we do not know: left alone (inspect_path sees it)
    bound = {**defaults, **dict(zip(names, args, strict=False)), **kwargs}
    return None if any(n in kwargs for n in names[:len(args)]) else bound


class _ReluRule(torch.autograd.Function):
    """The op's own forward; the rule's backward (the mask is kept, not the input, so
    that an in-place call may overwrite its input)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, op: Op, hi: float | None, rule: str
                ) -> torch.Tensor:
        mask = x > 0
        if hi is not None:
            mask &= x < hi
        ctx.save_for_backward(mask)
        ctx.rule = rule
        return op(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[Any, ...]:
        (mask,) = ctx.saved_tensors
        up = grad.clamp(min=0)
        if ctx.rule == "guided":
            up = up * mask.to(up.dtype)
        return up, None, None, None


class ReluRules(TorchFunctionMode):
    """Within the block, every ReLU-like call's backward follows `rule` (see `RULES`);
    ``rewritten`` counts the calls rewritten. Only calls on tensors that need gradients
    are touched.

    Example:
        >>> x = torch.tensor([-1.0, 2.0], requires_grad=True)
        >>> with ReluRules("deconvnet"):
        ...     y = torch.relu(x)
        >>> y.backward(torch.tensor([3.0, -4.0]))
        >>> x.grad.tolist()
        [3.0, 0.0]
    """

    def __init__(self, rule: str) -> None:
        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
        super().__init__()
        self.rule, self.rewritten = rule, 0

    def __torch_function__(self, func: Any, types: Any, args: tuple = (),
                           kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        try:
            found = _FUNCS.get(func)
        except TypeError:  # an unhashable callable
            found = None
        x = args[0] if args else None
        if (found is not None and isinstance(x, torch.Tensor) and x.requires_grad
                and torch.is_grad_enabled()):
            (defaults, relu_like), always_inplace = found
            bound = _bind(defaults, args[1:], kwargs)
            spec = relu_like(bound) if bound is not None else None
            if spec is not None:
                out = _ReluRule.apply(x, spec[0], spec[1], self.rule)
                self.rewritten += 1
                if always_inplace or bound.get("inplace"):
                    return x.copy_(out)
                return out
        return func(*args, **kwargs)


def scripted_modules(model: nn.Module) -> list[str]:
    """Paths of the submodules whose forward the mode cannot see: TorchScript (scripted
    or traced) and torch.compile'd modules, outermost only ("" for the model itself).

    Example:
        >>> scripted_modules(nn.Sequential(nn.Linear(2, 2), torch.jit.script(nn.ReLU())))
        ['1']
    """
    found: list[str] = []
    for name, m in model.named_modules():
        opaque = isinstance(m, torch.jit.ScriptModule) or type(m).__name__ == "OptimizedModule"
        if opaque and not any(name.startswith(f + ".") or not f for f in found):
            found.append(name)
    return found


def refuse_scripted(model: nn.Module, what: str) -> None:
    """Raise NeuronscopeError naming any module `scripted_modules` finds."""
    found = scripted_modules(model)
    if found:
        m = model.get_submodule(found[0]) if found[0] else model
        where = f"submodule {found[0]!r}" if found[0] else "the model itself"
        more = f" (and {', '.join(found[1:])})" if len(found) > 1 else ""
        raise NeuronscopeError(
            f"{what} rewrites the backward pass of every ReLU, but {where}{more} is a "
            f"{type(m).__name__}: its forward runs outside Python, where its ReLUs cannot be "
            "rewritten. Pass the Python module (before torch.jit.script / trace / compile), "
            "or use method='gradient'.")


_STEM = re.compile(r"Backward\d*$")
_OPAQUE = ("DifferentiableGraph", "CompiledFunction", "CheckpointFunction")
_OTHERS = {"Gelu", "Silu", "LeakyRelu", "Elu", "Celu", "Hardswish", "Hardsigmoid", "Sigmoid",
           "Tanh", "Softplus", "Mish", "Prelu", "PreluKernel", "RreluWithNoise", "LogSigmoid",
           "Hardtanh", "Clamp", "ClampMin", "ClampMax", "Threshold", "Softshrink",
           "Hardshrink", "Maximum"}


def _saved(node: Any, name: str) -> Any:
    try:
        return getattr(node, f"_saved_{name}", None)
    except RuntimeError:  # freed by a backward pass: inspect the path before it
        return None


def _relu_node(stem: str, node: Any) -> bool:
    """Whether an autograd node is a plain (not rewritten) ReLU-like op."""
    if stem == "Relu":
        return True
    if stem == "Hardtanh":
        return _zero(_saved(node, "min_val")) and _cap(_saved(node, "max_val"))
    if stem in ("Clamp", "ClampMin"):
        return _zero(_saved(node, "min")) and _cap(_saved(node, "max"))
    if stem == "Threshold":
        return _zero(_saved(node, "threshold"))
    return stem == "LeakyRelu" and _zero(_saved(node, "negative_slope"))


@dataclass
class PathReport:
    """The nonlinear ops on the autograd path to an output: ``rewritten`` ReLUs that
    follow a rule, ``plain`` ReLUs that do not, ``opaque`` nodes that hide ops (a
    TorchScript graph, a compiled function), ``others`` other nonlinearities by name."""

    rewritten: int = 0
    plain: int = 0
    opaque: list[str] = field(default_factory=list)
    others: dict[str, int] = field(default_factory=dict)


def inspect_path(output: torch.Tensor) -> PathReport:
    """Walk the autograd graph behind `output` and sort its nonlinear ops.

    Example:
        >>> x = torch.ones(2, requires_grad=True)
        >>> with ReluRules("guided"):
        ...     y = torch.relu(x).sigmoid() + F.relu6(x)
        >>> inspect_path(y)
        PathReport(rewritten=2, plain=0, opaque=[], others={'Sigmoid': 1})
    """
    report = PathReport()
    todo, seen = [output.grad_fn], set()
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        name = node.name()
        stem = _STEM.sub("", name)
        if name == "_ReluRuleBackward":
            report.rewritten += 1
        elif _relu_node(stem, node):
            report.plain += 1
        elif any(o in name for o in _OPAQUE):
            report.opaque.append(name.rsplit("::", 1)[-1])
        elif stem in _OTHERS:
            report.others[stem] = report.others.get(stem, 0) + 1
        todo.extend(n for n, _ in node.next_functions)
    return report
