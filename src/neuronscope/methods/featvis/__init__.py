"""Feature visualization: synthesize the input a unit wants, for many units in one batch.

param.py (pixel and Fourier images, color decorrelation), transform.py (jitter, scale,
rotate, pad, blur; per-image random streams), objectives.py (composable per-image
objectives and penalties), render.py (`visualize`, the optimization loop and presets),
result.py (`Visualization`).
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
from .render import PRESETS, visualize
from .result import Visualization

__all__ = [
    "PRESETS", "Context", "Objective", "Visualization", "as_objective", "channel",
    "class_logit", "direction", "diversity", "l1", "l2", "layer", "neuron",
    "total_variation", "transform", "visualize",
]
