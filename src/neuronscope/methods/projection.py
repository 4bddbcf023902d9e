"""Which pixels of an input drive a unit: the deconvnet (Zeiler & Fergus 2014), guided
backprop (Springenberg et al. 2014) and the plain gradient, with the ReLU rules applied
to every ReLU of the forward pass however it is written (`neuronscope.core.relu_rules`),
not only to ``nn.ReLU`` modules. Max pooling passes the signal through its switches."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
from torch import nn

from neuronscope.core.errors import AddressError, NeuronscopeError
from neuronscope.core.layers import eval_mode, resolve_layer
from neuronscope.core.model import model_device
from neuronscope.core.recording import record
from neuronscope.core.relu_rules import ReluRules, inspect_path, refuse_scripted
from neuronscope.core.result import Result
from neuronscope.core.units import Unit

RULES = ("guided", "deconvnet", "gradient")
ALIASES = {"deconv": "deconvnet"}
METHODS = (*RULES, *ALIASES)  # every name `project` accepts
NAMES = {"guided": "guided backprop", "deconvnet": "the deconvnet", "gradient": "the gradient"}
logger = logging.getLogger(__name__)


@dataclass
class Projection(Result):
    """The projection of `unit` onto a batch of inputs: ``attribution`` has the inputs'
    shape and sign (raw, not scaled); `show` draws it with gray at zero. ``relus``
    counts the ReLU-like ops on the path from the input to the unit (their backward
    follows the rule unless the method is the gradient); ``others`` names the other
    nonlinear ops on that path, which keep their own gradient (``{"LeakyRelu": 2}``).

    Example:
        >>> import torch, torch.nn as nn
        >>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
        >>> p = project(model, torch.rand(1, 3, 8, 8), "1:2")
        >>> p.attribution.shape, p.method, p.relus
        (torch.Size([1, 3, 8, 8]), 'guided', 1)
    """

    FORMAT = "neuronscope.projection"

    unit: str
    method: str
    attribution: torch.Tensor
    relus: int = 0
    others: dict[str, int] = field(default_factory=dict)

    def show(self):  # noqa: ANN201 - a PIL image; render is imported only when drawing
        """The projections side by side, gray at zero, each scaled to its largest value."""
        from neuronscope.render.grid import image_grid

        return image_grid(self.attribution, nrow=len(self.attribution), normalize="symmetric")


def rule_of(method: str) -> str:
    """The rule a method name stands for (``"deconv"`` -> ``"deconvnet"``).

    Example:
        >>> rule_of("deconv")
        'deconvnet'
    """
    rule = ALIASES.get(method, method)
    if rule not in RULES:
        raise ValueError(f"method must be one of {', '.join(RULES)} (or 'deconv' for "
                         f"'deconvnet'), got {method!r}")
    return rule


@torch.inference_mode(False)  # gradients also under a caller's no_grad or
@torch.enable_grad()  # inference_mode
def project(model: nn.Module, x: torch.Tensor, unit: str | Unit, *, method: str = "guided"
            ) -> Projection:
    """The projection of `unit` onto the input batch `x` [N, ...]: how much each input
    value drives it. ``"conv3:17"`` is its channel summed over positions, ``"conv3:17@4,5"``
    one position. `method`: ``"guided"`` (guided backprop), ``"deconvnet"`` (alias
    ``"deconv"``) or ``"gradient"``. Every ReLU-like op of the forward pass (``nn.ReLU``,
    ``F.relu``, in-place forms, ReLU6, ``clamp(min=0)``) takes the rule; a model whose
    ReLUs cannot be rewritten (TorchScript, torch.compile) is refused unless the method
    is the gradient. Leaky ReLU, GELU and the like keep their gradient (see ``others``).

    Example:
        >>> import torch, torch.nn as nn
        >>> model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(inplace=True), nn.Linear(2, 1))
        >>> project(model, torch.ones(3, 2), "2:0", method="deconvnet").attribution.shape
        torch.Size([3, 2])
    """
    rule = rule_of(method)
    target = Unit.parse(unit)
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 2:
        got = f"a {x.dtype} tensor of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) \
            else type(x).__name__
        raise NeuronscopeError(f"project takes a floating-point batch [N, ...] to take "
                               f"gradients with respect to, got {got}")
    if rule != "gradient":
        refuse_scripted(model, NAMES[rule])
    with eval_mode(model):
        info = resolve_layer(model, target, x[:1].to(model_device(model)))
        if target.channel is None:
            raise AddressError(f"{target} names a layer; project takes one unit, such as "
                               f"{target.layer}:0 (units 0-{info.n_units - 1})")
        attr, relus, others = _attribute(model, x, target, rule)
    return Projection(str(target), rule, attr, relus, others)


def _attribute(model: nn.Module, x: torch.Tensor, target: Unit, rule: str
               ) -> tuple[torch.Tensor, int, dict[str, int]]:
    """d(unit summed over its positions)/dx under `rule`, and what lay on the path."""
    inp = x.detach().to(model_device(model)).clone().requires_grad_(True)
    key = str(target)
    with torch.enable_grad(), record(model, [key], detach=False) as rec:
        if rule == "gradient":
            model(inp)
        else:
            with ReluRules(rule):
                model(inp)
        score = rec[key]
    if not score.requires_grad:
        raise NeuronscopeError(f"{key} does not depend on the input through operations "
                               "with gradients (it is computed without autograd)")
    path = inspect_path(score.sum())
    relus = path.rewritten + path.plain
    if rule != "gradient" and (path.plain or path.opaque):
        hidden = (f"{path.plain} ReLU(s) kept their plain gradient" if path.plain
                  else f"the graph holds {', '.join(sorted(set(path.opaque)))}")
        raise NeuronscopeError(
            f"{NAMES[rule]} of {key}: {hidden}: they ran where the rule cannot reach (a "
            "TorchScript function, a C++ op, a compiled or checkpointed part). Run the "
            "model's plain Python forward, or use method='gradient'.")
    if rule != "gradient" and relus == 0:
        logger.warning("%s of %s: no ReLU on the path from the input, so it equals the plain "
                       "gradient (a ReLU written as torch.where(x > 0, x, 0), x * (x > 0) or "
                       "torch.maximum is not seen as one)", NAMES[rule], key)
    if rule != "gradient" and path.others:
        logger.warning("%s of %s: %s on the path kept their own gradient (not ReLUs)",
                       NAMES[rule], key, ", ".join(f"{n} x{c}" for n, c in path.others.items()))
    (grad,) = torch.autograd.grad(score.sum(), inp)
    return grad.detach().to(x.device), relus, path.others
