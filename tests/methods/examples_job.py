"""A small mining job shared by the tests and run as a subprocess by them.

    python tests/methods/examples_job.py OUT [--checkpoint PATH] [--slow SECONDS]

Under torchrun it joins the process group (gloo) and rank 0 writes OUT.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from torch import nn
from torch.utils.data import Dataset

import neuronscope as ns


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 5, 3), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 2 * 2, 4),
    ).eval()


def make_inputs(n: int = 90) -> torch.Tensor:
    """Random 8x8 images in which every third one repeats an earlier one (exact ties)."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n, 3, 8, 8, generator=g)
    x[2::3] = x[0 : n - 2 : 3][: len(x[2::3])]
    return x


class Slow(Dataset):
    def __init__(self, x: torch.Tensor, delay: float) -> None:
        self.x, self.delay = x, delay

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> torch.Tensor:
        time.sleep(self.delay)
        return self.x[i]


def run(checkpoint: str | None = None, delay: float = 0.0, **kwargs: object) -> ns.TopExamples:
    return ns.top_examples(make_model(), Slow(make_inputs(), delay), k=5, batch_size=8,
                           progress=False, checkpoint=checkpoint, checkpoint_every=1, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--checkpoint")
    parser.add_argument("--slow", type=float, default=0.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if "RANK" in os.environ:
        import torch.distributed as dist

        dist.init_process_group("gloo")
        res = run(args.checkpoint, args.slow)
        if dist.get_rank() == 0:
            res.save(args.out)
        dist.destroy_process_group()
    else:
        run(args.checkpoint, args.slow).save(args.out)


if __name__ == "__main__":
    main()
