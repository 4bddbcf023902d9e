"""Dataset examples: the inputs that drive each unit most and least, found in one pass.

`top_examples` (mine.py) streams a dataset through the model once, reducing each
layer's output per example (reduce.py); the per-layer state (state.py) keeps top and
bottom examples, statistics, a histogram and random examples per quantile band in
constant memory and merges exactly; runs.py resumes from checkpoints and merges the
ranks of a sharded run; `TopExamples` (result.py) is the saved and merged result;
show.py gathers what pictures of the examples need.
"""

from .mine import top_examples
from .result import LayerExamples, TopExamples
from .state import LayerState

__all__ = ["LayerExamples", "LayerState", "TopExamples", "top_examples"]
