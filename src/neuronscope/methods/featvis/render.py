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
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.hooks import record, tap
from neuronscope.core.layers import eval_mode
from neuronscope.core.layers import layers as list_layers
from neuronscope.core.spec import InputSpec, input_spec
from neuronscope.core.units import Unit, check_unit, find_module

from . import transform as T
from .objectives import Context, Objective, as_objective, diversity, per_image
from .param import ImageParam, blur
from .result import Visualization

# named settings; "yosinski1".."yosinski4" are the four regularization combinations of
# Yosinski et al. 2015, Table 1 (decay, blur every / width, small-norm and
# small-contribution percentiles); "yosinski" is the third, the toolbox's own default.
# The paper's decay of 0.3 (combination 2) assumed its plain gradient steps; under Adam
# at lr 0.01 it pins every pixel within 0.03 of gray, so it is rescaled to 0.01 here.
PRESETS: dict[str, dict[str, Any]] = {
    "lucid": {"param": "fourier", "decorrelate": True, "squash": "sigmoid",
              "transforms": "standard", "lr": 0.05},
    "pixel": {"param": "pixel", "decorrelate": False, "squash": "clip", "transforms": "none",
              "lr": 0.01},
    "yosinski1": {"decay": 0.0, "blur_every": 4, "blur_width": 0.5, "norm_pct": 50.0},
    "yosinski2": {"decay": 0.01, "norm_pct": 20.0},
    "yosinski3": {"decay": 1e-4, "blur_every": 4, "blur_width": 1.0},
    "yosinski4": {"contrib_pct": 90.0},
}
for _name in ("yosinski1", "yosinski2", "yosinski3", "yosinski4"):
    PRESETS[_name] = {**PRESETS["pixel"], **PRESETS[_name]}
PRESETS["yosinski"] = PRESETS["yosinski3"]


class _Stop(Exception):
    """Raised after the deepest needed layer: the rest of the forward pass is not needed."""


def _seed_of(seed: int, name: str, start: int) -> int:
    digest = hashlib.sha256(f"{seed}|{name}|{start}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _input_shape(model: nn.Module, size: Any, channels: int | None
                 ) -> tuple[int, tuple[int, int], InputSpec | None]:
    spec = input_spec(model)
    if spec is not None and spec.kind != "image":
        raise NeuronscopeError(f"feature visualization makes images; this model takes "
                               f"{spec.kind} input")
    if channels is None:
        if spec is not None:
            channels = spec.channels
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


def _percentile_zero(raw: torch.Tensor, score: torch.Tensor, pct: float) -> torch.Tensor:
    """Zero the pixels (all channels) whose score [N, H, W] is below the image's percentile."""
    cut = torch.quantile(score.flatten(1), pct / 100.0, dim=1).view(-1, 1, 1)
    return raw * (score >= cut).unsqueeze(1)


