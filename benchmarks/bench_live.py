"""Frames per second and server time of the live endpoint, with a real HTTP client.

Starts ``neuronscope serve`` with the model in a subprocess (an empty atlas: only the
live endpoint is measured), then posts frames (PNG at the model's input size, as the
live page sends them) one after another over one keep-alive connection, as the page
does. Prints frames per second and latency (goal: >= 15 fps on 2 CPU cores), and the
ratio of a frame's server time (decode, forward pass with every main layer recorded,
encode; from the Server-Timing header) to a bare forward pass of the model in this
process (goal <= 2): rounds of frames and of bare passes interleaved, medians taken.

    .venv/bin/python benchmarks/bench_live.py [--model efficientnet-lite0] [--frames 300]
"""

from __future__ import annotations

import argparse
import io
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import httpx
import torch
from PIL import Image

import neuronscope as ns
from neuronscope.atlas.store import AtlasStore
from neuronscope.render.grid import to_uint8


def frames(model: torch.nn.Module, n: int) -> list[bytes]:
    """PNG frames at the model's input size: shapes test images, or bundled photographs."""
    spec = ns.input_spec(model)
    if spec.shape == (3, 64, 64):
        data = ns.datasets.load("shapes", split="test", n=min(n, 64))
        images = [data[i][0] for i in range(len(data))]
    else:
        from neuronscope.data.photos import PHOTO_NAMES, photo

        images = [photo(name, spec.shape[-1]) for name in PHOTO_NAMES]
    out = []
    for x in images:
        buf = io.BytesIO()
        Image.fromarray(to_uint8(x.permute(1, 2, 0))).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def bare(model: torch.nn.Module, n: int) -> list[float]:
    x = ns.input_spec(model).example()
    out = []
    with torch.no_grad():
        for _ in range(n):
            t = time.perf_counter()
            model(x)
            out.append(time.perf_counter() - t)
    return out


def start_server(atlas: str, model: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "neuronscope", "serve", atlas,
                               "--model", model, "--port", str(port)],
                              stdout=subprocess.DEVNULL)
    return server, f"http://127.0.0.1:{port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    model = ns.zoo.load(args.model).eval()  # trained and cached before the server starts
    images = frames(model, args.frames)
    per_round = max(1, args.frames // args.rounds)
    latencies, server_ms, bare_s, fps = [], [], [], []
    with tempfile.TemporaryDirectory() as atlas:
        AtlasStore(atlas).save_manifest()  # an empty atlas: serve refuses a bare folder
        server, url = start_server(atlas, args.model)
        try:
            with httpx.Client(base_url=url, timeout=30) as client:
                for _ in range(600):
                    try:
                        if client.get("/api/live/layers").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.1)
                post = lambda img: client.post(  # noqa: E731
                    "/api/live", content=img, headers={"Content-Type": "image/png"})
                for img in images[:10]:  # warm-up
                    post(img)
                bare(model, 10)
                for r in range(args.rounds):
                    start = time.perf_counter()
                    for i in range(per_round):
                        t = time.perf_counter()
                        res = post(images[(r * per_round + i) % len(images)])
                        res.raise_for_status()
                        latencies.append(time.perf_counter() - t)
                        server_ms.append(float(res.headers["server-timing"].split("dur=")[1]))
                    fps.append(per_round / (time.perf_counter() - start))
                    bare_s += bare(model, per_round)
                size = len(res.content)
        finally:
            server.terminate()
            server.wait(timeout=10)
    q = statistics.quantiles(latencies, n=20)
    frame_ms, bare_ms = statistics.median(server_ms), statistics.median(bare_s) * 1e3
    shape = "x".join(map(str, ns.input_spec(model).shape))
    print(f"live endpoint, {args.model} ({shape}), PNG frames, one HTTP/1.1 keep-alive "
          f"connection, {args.rounds} rounds of {per_round} frames, server and client on "
          f"{torch.get_num_threads()} CPU threads")
    print(f"  {statistics.median(fps):.1f} frames per second (median of rounds; goal >= 15); "
          f"latency p50 {statistics.median(latencies) * 1e3:.1f} ms, p95 {q[18] * 1e3:.1f} ms; "
          f"{size / 1024:.0f} KiB of JSON per frame")
    print(f"  server time per frame {frame_ms:.1f} ms, bare forward {bare_ms:.1f} ms: "
          f"ratio {frame_ms / bare_ms:.2f} (goal <= 2)")


if __name__ == "__main__":
    main()
