"""DeepDream (Mordvintsev et al. 2015): amplify what a layer sees in a real image.

The classic algorithm, at the image's own resolution (the model is used fully
convolutionally, up to the layer): an image pyramid of the source, each octave
`octave_scale` times smaller than the next; from the smallest octave up, the detail
dreamed so far (dreamed image minus the source at that scale) is upscaled and added to
the next octave's source. Each step rolls the image by a random jitter, takes the
gradient of the objective, normalizes it by its mean absolute value, steps ``lr``
along it, rolls back and clamps to the model's value range (in display space).

The objective of a layer is the mean of its squared activations (the TensorFlow
notebook's ``tf.square(layer)``; its gradient is the Caffe notebook's "L2" objective up
to a scale, which the gradient normalization removes); of a unit, its channel's mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neuronscope.core.errors import AddressError, NeuronscopeError
from neuronscope.core.hooks import StopPass, tap
from neuronscope.core.layers import eval_mode, find_layer, layer_table
from neuronscope.core.model import model_device, model_dtype
from neuronscope.core.recording import record
from neuronscope.core.result import Result
from neuronscope.core.spec import InputSpec, input_spec
from neuronscope.core.units import Unit, find_module

__all__ = ["Dream", "deepdream"]


@dataclass
class Dream(Result):
    """A dreamed image per source image, in display space [n, C, H, W] at its own size.

    ``start`` and ``reached`` [octaves, n]: the objective when each octave starts (its
    source plus the detail carried up) and when its steps end; ``sizes`` each octave's
    (height, width), smallest first.

    Example:
        >>> import torch, torch.nn as nn
        >>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
        >>> dream = deepdream(model, torch.rand(3, 20, 28), "1", octaves=2, progress=False)
        >>> dream.images.shape, dream.reached.shape, dream.sizes
        (torch.Size([1, 3, 20, 28]), torch.Size([2, 1]), [[14, 20], [20, 28]])
    """

    FORMAT = "neuronscope.deepdream"

    target: str
    images: torch.Tensor
    source: torch.Tensor
    start: torch.Tensor
    reached: torch.Tensor
    sizes: list[list[int]]
    settings: dict[str, Any] = field(default_factory=dict)

    def show(self):  # noqa: ANN201 - a PIL image; render is imported only when drawing
        """Each source above its dream."""
        from neuronscope.render.grid import image_grid

        return image_grid(torch.cat([self.source, self.images]), nrow=len(self.images),
                          normalize=None)


@torch.inference_mode(False)  # gradients also under a caller's no_grad or
@torch.enable_grad()  # inference_mode
def deepdream(model: nn.Module, image: torch.Tensor, where: str | Unit, *, octaves: int = 4,
              octave_scale: float = 1.4, steps: int = 10, lr: float = 0.01, jitter: int = 32,
              seed: int = 0, progress: bool = True) -> Dream:
    """Dream `where` (a layer ``"conv3"``: its mean squared activation; a unit
    ``"conv3:17"``: its channel's mean) into `image`, display-space [C, H, W] or
    [n, C, H, W] of any size, with `steps` gradient steps of size `lr` (in display
    units, per mean absolute gradient) per octave and random rolls of up to `jitter`
    pixels (at most a quarter of the octave's smaller side). The defaults are the
    original's (4 octaves of 1.4, 10 steps, jitter 32; its step 1.5 of 255 is 0.006 here,
    and 0.01 dreams a little more strongly).

    Example:
        >>> import torch, torch.nn as nn
        >>> _ = torch.manual_seed(0)
        >>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3))
        >>> dream = deepdream(model, torch.rand(3, 16, 16), "2:1", steps=3, progress=False)
        >>> bool((dream.reached > dream.start).all())  # every octave raised the unit
        True
    """
    from tqdm.auto import tqdm

    if octaves < 1 or not octave_scale > 1:
        raise ValueError(f"octaves must be >= 1 and octave_scale > 1 (e.g. 4 and 1.4), got "
                         f"{octaves} and {octave_scale}")
    if steps < 0 or not lr > 0 or jitter < 0:
        raise ValueError(f"steps and jitter must be >= 0 and lr > 0, got {steps}, {jitter}, "
                         f"{lr}")
    target, spec = Unit.parse(where), input_spec(model)
    if target.pos is not None:
        raise AddressError(f"{target} is one position; DeepDream dreams at every position: "
                           f"give a layer ({target.layer}) or a channel "
                           f"({target.layer}:{target.channel})")
    lo, hi = spec.value_range if spec is not None else (0.0, 1.0)
    source = _checked(image, spec, lo, hi).to(model_device(model))
    sizes = [[max(1, round(s / octave_scale ** k)) for s in source.shape[2:]]
             for k in reversed(range(octaves))]
    gen = torch.Generator().manual_seed(seed)
    start, reached = torch.zeros(octaves, len(source)), torch.zeros(octaves, len(source))
    bar = tqdm(total=octaves * steps, desc=f"deepdream {target}", disable=not progress)
    with eval_mode(model), _Scorer(model, target, spec) as score:
        detail = None
        for k, size in enumerate(sizes):
            base = _resize(source, size)
            img = base if detail is None else (base + _resize(detail, size)).clamp(lo, hi)
            with torch.no_grad():
                start[k] = score(img, k, sizes).cpu()
            reach = min(jitter, min(size) // 4)  # a small octave is not rolled past itself
            for _ in range(steps):
                dy, dx = (int(d) for d in torch.randint(-reach, reach + 1, (2,), generator=gen))
                x = img.roll((dy, dx), (2, 3)).requires_grad_(True)
                (grad,) = torch.autograd.grad(score(x, k, sizes).sum(), x)
                grad = grad / (grad.abs().mean((1, 2, 3), keepdim=True) + 1e-8)
                img = (x.detach() + lr * grad).roll((-dy, -dx), (2, 3)).clamp(lo, hi)
                bar.update()
            with torch.no_grad():
                reached[k] = score(img, k, sizes).cpu()
            detail = img - base
    bar.close()
    return Dream(str(target), img.detach().float().cpu(), source.float().cpu(), start, reached,
                 sizes, {"octaves": octaves, "octave_scale": octave_scale, "steps": steps,
                         "lr": lr, "jitter": jitter, "seed": seed,
                         "objective": "mean square" if target.is_layer else "channel mean"})


def _checked(image: Any, spec: InputSpec | None, lo: float, hi: float) -> torch.Tensor:
    """`image` as a float batch [n, C, H, W], refused with a reason when it cannot be."""
    if not isinstance(image, torch.Tensor) or image.dim() not in (3, 4):
        got = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise NeuronscopeError(f"image must be a tensor [C, H, W] or [n, C, H, W] in display "
                               f"space, got {got}; e.g. neuronscope.data.photos.photo(name)")
    if not image.is_floating_point():
        raise NeuronscopeError(f"image is of {image.dtype}: give display-space floats in "
                               f"[{lo:g}, {hi:g}] (uint8 pixels: x.float() / 255)")
    x = image if image.dim() == 4 else image.unsqueeze(0)
    if spec is not None and spec.kind == "image" and len(spec.shape) == 3 and \
            x.shape[1] != spec.channels:
        fix = "x.expand(3, -1, -1) for gray" if spec.channels == 3 else "x.mean(0, True)"
        raise NeuronscopeError(f"image has {x.shape[1]} channels; the model takes "
                               f"{spec.channels} (its input is {tuple(spec.shape)}): give "
                               f"[{spec.channels}, H, W] images ({fix})")
    if not torch.isfinite(x).all() or x.min() < lo - 1e-3 or x.max() > hi + 1e-3:
        raise NeuronscopeError(f"image values span [{float(x.min()):g}, {float(x.max()):g}]; "
                               f"give display-space values in [{lo:g}, {hi:g}] (0-255 "
                               "pixels: divide by 255; normalized ones: spec.to_display)")
    return x.detach().float()


def _resize(x: torch.Tensor, size: list[int]) -> torch.Tensor:
    if list(x.shape[2:]) == size:
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False,
                         antialias=True)


class _Scorer:
    """Runs the model up to the target layer (recorded with its graph, the rest of the
    pass stopped) and returns each image's objective [n]."""

    def __init__(self, model: nn.Module, target: Unit, spec: InputSpec | None) -> None:
        self.model, self.target, self.spec = model, target, spec
        self.dtype = model_dtype(model)

    def __enter__(self) -> _Scorer:
        if self.spec is not None:  # at the model's own size: a clear error for any layer
            table = layer_table(self.model)
            info = find_layer(self.model, table, self.target, single_call=True)
            if len(info.shape) < 2:
                self._flat(f"{info.kind}, output {info.shape}",
                           [n for n, i in table.items() if len(i.shape) >= 3])
        self.rec_cm = record(self.model, [self.target], detach=False)
        self.rec = self.rec_cm.__enter__()
        self.tap_cm = tap(self.model, [self.target.module_path], self._stop)
        self.tap_cm.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.tap_cm.__exit__(*exc)
        self.rec_cm.__exit__(*exc)

    def _flat(self, what: str, spatial: list[str]) -> None:
        hint = f" such as {', '.join(spatial[-4:])}" if spatial else ""
        raise NeuronscopeError(
            f"{self.target.layer} ({what}) has no spatial map: DeepDream amplifies patterns "
            f"across an image's positions; give a layer whose output keeps height and "
            f"width (a conv layer){hint}")

    @staticmethod
    def _stop(name: str, t: torch.Tensor) -> None:
        raise StopPass

    def __call__(self, x: torch.Tensor, k: int, sizes: list[list[int]]) -> torch.Tensor:
        inp = self.spec.to_model(x) if self.spec is not None else x
        try:
            self.model(inp.to(self.dtype) if self.dtype is not None else inp)
        except StopPass:
            pass
        except RuntimeError as exc:
            if isinstance(find_module(self.model, self.target.module_path), nn.Linear):
                self._flat("a linear layer", [])  # not the image's size: no positions at all
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise NeuronscopeError(
                f"the model cannot run on {x.shape[1]}-channel {sizes[k][0]}x{sizes[k][1]} "
                f"images (octave {k + 1} "
                f"of {len(sizes)}) up to {self.target.layer}: {first}; give a larger image, "
                "fewer octaves or a smaller octave_scale (or a layer below any fixed-size "
                "part of the model)") from None
        act = self.rec[str(self.target)].float()
        if act.dim() < (3 if self.target.is_layer else 2):
            self._flat(f"output {tuple(act.shape[1:])}", [])
        flat = act.flatten(1)
        return flat.pow(2).mean(1) if self.target.is_layer else flat.mean(1)
