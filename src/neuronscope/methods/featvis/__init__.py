"""Feature visualization: synthesize the input a unit wants, for many units in one batch.

param.py (pixel and Fourier images, color decorrelation), transform.py (jitter, scale,
rotate, pad, blur; per-image random streams), objectives.py (composable per-image
objectives and penalties), settings.py (`Param`, `Adam`, `PixelEdits` and the presets),
runner.py (running the model for the objectives), optimize.py (`visualize`, the
optimization loop), result.py (`Visualization`).
"""

from . import transform
from .objectives import (
    Context,
    Objective,
    as_objective,
    channel,
    class_logit,
    direction,
    diversity,
    l1,
    l2,
    layer,
    neuron,
    total_variation,
)
from .optimize import visualize
from .result import Visualization
from .settings import PRESETS, Adam, Param, PixelEdits, Settings

__all__ = [
    "PRESETS", "Adam", "Context", "Objective", "Param", "PixelEdits", "Settings",
    "Visualization", "as_objective", "channel",
    "class_logit", "direction", "diversity", "l1", "l2", "layer", "neuron",
    "total_variation", "transform", "visualize",
]
