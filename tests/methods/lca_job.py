"""A small LCA run, by one process or by every rank under torchrun (gloo).

    python tests/methods/lca_job.py OUT            # one process
    python -m torch.distributed.run --nproc_per_node=2 tests/methods/lca_job.py OUT [--ddp]

Every rank sees the same training batches (with ``--ddp`` the model is wrapped in
DistributedDataParallel and each rank trains on its half of each batch, the gradients
averaged by DDP); LCA's evaluation set is split between the ranks. Rank 0 writes
OUT/lca.safetensors.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parents[2] / "src"))

from neuronscope.commands.launch import processes  # noqa: E402
from neuronscope.methods.lca import LCA  # noqa: E402


def tiny() -> tuple[nn.Module, list, list]:
    """(model, training batches, evaluation batches), all seeded."""
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    x, y = torch.randn(96, 6, generator=g), torch.randint(0, 3, (96,), generator=g)
    train = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 96, 16)]
    evals = [(x[i:i + 20], y[i:i + 20]) for i in range(0, 96, 20)]  # 5 batches, uneven
    return model, train, evals


def loss_fn(model: nn.Module, batch: tuple) -> torch.Tensor:
    return nn.functional.cross_entropy(model(batch[0]), batch[1])


def run(out: str, ddp: bool = False) -> None:
    with processes(torch.device("cpu")) as ranks:
        model, train, evals = tiny()
        trained = model
        if ddp:
            trained = nn.parallel.DistributedDataParallel(model)
        lca = LCA(trained, loss_fn, evals)
        opt = lca.wrap(torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9))
        for _ in range(2):
            for x, y in train:
                if ddp:  # this rank's half of the batch
                    half = len(y) // ranks.world
                    x, y = x[ranks.rank * half:(ranks.rank + 1) * half], \
                        y[ranks.rank * half:(ranks.rank + 1) * half]
                opt.zero_grad()
                loss_fn(trained, (x, y)).backward()
                opt.step()
        res = lca.result()
        if ranks.writer:
            res.save(Path(out) / "lca.safetensors")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--ddp", action="store_true")
    args = parser.parse_args()
    run(args.out, args.ddp)
