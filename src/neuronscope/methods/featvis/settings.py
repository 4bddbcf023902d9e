"""The settings of a feature visualization, grouped into small objects (as Lucent's
``param_f`` and transform lists): how images are parameterized (`Param`), which random
transforms they go through (transform.py), the optimizer (`Adam`) and the DeepVis
pixel regularizers (`PixelEdits`). A preset names one combination; arguments of
`visualize` replace parts of it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from neuronscope.core.errors import NeuronscopeError


@dataclass(frozen=True)
class Param:
    """Image parameterization (param.py): ``kind`` "fourier" or "pixel", colors
    decorrelated or not, ``squash`` "sigmoid" or "clip" into the value range."""

    kind: str = "fourier"
    decorrelate: bool = True
    squash: str = "sigmoid"


@dataclass(frozen=True)
class Adam:
    """The optimizer: Adam with learning rate ``lr`` (fused where torch has it)."""

    lr: float = 0.05


@dataclass(frozen=True)
class PixelEdits:
    """The regularizers of Yosinski et al. 2015, applied to pixel parameters after each
    step: decay toward gray, a Gaussian blur of width ``blur_width`` every ``blur_every``
    steps, and zeroing pixels below the ``norm_pct`` percentile of norm or the
    ``contrib_pct`` percentile of contribution. Zero switches one off."""

    decay: float = 0.0
    blur_every: int = 0
    blur_width: float = 0.0
    norm_pct: float = 0.0
    contrib_pct: float = 0.0

    def active(self) -> list[str]:
        """The edits that change pixels (all need pixel parameters)."""
        return [k for k in ("decay", "blur_every", "norm_pct", "contrib_pct") if getattr(self, k)]


@dataclass(frozen=True)
class Settings:
    """Everything `visualize` optimizes with, besides the objective. ``transforms``:
    "standard" is the set of the model's input kind (transform.py's `STANDARD`: Lucid's
    for images, shifts only for spectrograms), or a set's name, "none", or a list."""

    param: Param = Param()
    transforms: Any = "standard"
    optimizer: Adam = Adam()
    edits: PixelEdits = PixelEdits()

    def flat(self) -> dict[str, Any]:
        """One flat JSON-ready dict (for `Visualization.settings`)."""
        return {"param": self.param.kind, "decorrelate": self.param.decorrelate,
                "squash": self.param.squash, "transforms": self.transforms,
                "lr": self.optimizer.lr, **dataclasses.asdict(self.edits)}


_PIXEL = Settings(Param("pixel", False, "clip"), "none", Adam(0.01))
# "yosinski1".."yosinski4" are the four regularization combinations of Yosinski et al.
# 2015, Table 1; "yosinski" is the third, the toolbox's own default. The paper's decay
# of 0.3 (combination 2) assumed its plain gradient steps; under Adam at lr 0.01 it pins
# every pixel within 0.03 of gray, so it is rescaled to 0.01 here.
PRESETS: dict[str, Settings] = {
    "lucid": Settings(),
    "pixel": _PIXEL,
    "yosinski1": dataclasses.replace(_PIXEL, edits=PixelEdits(0.0, 4, 0.5, 50.0)),
    "yosinski2": dataclasses.replace(_PIXEL, edits=PixelEdits(0.01, norm_pct=20.0)),
    "yosinski3": dataclasses.replace(_PIXEL, edits=PixelEdits(1e-4, 4, 1.0)),
    "yosinski4": dataclasses.replace(_PIXEL, edits=PixelEdits(contrib_pct=90.0)),
}
PRESETS["yosinski"] = PRESETS["yosinski3"]

SHORTHAND = {"decorrelate": "param", "squash": "param", "lr": "optimizer",
             **{f.name: "edits" for f in dataclasses.fields(PixelEdits)}}


def resolve(preset: str, param: Param | str | None = None, transforms: Any = None,
            optimizer: Adam | None = None, edits: PixelEdits | None = None,
            **shorthand: Any) -> Settings:
    """The preset with the parts given replaced; `shorthand` sets single fields
    (``lr=0.01``, ``decay=0``, ``squash="clip"``).

    Example:
        >>> resolve("yosinski", decay=0).edits.decay, resolve("lucid", "pixel").param.kind
        (0, 'pixel')
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    bad = sorted(set(shorthand) - set(SHORTHAND))
    if bad:
        raise TypeError(f"visualize() got unexpected arguments {bad}; settings by name: "
                        f"{sorted(SHORTHAND)}, or the objects param=, optimizer=, edits=")
    s = PRESETS[preset]
    if isinstance(param, str):
        param = dataclasses.replace(s.param, kind=param)
    s = dataclasses.replace(s, param=param or s.param, optimizer=optimizer or s.optimizer,
                            edits=edits or s.edits,
                            transforms=s.transforms if transforms is None else transforms)
    for part in ("param", "optimizer", "edits"):
        given = {k: v for k, v in shorthand.items() if SHORTHAND[k] == part and v is not None}
        if given:
            s = dataclasses.replace(s, **{part: dataclasses.replace(getattr(s, part), **given)})
    if s.edits.active() and s.param.kind != "pixel":
        raise NeuronscopeError(f"{', '.join(s.edits.active())} edit pixels and need "
                               f"param='pixel' (the yosinski presets use it), not "
                               f"{s.param.kind!r}")
    return s
