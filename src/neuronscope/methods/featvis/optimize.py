"""`visualize`: gradient ascent from noise to the inputs that drive units most, many at once.

Every target gets `n_starts` images; all images of all targets are optimized in one
batch. Each image has its own random generator (seeded from the seed, the target's
name and the start number) for its initial noise and its transforms, its loss is
its own, and the optimizer (Adam) is element-wise: an image's result does not
depend on which others share its batch. The forward pass stops after the deepest
layer an objective reads, and gradients go to the image only, never to the model.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.hooks import redirected_relu_grad
from neuronscope.core.layers import eval_mode
from neuronscope.core.model import model_device
from neuronscope.core.spec import InputSpec, input_spec
from neuronscope.core.units import Unit

from . import flat
from . import transform as T
from .objectives import Objective, as_objective, diversity, per_image
from .param import ImageParam, blur
from .prior import GeneratorParam, describe, make_param
from .result import Visualization
from .runner import Runner
from .settings import PRESETS, Adam, Param, PixelEdits, Settings, resolve

__all__ = ["PRESETS", "visualize"]
logger = logging.getLogger(__name__)


@torch.inference_mode(False)  # gradients also under a caller's no_grad or
@torch.enable_grad()  # inference_mode
def visualize(
    model: nn.Module, units: Any, *, size: int | tuple[int, int] | None = None,
    steps: int = 256, seed: int = 0, n_starts: int = 1, negative: bool = False,
    polish: int = 0,
    preset: str = "lucid", param: Param | str | None = None, transforms: Any = None,
    optimizer: Adam | None = None, edits: PixelEdits | None = None,
    extra: Objective | None = None, diversity_weight: float = 0.0,
    init: torch.Tensor | None = None, channels: int | None = None, progress: bool = True,
    prior: nn.Module | None = None, code_penalty: float = 0.0,
    callback: Callable[[int, torch.Tensor], None] | None = None, **shorthand: Any,
) -> Visualization:
    """Synthesize, from noise, the input that drives each target most (or least).

    `units` is one target or a list: an address (``"conv3:17"`` a channel's mean,
    ``"conv3:17@4,5"`` one neuron, ``"conv3"`` the layer as in DeepDream, ``"a:1 + b:2"``
    two units at once) or an `Objective`. All ``len(units) * n_starts`` images are
    optimized together in one batch, for `steps` optimizer steps. `negative` minimizes
    instead (what turns the unit off). The last `polish` of the steps skip the
    transforms, tuning the final image to itself as it is scored (the atlas uses it).

    A model whose InputSpec has kind "audio" and shape [C, F, T] gets spectrograms, made
    the same way: "standard" transforms are then the input kind's own (transform.py:
    shifts in time and by a band or two, no rotation or scaling), and
    ``settings["transforms"]`` lists the steps used. Text and raw waveforms are refused.

    `preset` picks the settings ("lucid": Fourier, decorrelated colors, standard
    transforms; "pixel"; "yosinski1".."yosinski4" and "yosinski": the DeepVis
    regularizers); `param` (a `Param` or just its kind, "fourier" / "pixel"),
    `transforms` ("standard", "none" or a list of transform steps), `optimizer` (`Adam`)
    and `edits` (`PixelEdits`) replace parts of it, and single fields may be given by
    name (``lr=``, ``decorrelate=``, ``squash=``, ``decay=``, ``blur_every=``,
    ``blur_width=``, ``norm_pct=``, ``contrib_pct=``). `extra` is added to every image's
    objective (e.g. ``-1e-3 * total_variation()``); `diversity_weight` pushes the starts
    of one target apart. `callback(step, images)` is called after every step with the
    images the model saw (display space, transformed, detached). `activations` score
    the final images with each target as given (a penalty written into a target counts;
    `extra` does not). `init` (display-space images [1 or n, C, H, W]) starts from real
    images: DeepDream is
    ``visualize(model, "conv3", init=photo, param="pixel", transforms="none")``.
    Started from noise, an image that ends below its target's best flat colour (a first
    layer's unit that black drives most, say) is optimized again from that colour and
    kept if it ends higher (see flat.py; ``settings["flat_restarts"]`` lists them).

    `prior` (an image generator such as ``neuronscope.zoo.generator("shapes")``) makes the
    parameters the generator's codes instead of pixels (Nguyen et al. 2016): the images
    are its decodings, resized bilinearly to `size` when it makes another size, so they
    stay near the images it was trained on; `code_penalty` pulls the codes toward the
    prior's centre, `init` starts from the codes of given images, and no flat restarts
    are tried (see prior.py).

    Example:
        >>> import torch, torch.nn as nn
        >>> model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
        >>> vis = visualize(model, "0:1", size=8, steps=3, n_starts=2, progress=False)
        >>> vis.display.shape, vis.labels
        (torch.Size([2, 1, 8, 8]), ['0:1 #0', '0:1 #1'])
    """
    cfg = resolve(preset, param, transforms, optimizer, edits, **shorthand)
    if steps < 0 or n_starts < 1 or not 0 <= polish <= steps:
        raise ValueError(f"steps must be >= 0, n_starts >= 1 and polish in [0, steps], got "
                         f"{steps}, {n_starts}, {polish}")
    targets = list(units) if isinstance(units, (list, tuple)) else [units]
    if not targets:
        raise ValueError("visualize needs at least one unit")
    names = [t.name if isinstance(t, Objective) else str(t) for t in targets]
    channels_, hw, spec = _input_shape(model, size, channels)
    gens = [torch.Generator().manual_seed(_seed_of(seed, name, s))
            for name in names for s in range(n_starts)]
    value_range = spec.value_range if spec is not None else (0.0, 1.0)
    image = make_param(prior, gens, channels_, hw, cfg, value_range, model_device(model), init,
                       code_penalty)
    objective = per_image(targets, n_starts)
    total = _with_extras(objective, targets, n_starts, diversity_weight, extra)
    plain = [Unit.parse(t) for t in targets
             if isinstance(t, Unit) or (isinstance(t, str) and "+" not in t)]
    steps_t = T.parse(cfg.transforms, hw, spec.kind if spec is not None else "image")
    sign, fill = -1.0 if negative else 1.0, sum(value_range) / 2

    def again(subset: list[Any], idx: list[int], starts: torch.Tensor) -> tuple[Any, Any, Any]:
        """Images `idx` (of `subset`'s targets) optimized again from `starts`."""
        sub_gens = [torch.Generator().manual_seed(_seed_of(seed, names[i // n_starts],
                                                           i % n_starts)) for i in idx]
        sub = ImageParam(sub_gens, channels_, hw, cfg.param.kind, cfg.param.decorrelate,
                         cfg.param.squash, value_range, device=model_device(model),
                         init=starts)
        sub_total = _with_extras(per_image(subset), subset, 1, 0.0, extra)
        sub_losses, _ = _optimize(sub, sub_total, run, steps_t, sub_gens, cfg,
                                  (steps, polish), sign, fill, False, None)
        with torch.no_grad():
            sub_final = sub().detach()
            return sub_final, _score(subset, 1, run, sub_final), sub_losses

    # ReLUs pass a stuck image the gradient that turns it on (hooked before the recording)
    with eval_mode(model), redirected_relu_grad(model), \
            Runner(model, total, spec, (channels_, *hw), plain) as run:
        shown = names[0] + (f" +{len(names) - 1}" if len(names) > 1 else "")
        losses, seconds = _optimize(image, total, run, steps_t, gens, cfg, (steps, polish),
                                    sign, fill, progress, callback, f"visualize {shown}")
        with torch.no_grad():
            final = image().detach()
            activations = _score(targets, n_starts, run, final)
        fresh = init is None and prior is None and steps > 0  # a prior has no flat colours
        below = {} if not fresh else flat.below_flat(
            targets, n_starts, run, activations, sign, (channels_, *hw), value_range,
            model_device(model))
        restarted = flat.restart(below, targets, n_starts, again, final, activations, losses,
                                 sign)
    _warn_if_stuck(names, n_starts, losses, activations)
    return Visualization(names, n_starts, _model_space(final, spec).cpu(),
                         _display(final, value_range).cpu(), activations,
                         torch.stack(losses) if losses else torch.zeros(0, len(gens)),
                         {**cfg.flat(), "steps": steps, "seed": seed, "negative": negative,
                          "polish": polish, "flat_restarts": restarted,
                          "transforms": [repr(s) for s in steps_t], "size": list(hw),
                          "loop_seconds": seconds, **describe(image)})


def _optimize(image: ImageParam | GeneratorParam, objective: Objective, run: Runner,
              steps_t: list[Any], gens: list[torch.Generator], cfg: Settings,
              steps: tuple[int, int], sign: float, fill: float, progress: bool,
              callback: Callable | None, desc: str = "visualize"
              ) -> tuple[list[torch.Tensor], float]:
    """The optimization loop over ``steps = (all, polish)``: each step's losses [n], and
    the seconds of the loop alone; `desc`: the progress bar's words."""
    from tqdm.auto import tqdm

    opt = _adam(image.raw, cfg.optimizer.lr)
    steps, polish = steps
    losses = []
    start = time.perf_counter()  # set-up (layer listing, optimizer) is not counted
    for step in tqdm(range(steps), desc=desc, disable=not progress, leave=False,
                     mininterval=0.5):
        x = T.apply(image(), steps_t if step < steps - polish else [], gens, fill=fill)
        loss = -(sign * objective(run(x)))
        if isinstance(image, GeneratorParam):
            loss = loss + image.penalty()
        (grad,) = torch.autograd.grad(loss.sum(), image.raw)
        image.raw.grad = grad
        opt.step()
        losses.append(loss.detach().cpu())
        _pixel_edits(image, grad, step, cfg.edits)
        if callback is not None:
            callback(step, x.detach())
    return losses, time.perf_counter() - start


def _score(targets: list[Any], n_starts: int, run: Runner, final: torch.Tensor
           ) -> torch.Tensor:
    """Each final image's objective, measured on that image alone: a batch's kernels may
    round differently from one image's, and a result must not depend on its batch."""
    single = [per_image([t]) for t in targets]
    return torch.cat([single[i // n_starts](run(final[i:i + 1])).detach().cpu()
                      for i in range(len(final))])


def _with_extras(objective: Objective, targets: list[Any], n_starts: int,
                 diversity_weight: float, extra: Objective | None) -> Objective:
    """The objective plus the diversity term (pushing a target's starts apart) and `extra`."""
    total = objective
    if diversity_weight and n_starts > 1:
        first = next((Unit.parse(t).layer for t in targets if isinstance(t, (str, Unit))
                      and "+" not in str(t)), None)
        div_layer = first or (sorted(objective.layers)[-1] if objective.layers else None)
        if div_layer is None:
            raise NeuronscopeError("diversity needs a target that reads a layer")
        groups = torch.arange(len(targets)).repeat_interleave(n_starts)
        total = total + diversity_weight * diversity(div_layer, groups)
    return total + as_objective(extra) if extra is not None else total


def _warn_if_stuck(names: list[str], n_starts: int, losses: list[torch.Tensor],
                   activations: torch.Tensor) -> None:
    """Say which images never moved: a unit that is zero for every input near the start
    (after a ReLU) gets no gradient, and its image stays gray."""
    if len(losses) < 2:
        return
    still = (torch.stack(losses) == losses[0]).all(0) & (activations == 0)
    stuck = sorted({names[i // n_starts] for i in torch.nonzero(still).flatten().tolist()})
    if stuck:
        logger.warning("visualize: %s got no gradient (zero for every image tried, as after a "
                       "ReLU): their images are blank; try the layer before the ReLU",
                       ", ".join(stuck))


def _seed_of(seed: int, name: str, start: int) -> int:
    digest = hashlib.sha256(f"{seed}|{name}|{start}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


# The input kinds feature visualization makes, and the dimensions it needs of their shape
# (None: any, the size given by size=): a spectrogram [C, F, T] is drawn like an image
_DIMS: dict[str, int | None] = {"image": None, "audio": 3}


def _input_shape(model: nn.Module, size: Any, channels: int | None
                 ) -> tuple[int, tuple[int, int], InputSpec | None]:
    spec = input_spec(model)
    if spec is not None and _DIMS.get(spec.kind, -1) not in (None, len(spec.shape)):
        raise NeuronscopeError(f"feature visualization makes images and spectrograms "
                               f"[C, H, W]; this model takes {spec.kind} input of shape "
                               f"{list(spec.shape)}, which it cannot draw")
    if channels is None:
        if spec is not None:
            channels = spec.shape[0] if len(spec.shape) == 3 else spec.channels
        else:
            first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
            if first is None:
                raise NeuronscopeError("the model carries no InputSpec: pass channels= and size=")
            channels = first.in_channels
    if size is None:
        if spec is None or len(spec.shape) != 3:
            raise NeuronscopeError("the model carries no image InputSpec: pass size= (pixels)")
        size = spec.shape[1:]
    hw = (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))
    return channels, hw, spec


def _model_space(x: torch.Tensor, spec: InputSpec | None) -> torch.Tensor:
    return spec.to_model(x) if spec is not None else x


def _display(x: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    lo, hi = value_range
    return ((x - lo) / (hi - lo)).clamp(0, 1)


def _adam(param: torch.Tensor, lr: float) -> torch.optim.Optimizer:
    """Adam, fused where this torch has it (a third of the time of the loop version)."""
    try:
        return torch.optim.Adam([param], lr=lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam([param], lr=lr)


def _percentile_zero(raw: torch.Tensor, score: torch.Tensor, pct: float) -> torch.Tensor:
    """Zero the pixels (all channels) whose score [N, H, W] is below the image's percentile."""
    cut = torch.quantile(score.flatten(1), pct / 100.0, dim=1).view(-1, 1, 1)
    return raw * (score >= cut).unsqueeze(1)


def _pixel_edits(image: ImageParam, grad: torch.Tensor, step: int, edits: PixelEdits) -> None:
    """The DeepVis regularizers, applied to pixel parameters after a step."""
    if edits.decay:
        image.edit_pixels(lambda r: r * (1 - edits.decay))
    if edits.blur_every and edits.blur_width and (step + 1) % edits.blur_every == 0:
        image.edit_pixels(lambda r: blur(r, edits.blur_width))
    if edits.norm_pct:
        image.edit_pixels(lambda r: _percentile_zero(r, r.norm(dim=1), edits.norm_pct))
    if edits.contrib_pct:
        image.edit_pixels(lambda r: _percentile_zero(r, (r * grad).sum(1).abs(),
                                                     edits.contrib_pct))
