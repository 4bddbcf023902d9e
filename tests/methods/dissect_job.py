"""A small dissection shared by the tests and run by them under torchrun:

    python -m torch.distributed.run --nproc_per_node=2 tests/methods/dissect_job.py OUT

Each rank joins the process group (gloo); rank 0 writes the dissection of layer "1" to OUT.
"""

from __future__ import annotations

import argparse
import os

import torch
from torch import nn

import neuronscope as ns
from neuronscope.data.shapes import Shapes


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 5, 5, stride=2), nn.ReLU(), nn.Conv2d(5, 4, 3)).eval()


def run(data: object = None, **kwargs: object) -> dict:
    data = Shapes("test", n=90, masks=True) if data is None else data
    return ns.dissect(make_model(), data, ["1", "2"], batch_size=16, progress=False,
                      checkpoint_every=1, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--checkpoint")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import torch.distributed as dist

    dist.init_process_group("gloo")
    found = run(checkpoint=args.checkpoint)
    if dist.get_rank() == 0:
        for name, d in found.items():
            d.save(f"{args.out}.{name}")
    dist.barrier()
    dist.destroy_process_group()
    assert "RANK" in os.environ


if __name__ == "__main__":
    main()
