"""Where a command runs: the device (--device) and, under ``torchrun``, the process group.

Under ``torchrun --nproc_per_node=N`` the environment names each process (RANK,
WORLD_SIZE, LOCAL_RANK); `processes` joins them in one torch.distributed group (NCCL
on GPUs, gloo on the CPU) for the length of a command, and each rank takes its own GPU
(``cuda:LOCAL_RANK``) unless told otherwise.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import torch

from ..core.errors import NeuronscopeError
from ..core.ranks import Ranks

# how long a rank waits for the others: long, since rank 0 alone computes what no section
# shares (a section of your own, a model-wide picture) while the others wait
WAIT = timedelta(hours=12)


def device_name(text: str) -> str:
    """argparse type of --device: ``cpu``, ``cuda`` or ``cuda:N``."""
    if not re.fullmatch(r"cpu|cuda(:\d+)?", text.strip()):
        raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:N (such as cuda:1), got "
                                         f"{text!r}")
    return text.strip()


def pick_device(name: str | None) -> torch.device:
    """The device to run on: `name`, or CUDA when there is a GPU, else the CPU; under
    torchrun a bare ``cuda`` means this rank's own GPU (``cuda:LOCAL_RANK``).

    Example:
        >>> pick_device("cpu")
        device(type='cpu')
    """
    if name is None:
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise NeuronscopeError(f"--device {name}: this torch sees no CUDA GPU; use "
                                   "--device cpu")
        if name == "cuda":
            name = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        index = int(name.split(":")[1])
        if index >= torch.cuda.device_count():
            raise NeuronscopeError(f"--device {name}: there are only "
                                   f"{torch.cuda.device_count()} GPUs (cuda:0 to "
                                   f"cuda:{torch.cuda.device_count() - 1})")
    return torch.device(name)


@contextmanager
def processes(device: torch.device) -> Iterator[Ranks]:
    """This process's `Ranks`: under torchrun (WORLD_SIZE > 1) the process group is
    started here (NCCL for a GPU, gloo for the CPU) unless it already runs, and ended
    after the block."""
    import torch.distributed as dist

    started = False
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=WAIT)
        started = True
    try:
        yield Ranks.current()
        if started:  # leave together: a gloo rank whose peer tears down its connections
            gc.collect()  # first may abort ("terminate called without an active exception")
            dist.barrier()
    finally:
        if started:
            dist.destroy_process_group()
            gc.collect()  # the group's threads end here, not in the interpreter's exit
