"""A tiny atlas built by one process, or by every rank under torchrun (gloo).

    python tests/atlas/dist_job.py OUT                     # one process
    python -m torch.distributed.run --nproc_per_node=2 tests/atlas/dist_job.py OUT
    ... OUT --die-in ablation:conv2   # rank 1 dies computing that layer's last part
    ... OUT --fail-in examples:conv1  # rank 1 raises an error there instead

Units are computed two at a time (``unit_batch=2``), so that every layer of the tiny
model splits into several parts and both ranks compute parts of each section.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parents[2]))  # run as a script: `tests` importable

from neuronscope.atlas.build import build_atlas  # noqa: E402
from neuronscope.commands.launch import processes  # noqa: E402
from neuronscope.core.errors import NeuronscopeError  # noqa: E402
from tests.web.atlas_job import tiny_data, tiny_model  # noqa: E402

OPTIONS = {"k": 3, "steps": 3, "ablation_n": 24, "unit_batch": 2}


def build(out: str) -> None:
    """The atlas every test compares: each section, each layer in parts of two units."""
    build_atlas(tiny_model(), tiny_data(), out, name="tiny", data_name="random",
                progress=False, **OPTIONS)


def settled(record: Path, timeout: float = 60.0) -> None:
    """Wait until rank 0 has recorded the first part of the layer in progress (its work
    `record` lists part 0 as written): rank 0 writes what a round gathered after the
    gather, while the other rank may already be in the next round, so a rank that died
    at once would race rank 0's writing of the layer before (seen under load)."""
    import json
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if "0" in json.loads(record.read_text()).get("written", {}):
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.02)


def die_in(where: str, fail: bool = False) -> None:
    """Make rank 1 (or the only rank) stop as abruptly as SIGKILL in the last part of
    `where` (``section:layer``), once rank 0 has written what came before, or with
    `fail` raise an error there."""
    from neuronscope.atlas.drawing import LayerDrawing
    from neuronscope.atlas.parts import Parted, _Record
    from neuronscope.atlas.sections import get_section

    name, layer = where.split(":")
    worker = LayerDrawing if name == "examples" else type(get_section(name))
    real = worker.compute_part
    rank = int(os.environ.get("RANK", "0"))

    def dying(self: Parted, job: object, at: str, part: object) -> object:
        if self.name == name and at == layer and rank == min(1, job.ranks.world - 1) and \
                part == self.parts(job, at)[-1]:
            if fail:
                raise NeuronscopeError(f"rank 1 failed in {where}")
            parts = self.parts(job, at)
            if name != "examples" and len(parts) > 1:  # a Parted section's record
                settled(job.store.path(_Record(self, job, at, parts).file))
            os._exit(9)
        return real(self, job, at, part)

    worker.compute_part = dying  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--die-in")
    parser.add_argument("--fail-in")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.die_in or args.fail_in:
        die_in(args.die_in or args.fail_in, fail=bool(args.fail_in))
    with processes(torch.device("cpu")):  # under torchrun: the group, left together
        build(args.out)


if __name__ == "__main__":
    main()
