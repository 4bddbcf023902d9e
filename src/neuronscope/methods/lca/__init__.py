"""Loss change allocation (Lan, Liu, Zhou & Yosinski 2019): which parameters and layers
helped or hurt, step by step, during training.

`LCA` (tracker.py) follows any training loop, with its weight and buffer helpers
(weights.py) and its checks of a resumed run (resume.py); `path.py` splits one step's loss change
along its path; `evaluate.py` measures the loss and gradient on the evaluation set;
`tally.py` keeps the record in bounded memory; `result.py` is the `LCAResult`;
`train.py` trains a built-in model with LCA.
"""

from .result import LCAResult
from .tally import read_steps
from .tracker import LCA
from .train import train_with_lca

__all__ = ["LCA", "LCAResult", "read_steps", "train_with_lca"]
