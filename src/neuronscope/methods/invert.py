"""Inversion (Mahendran & Vedaldi 2015): the image whose representation at a layer matches
an image's, found from noise. What it keeps is what the layer keeps.

The objective is the paper's: ``|phi(x) - phi(x0)|^2 / |phi(x0)|^2 + lambda_alpha *
sum |z|^alpha + lambda_tv * sum (dz_h^2 + dz_v^2)^(beta/2)`` where the image is ``x = center +
B * z`` in display space, B being the typical Euclidean norm of an image, so that z has
norm near 1. The paper's weights (2.16e8 for alpha = 6 at 227x227x3; 0.5, 5, 50 for TV in
a layer after 0-30%, 30-60% and 60-100% of the layers; AlexNet's 20 as the paper's 1-6,
7-12 and 13-20) are rescaled to the input size (see
`_weights`). SGD with momentum 0.9 on z, from unit-norm Gaussian noise, with the step
schedule of the authors' code for the paper's CNN figures: lr for the first quarter of the
steps, lr/10 for the next half, lr/100 for the last quarter, momentum reset at each change.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.hooks import StopPass, tap
from neuronscope.core.layers import LayerInfo, eval_mode, find_layer, layer_table
from neuronscope.core.model import model_device, model_dtype
from neuronscope.core.recording import record
from neuronscope.core.result import Result
from neuronscope.core.spec import InputSpec, input_spec
from neuronscope.core.units import Unit

logger = logging.getLogger(__name__)
PAPER_SIZE = 227 * 227 * 3  # AlexNet's input, where the paper's weights were set
PAPER_ALPHA, PAPER_TV = 2.16e8, (0.5, 5.0, 50.0)


@dataclass
class Inversion(Result):
    """Reconstructions of `originals` from their representation at `layer` (display space);
    `distance` [n] is |phi(x') - phi(x)|^2 / |phi(x)|^2 at the end, `correlation` [n] the
    Pearson correlation of reconstruction and original in the model's input space,
    `history` [steps, n] the distance at every step.

    Example:
        >>> import torch, torch.nn as nn
        >>> model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1))
        >>> inv = invert(model, torch.rand(2, 1, 8, 8), "0", steps=20, progress=False)
        >>> inv.images.shape, inv.distance.shape
        (torch.Size([2, 1, 8, 8]), torch.Size([2]))
    """

    FORMAT = "neuronscope.inversion"

    layer: str
    images: torch.Tensor
    originals: torch.Tensor
    distance: torch.Tensor
    correlation: torch.Tensor
    history: torch.Tensor
    settings: dict[str, Any]

    def show(self):  # noqa: ANN201 - a PIL image; render is imported only when drawing
        """Originals (top row) above their reconstructions (bottom row)."""
        from neuronscope.render.grid import image_grid

        both = torch.cat([self.originals, self.images])
        if self.settings.get("value_range") is None:  # no InputSpec: one scale for all
            return image_grid(both, nrow=len(self.images), normalize="all")
        lo, hi = self.settings["value_range"]
        return image_grid((both - lo) / (hi - lo), nrow=len(self.images), normalize=None)


@torch.inference_mode(False)  # gradients also under a caller's no_grad or
@torch.enable_grad()  # inference_mode
def invert(model: nn.Module, x: torch.Tensor, layer: str, *, steps: int = 400,
           lr: float = 0.004, momentum: float = 0.9, alpha: float = 6.0, beta: float = 2.0,
           lambda_alpha: float | None = None, lambda_tv: float | None = None,
           norm: float | None = None, seed: int = 0, progress: bool = True) -> Inversion:
    """Reconstruct display-space images `x` [n, C, H, W] (or [C, H, W]) from `layer`'s output.

    Any layer, conv or linear, works. `lambda_alpha` and `lambda_tv` weigh the priors in the
    paper's units (None: the paper's, rescaled to this input size and, for TV, chosen by the
    layer's depth); `norm` is B, the typical norm of a centred image (default: (hi - lo) / 4
    per value of the value range, times sqrt(C*H*W); for a model without an InputSpec, the
    RMS of `x`). The reconstruction is clamped to the value range before it is scored.
    """
    _check_options(steps, lr, momentum, alpha, beta, lambda_alpha, lambda_tv, norm)
    spec = input_spec(model)
    x = _batch(x, spec)
    device, dtype = model_device(model), model_dtype(model) or torch.float32
    x = x.to(device=device, dtype=dtype)
    n, size = len(x), x[0].numel()
    center, b, lo_hi = _scale(x, spec)
    big_b = float(norm) if norm is not None else b * size ** 0.5
    to_model = spec.to_model if spec is not None else (lambda t: t)
    with eval_mode(model):
        info, depth = _resolve(model, layer, to_model(x[:1]), spec)
        lam_a, lam_tv = _weights(size, depth, alpha, beta, lambda_alpha, lambda_tv)
        module = Unit.parse(info.name).module_path
        with record(model, [info.name], detach=False) as rec, tap(model, [module], _stop):
            def phi(image: torch.Tensor) -> torch.Tensor:
                try:
                    model(to_model(image))
                except StopPass:
                    pass
                return rec[info.name].flatten(1)

            target = _run(phi, x, spec).detach()
            scale = target.pow(2).sum(1)
            if bool((scale == 0).any()):
                logger.warning("invert: %s is all zero for some images: their distance "
                               "is divided by 1e-12, not by its norm", info.name)
            scale = scale.clamp_min(1e-12)
            z = torch.stack([torch.randn(x.shape[1:], generator=_gen(seed, i))
                             for i in range(n)]).to(device=device, dtype=dtype)
            z = (z / z.flatten(1).norm(dim=1).view(-1, 1, 1, 1)).requires_grad_(True)
            start = time.perf_counter()
            history = _descend(phi, z, center, big_b, target, scale, (lam_a, alpha),
                               (lam_tv, beta), (steps, lr, momentum), progress)
            seconds = time.perf_counter() - start
            with torch.no_grad():
                final = _clamp(center + big_b * z.detach(), lo_hi)
                distance = (phi(final) - target).pow(2).sum(1) / scale
    settings = {"steps": steps, "lr": lr, "momentum": momentum, "alpha": alpha, "beta": beta,
                "lambda_alpha": lam_a, "lambda_tv": lam_tv, "norm": big_b, "seed": seed,
                "schedule": "lr, lr/10, lr/100 for 1/4, 1/2, 1/4 of the steps",
                "value_range": list(lo_hi) if lo_hi else None, "loop_seconds": seconds}
    return Inversion(info.name, final.cpu(), x.cpu(), distance.cpu(),
                     _correlation(to_model(final), to_model(x)).cpu(),
                     torch.stack(history) if history else torch.zeros(0, n), settings)


def _descend(phi: Any, z: torch.Tensor, center: torch.Tensor, big_b: float,
             target: torch.Tensor, scale: torch.Tensor, prior_a: tuple[float, float],
             prior_tv: tuple[float, float], opt: tuple[int, float, float], progress: bool
             ) -> list[torch.Tensor]:
    """SGD with momentum on z, the step schedule of the paper's code; distances per step."""
    from tqdm.auto import tqdm

    (lam_a, alpha), (lam_tv, beta), (steps, lr, momentum) = prior_a, prior_tv, opt
    velocity, rate, history = torch.zeros_like(z), None, []
    for step in tqdm(range(steps), desc="invert", disable=not progress, leave=False,
                     mininterval=0.5):
        now = lr * (1.0 if step < steps / 4 else 0.1 if step < 3 * steps / 4 else 0.01)
        if now != rate:  # as the paper's code: a new rate starts without momentum
            velocity.zero_()
            rate = now
        dist = (phi(center + big_b * z) - target).pow(2).sum(1) / scale
        loss = dist + lam_a * z.abs().pow(alpha).flatten(1).sum(1) + lam_tv * _tv(z, beta)
        if not bool(torch.isfinite(loss).all()):
            limit = f"; TV at {lam_tv:g} allows about {3.8 / (16 * lam_tv):.2g}" \
                if beta == 2 and lam_tv > 0 else ""
            raise NeuronscopeError(f"invert diverged at step {step} (the objective is not "
                                   f"finite): lower lr (now {lr:g}){limit}")
        (grad,) = torch.autograd.grad(loss.sum(), z)
        with torch.no_grad():
            velocity.mul_(momentum).sub_(rate * grad)
            z.add_(velocity)
        history.append(dist.detach().cpu())
    return history