def visualize(
    model: nn.Module, units: Any, size: int | tuple[int, int] | None = None,
    steps: int = 256, seed: int = 0, n_starts: int = 1, negative: bool = False,
    preset: str = "lucid", param: str | None = None, decorrelate: bool | None = None,
    squash: str | None = None, transforms: Any = None, lr: float | None = None,
    extra: Objective | None = None, diversity_weight: float = 0.0,
    decay: float | None = None, blur_every: int | None = None, blur_width: float | None = None,
    norm_pct: float | None = None, contrib_pct: float | None = None,
    channels: int | None = None, progress: bool = True,
    callback: Callable[[int, torch.Tensor], None] | None = None,
    init: torch.Tensor | None = None,
) -> Visualization:
    """Synthesize, from noise, the input that drives each target most (or least).

    `units` is one target or a list: an address (``"conv3:17"`` a channel's mean,
    ``"conv3:17@4,5"`` one neuron, ``"conv3"`` the layer as in DeepDream, ``"a:1 + b:2"``
    two units at once) or an `Objective`. All ``len(units) * n_starts`` images are
    optimized together in one batch. `negative` minimizes instead (what turns the unit
    off). `preset` picks the parameterization, transforms and regularizers ("lucid":
    Fourier, decorrelated colors, standard transforms; "pixel"; "yosinski1".."yosinski4"
    and "yosinski": the DeepVis settings); the other arguments override it. `extra`
    is added to every image's objective (e.g. ``-1e-3 * total_variation()``);
    `diversity_weight` pushes the starts of one target apart. `callback(step, images)`
    is called after every step with the images the model saw at that step (display
    space, transformed, detached), e.g. to show progress live. `activations` score
    the final images with each target as given (a penalty written into a target
    counts; `extra` does not). `init` (display-space images [1 or n, C, H, W], with
    ``param="pixel"``) starts from real images instead of noise: DeepDream is
    ``visualize(model, "conv3", init=photo, param="pixel", transforms="none")``.

    Example:
        >>> import torch, torch.nn as nn
        >>> model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
        >>> vis = visualize(model, "0:1", size=8, steps=3, n_starts=2, progress=False)
        >>> vis.display.shape, vis.labels
        (torch.Size([2, 1, 8, 8]), ['0:1 #0', '0:1 #1'])
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    cfg = dict(PRESETS[preset])
    given = {"param": param, "decorrelate": decorrelate, "squash": squash,
             "transforms": transforms, "lr": lr}
    cfg.update({k: v for k, v in given.items() if v is not None})
    for k, v in {"decay": decay, "blur_every": blur_every, "blur_width": blur_width,
                 "norm_pct": norm_pct, "contrib_pct": contrib_pct}.items():
        cfg[k] = v if v is not None else cfg.get(k, 0)  # an explicit 0 switches it off
    edits = [k for k in ("decay", "blur_every", "norm_pct", "contrib_pct") if cfg[k]]
    if edits and cfg["param"] != "pixel":
        raise NeuronscopeError(f"{', '.join(edits)} edit pixels and need param='pixel' (the "
                               f"yosinski presets use it), not {cfg['param']!r}")
    if steps < 0 or n_starts < 1:
        raise ValueError(f"steps must be >= 0 and n_starts >= 1, got {steps}, {n_starts}")
    targets = list(units) if isinstance(units, (list, tuple)) else [units]
    if not targets:
        raise ValueError("visualize needs at least one unit")
    names = [t.name if isinstance(t, Objective) else str(t) for t in targets]
    channels_, hw, spec = _input_shape(model, size, channels)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    gens = [torch.Generator().manual_seed(_seed_of(seed, name, s))
            for name in names for s in range(n_starts)]
    value_range = spec.value_range if spec is not None else (0.0, 1.0)
    image = ImageParam(gens, channels_, hw, cfg["param"], cfg["decorrelate"], cfg["squash"],
                       value_range, device=device, init=init)
    objective = per_image(targets, n_starts)
    groups = torch.arange(len(targets)).repeat_interleave(n_starts)
    if diversity_weight and n_starts > 1:
        first = next((Unit.parse(t).layer for t in targets if isinstance(t, (str, Unit))
                      and "+" not in str(t)), None)
        div_layer = first or (sorted(objective.layers)[-1] if objective.layers else None)
        if div_layer is None:
            raise NeuronscopeError("diversity needs a target that reads a layer")
        objective_total = objective + diversity_weight * diversity(div_layer, groups)
    else:
        objective_total = objective
    if extra is not None:
        objective_total = objective_total + as_objective(extra)
    sign = -1.0 if negative else 1.0
    steps_t = T.parse(cfg["transforms"], max(hw))
    opt = _adam(image.raw, cfg["lr"])
    losses = []
    plain = [Unit.parse(t) for t in targets
             if isinstance(t, Unit) or (isinstance(t, str) and "+" not in t)]
    with eval_mode(model), _Runner(model, objective_total, spec, (channels_, *hw), plain) as run:
        from tqdm.auto import tqdm

        loop_start = time.perf_counter()  # set-up above (layer listing) is not counted

        for step in tqdm(range(steps), desc="visualize", disable=not progress, leave=False,
                         mininterval=0.5):
            x = T.apply(image(), steps_t, gens, fill=sum(value_range) / 2)
            values = objective_total(run(x))
            loss = -(sign * values)
            (grad,) = torch.autograd.grad(loss.sum(), image.raw)
            image.raw.grad = grad
            opt.step()
            losses.append(loss.detach().cpu())
            _pixel_edits(image, grad, step, cfg)
            if callback is not None:
                callback(step, x.detach())
        loop_seconds = time.perf_counter() - loop_start
        with torch.no_grad():
            final = image().detach()
            activations = objective(run(final)).detach().cpu()
    model_space = spec.to_model(final) if spec is not None else final
    lo, hi = value_range
    display = ((final - lo) / (hi - lo)).clamp(0, 1).cpu()
    settings = {**cfg, "steps": steps, "seed": seed, "negative": negative,
                "transforms": [repr(s) for s in steps_t], "size": list(hw),
                "loop_seconds": loop_seconds}
    return Visualization(names, n_starts, model_space.cpu(), display, activations,
                         torch.stack(losses) if losses else torch.zeros(0, len(gens)), settings)


def _adam(param: torch.Tensor, lr: float) -> torch.optim.Optimizer:
    """Adam, fused where this torch has it (a third of the time of the loop version)."""
    try:
        return torch.optim.Adam([param], lr=lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam([param], lr=lr)


def _pixel_edits(image: ImageParam, grad: torch.Tensor, step: int, cfg: dict[str, Any]) -> None:
    """The DeepVis regularizers, applied to pixel parameters after a step."""
    if cfg["decay"]:
        image.edit_pixels(lambda r: r * (1 - cfg["decay"]))
    if cfg["blur_every"] and cfg["blur_width"] and (step + 1) % cfg["blur_every"] == 0:
        image.edit_pixels(lambda r: blur(r, cfg["blur_width"]))
    if cfg["norm_pct"]:
        image.edit_pixels(lambda r: _percentile_zero(r, r.norm(dim=1), cfg["norm_pct"]))
    if cfg["contrib_pct"]:
        image.edit_pixels(lambda r: _percentile_zero(r, (r * grad).sum(1).abs(),
                                                     cfg["contrib_pct"]))


def _last_to_finish(started: list[str]) -> str:
    """Of layers listed in the order they start, the one that finishes last: the last to
    start, or a block around it (calls nest, so an enclosing block ends after it)."""
    last = Unit.parse(started[-1]).module_path
    for name in started:
        path = Unit.parse(name).module_path
        if last.startswith(path + ".") and len(path) < len(last):
            return name
    return started[-1]


class _Runner:
    """Runs the model on display-space images and returns a `Context` for the objectives.

    Records the layers the objectives read (with their graph) and stops the forward
    pass after the deepest of them unless the model output is needed.
    """

    def __init__(self, model: nn.Module, objective: Objective, spec: InputSpec | None,
                 shape: tuple[int, int, int], units: list[Unit]) -> None:
        self.model, self.objective, self.spec, self.shape = model, objective, spec, shape
        self.units, self.active, self.same_size = units, False, True
        self.layers = sorted(objective.layers)
        self.stack: list[Any] = []

    def __enter__(self) -> _Runner:
        infos = None
        if self.layers:
            infos = self._infos()
            for name in self.layers:
                if name not in infos:
                    find_module(self.model, Unit.parse(name).module_path)
                    raise NeuronscopeError(f"{name} is not a tensor output of the model")
            for unit in self.units:
                info = infos[unit.layer]
                check = unit if self.same_size else Unit(unit.layer, unit.channel)
                check_unit(check, (1, *info.shape), info.unit_axis)
        self.axes = {name: infos[name].unit_axis for name in self.layers} if infos else {}
        self.rec_cm = record(self.model, self.layers, detach=False)
        self.rec = self.rec_cm.__enter__()
        self.stop_cm = None
        if infos and not self.objective.needs_output:
            deepest = _last_to_finish([name for name in infos if name in self.layers])
            self.stop_cm = tap(self.model, [Unit.parse(deepest).module_path], self._stop)
            self.stop_cm.__enter__()
        return self

    def _infos(self) -> dict[str, Any]:
        """Layer outputs at the image size; if the whole model cannot run at that size (a
        linear head made for another), the layout found at the model's own size."""
        c, h, w = self.shape
        x = torch.zeros(1, c, h, w, device=self._device())
        self.same_size = True
        try:
            return {i.name: i for i in list_layers(self.model, self._to_model(x))}
        except RuntimeError:
            if self.spec is None or tuple(self.spec.shape) == self.shape:
                raise
            own = torch.zeros(1, *self.spec.shape, device=self._device())
            self.same_size = False
            return {i.name: i for i in list_layers(self.model, self._to_model(own))}

    def __exit__(self, *exc: Any) -> None:
        if self.stop_cm is not None:
            self.stop_cm.__exit__(*exc)
        self.rec_cm.__exit__(*exc)

    def _stop(self, name: str, t: torch.Tensor) -> None:
        if self.active:  # a forward pass of the caller's own (a callback) runs to the end
            raise _Stop

    def _device(self) -> torch.device:
        return next((p.device for p in self.model.parameters()), torch.device("cpu"))

    def _to_model(self, x: torch.Tensor) -> torch.Tensor:
        x = self.spec.to_model(x) if self.spec is not None else x
        dtype = next((p.dtype for p in self.model.parameters() if p.is_floating_point()), None)
        return x.to(dtype) if dtype is not None else x

    def __call__(self, x: torch.Tensor) -> Context:
        output = None
        self.active = True
        try:
            output = self.model(self._to_model(x))
        except _Stop:
            pass
        except RuntimeError as exc:
            if self.same_size:
                raise
            raise NeuronscopeError(
                f"the model cannot run on {self.shape[1]}x{self.shape[2]} images up to the "
                f"layers asked for ({type(exc).__name__}: {exc}); pick layers below its fixed-"
                f"size part, or the model's own size {tuple(self.spec.shape[1:])}"  # type: ignore[union-attr]
            ) from exc
        finally:
            self.active = False
        acts = {name: self.rec[name] for name in self.layers}
        lo_hi = self.spec.value_range if self.spec is not None else (0.0, 1.0)
        return Context(acts, self.axes, x, output, lo_hi)

