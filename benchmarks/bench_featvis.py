"""Speed of feature visualization, measured side by side in one run (shapes-cnn, 64x64).

(a) one optimization step of ``ns.visualize`` on 64 units of conv4 (parameterization,
    transforms, objective, Adam), divided by one bare forward + backward (to the
    input) of the whole model on a batch of 64 (goal <= 1.3). The step time is the
    difference of a long and a short run divided by the extra steps, so set-up is
    left out (``settings["loop_seconds"]``: the loop alone). The bare pass runs inside
    the loop, from ``visualize``'s per-step callback, so the two alternate step by step
    and see the same machine (its speed drifts by 10-20% from minute to minute); the
    callback's time is taken out of the loop's.
(b) per-unit time of 64 units in one batch versus the same units one call each,
    next to the same ratio for the bare model (64 inputs in one batch versus one at
    a time): batching cannot gain more than the model does (goal: within 10% of it).
(c) where ``.venv-lucent`` exists (``make lucent-venv``), per-unit time of Lucent's
    ``render_vis`` (one unit per call, its default transforms, fixed 64x64 size) on the
    same weights and steps, divided by ours in a batch of 64 (goal >= 2 on 2 CPU
    cores). Lucent runs in its own venv (torch 2.14.1 there; see the README).

    .venv/bin/python benchmarks/bench_featvis.py [--steps 32] [--units 64] [--lucent-units 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import torch

import neuronscope as ns
from neuronscope.core.model import save_weights

ROOT = Path(__file__).resolve().parents[1]
LUCENT_PY = ROOT / ".venv-lucent" / "bin" / "python"

LUCENT_JOB = """
import copy, json, sys, time, torch
from collections import OrderedDict
from safetensors.torch import load_file
from neuronscope.zoo.recipes import shapes_cnn
from lucent.optvis import render, param
torch.set_num_threads(int(sys.argv[4]))
model = shapes_cnn(7)
model.load_state_dict(load_file(sys.argv[1]))
model.eval()
units, steps = json.loads(sys.argv[2]), int(sys.argv[3])
def one(unit):
    fresh = copy.deepcopy(model)  # Lucent leaves its hooks on the model: a fresh copy per call
    render.render_vis(fresh, unit, param_f=lambda: param.image(64), thresholds=(steps,),
                      show_image=False, progress=False, preprocess=False, fixed_image_size=64)
one(units[0])
start = time.perf_counter()
for unit in units:
    one(unit)
print(json.dumps({"per_unit": (time.perf_counter() - start) / len(units)}))
"""


def timed(fn) -> float:  # noqa: ANN001
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bare_step(model: torch.nn.Module, batch: int, repeats: int = 10) -> float:
    x = torch.rand(batch, 3, 64, 64, requires_grad=True)

    def once() -> None:
        torch.autograd.grad(model(x).sum(), x)

    once()
    return timed(lambda: [once() for _ in range(repeats)]) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--lucent-units", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    model = ns.zoo.load("shapes-cnn")
    units = [f"conv4:{u}" for u in range(args.units)]
    threads = torch.get_num_threads()

    def vis(targets: list[str], steps: int) -> float:
        out = ns.visualize(model, targets, steps=steps, progress=False)
        return out.settings["loop_seconds"]

    vis(units, 2)
    x = torch.rand(args.units, 3, 64, 64, requires_grad=True)
    bare_times: list[float] = []

    def interleaved(step: int, images: torch.Tensor) -> None:
        start = time.perf_counter()
        torch.autograd.grad(model(x).sum(), x)
        bare_times.append(time.perf_counter() - start)

    loops = []
    for _ in range(args.rounds):
        out = ns.visualize(model, units, steps=args.steps, progress=False, callback=interleaved)
        loops.append(out.settings["loop_seconds"])
    bare_total = sum(bare_times)
    step = (sum(loops) - bare_total) / (args.steps * args.rounds)
    bare = bare_total / len(bare_times)
    print(f"device cpu, {threads} threads, shapes-cnn, 64x64 images, {args.units} units of conv4")
    print(f"(a) one step {step * 1e3:.1f} ms, bare forward+backward {bare * 1e3:.1f} ms "
          f"(means over {args.rounds} x {args.steps} interleaved steps): ratio "
          f"{step / bare:.2f} (goal <= 1.3)")

    bare = bare_step(model, args.units)  # for (b): out of the loop, as the one-at-a-time pass
    batched = timed(lambda: vis(units, args.steps)) / len(units)
    single = timed(lambda: [vis([u], args.steps) for u in units]) / len(units)
    bare_one = bare_step(model, 1, repeats=50)
    ours, model_gain = single / batched, bare_one / (bare / args.units)
    print(f"(b) per unit, {args.steps} steps: one batch {batched * 1e3:.1f} ms, one call each "
          f"{single * 1e3:.1f} ms: batching gains x{ours:.2f}; the bare model gains "
          f"x{model_gain:.2f} (ours / model's = {ours / model_gain:.2f}; goal >= 0.9)")

    if not LUCENT_PY.exists():
        print("(c) skipped: no .venv-lucent (make lucent-venv builds it)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        weights = save_weights(model, Path(tmp) / "shapes.safetensors")
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        few = units[: args.lucent_units]
        out = subprocess.run([str(LUCENT_PY), "-c", LUCENT_JOB, str(weights), json.dumps(few),
                              str(args.steps), str(threads)], env=env, check=True,
                             capture_output=True, text=True)
    lucent = json.loads(out.stdout.strip().splitlines()[-1])["per_unit"]
    print(f"(c) per unit, {args.steps} steps: Lucent render_vis {lucent * 1e3:.1f} ms "
          f"({len(few)} units, one call each), ours in a batch of {args.units} "
          f"{batched * 1e3:.1f} ms: ratio {lucent / batched:.2f} (goal >= 2)")


if __name__ == "__main__":
    main()