def _tv(z: torch.Tensor, beta: float) -> torch.Tensor:
    """sum over pixels and channels of (horizontal^2 + vertical^2 differences)^(beta/2)."""
    dh = z[..., :-1, 1:] - z[..., :-1, :-1]
    dv = z[..., 1:, :-1] - z[..., :-1, :-1]
    sq = dh * dh + dv * dv
    return (sq if beta == 2 else (sq + 1e-12).pow(beta / 2)).flatten(1).sum(1)


def _weights(size: int, depth: float, alpha: float, beta: float, lambda_alpha: float | None,
             lambda_tv: float | None) -> tuple[float, float]:
    """The paper's weights at this input size: z has norm ~1, so a typical image's sum of
    |z|^p grows as size^(1 - p/2); the weight is scaled by (size / 227*227*3)^(p/2 - 1) to
    keep each term's share of the objective. TV by depth: 0.5, 5, 50 (the paper's)."""
    if lambda_alpha is None:
        lambda_alpha = PAPER_ALPHA * (size / PAPER_SIZE) ** (alpha / 2 - 1)
    if lambda_tv is None:
        tv = PAPER_TV[0] if depth < 0.3 else PAPER_TV[1] if depth < 0.6 else PAPER_TV[2]
        lambda_tv = tv * (size / PAPER_SIZE) ** (beta / 2 - 1)
    return float(lambda_alpha), float(lambda_tv)


def _scale(x: torch.Tensor, spec: InputSpec | None
           ) -> tuple[torch.Tensor, float, tuple[float, float] | None]:
    """(centre [1, C, 1, 1], typical value size, value range) of display-space images."""
    if spec is not None:
        lo, hi = spec.value_range
        if not torch.isfinite(x).all() or x.min() < lo - 1e-3 or x.max() > hi + 1e-3:
            raise NeuronscopeError(
                f"x spans [{float(x.min()):g}, {float(x.max()):g}]; give display-space values "
                f"in [{lo:g}, {hi:g}] (0-255 pixels: divide by 255; normalized ones: "
                "spec.to_display)")
        return torch.full_like(x[:1, :, :1, :1], (lo + hi) / 2), (hi - lo) / 4, (lo, hi)
    center = x.mean((0, 2, 3), keepdim=True)[:1]
    return center, float((x - center).pow(2).mean().sqrt().clamp_min(1e-6)), None


def _resolve(model: nn.Module, layer: str, first: torch.Tensor, spec: InputSpec | None
             ) -> tuple[LayerInfo, float]:
    """The layer's info and its depth: the share of the model's layers that run before it."""
    try:
        table = layer_table(model, first)
    except RuntimeError as exc:
        if spec is None or tuple(spec.shape) == tuple(first.shape[1:]):
            shape = "x".join(map(str, first.shape[1:]))
            raise NeuronscopeError(f"the model does not run on inputs of {shape}: "
                                   f"{_first_line(exc)}") from None
        table = layer_table(model, None)  # at its own size: layers below a fixed head work
    info = find_layer(model, table, layer, single_call=True, layer_only=True)
    return info, list(table).index(info.name) / len(table)


def _run(phi: Any, x: torch.Tensor, spec: InputSpec | None) -> torch.Tensor:
    with torch.no_grad():
        try:
            return phi(x)
        except RuntimeError as exc:
            own = "x".join(map(str, spec.shape)) if spec is not None else "?"
            raise NeuronscopeError(
                f"the model cannot run on {'x'.join(map(str, x.shape[1:]))} images up to this "
                f"layer ({_first_line(exc)}); give images of its input size {own}, or a "
                "layer below its fixed-size part") from None


def _batch(x: Any, spec: InputSpec | None) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() not in (3, 4):
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise NeuronscopeError(f"invert takes display-space images, a float tensor [n, C, H, W] "
                               f"or [C, H, W]; got {got}")
    x = x.unsqueeze(0) if x.dim() == 3 else x
    if spec is not None and spec.kind != "image":
        raise NeuronscopeError(f"invert reconstructs images; this model takes {spec.kind} input")
    if len(x) == 0 or (spec is not None and x.shape[1] != spec.channels):
        want = "x".join(map(str, spec.shape)) if spec is not None else "C x H x W"
        raise NeuronscopeError(f"the images are {'x'.join(map(str, x.shape[1:]))} (n={len(x)});"
                               f" the model takes {want} images (channels first), n >= 1")
    if not bool(torch.isfinite(x).all()):
        raise NeuronscopeError("the images hold NaN or infinite values")
    return x.detach()


def _check_options(steps: int, lr: float, momentum: float, alpha: float, beta: float,
                   lambda_alpha: float | None, lambda_tv: float | None, norm: float | None
                   ) -> None:
    bad = [f"{name} must be {rule}, got {value}" for name, value, ok, rule in [
        ("steps", steps, isinstance(steps, int) and steps >= 0, "an integer >= 0"),
        ("lr", lr, lr > 0, "> 0"), ("momentum", momentum, 0 <= momentum < 1, "in [0, 1)"),
        ("alpha", alpha, alpha >= 1, ">= 1"), ("beta", beta, beta >= 1, ">= 1"),
        ("lambda_alpha", lambda_alpha, lambda_alpha is None or lambda_alpha >= 0, ">= 0"),
        ("lambda_tv", lambda_tv, lambda_tv is None or lambda_tv >= 0, ">= 0"),
        ("norm", norm, norm is None or norm > 0, "> 0")] if not ok]
    if bad:
        raise ValueError("; ".join(bad))


def _correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    a = a.flatten(1) - a.flatten(1).mean(1, keepdim=True)
    b = b.flatten(1) - b.flatten(1).mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)


def _clamp(x: torch.Tensor, lo_hi: tuple[float, float] | None) -> torch.Tensor:
    return x.clamp(*lo_hi) if lo_hi is not None else x


def _gen(seed: int, i: int) -> torch.Generator:
    """The noise of the batch's i-th image, its own: images do not share a generator."""
    digest = hashlib.sha256(f"invert|{seed}|{i}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def _stop(name: str, t: torch.Tensor) -> None:
    raise StopPass  # the layer is out: the rest of the model need not run


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
