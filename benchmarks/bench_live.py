"""Frames per second and latency of the live endpoint, with a real HTTP client.

Starts ``neuronscope serve`` with shapes-cnn in a subprocess (an empty atlas:
only the live endpoint is measured), then posts shapes test images (64x64 PNG, as the
live page sends them) one after another over one keep-alive connection, as the page
does, and prints frames per second and the p50 / p95 latency (goal: >= 15 fps on
2 CPU cores).

    .venv/bin/python benchmarks/bench_live.py [--frames 300]
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
from PIL import Image

import neuronscope as ns
from neuronscope.atlas.store import AtlasStore
from neuronscope.render.grid import to_uint8


def frames(n: int) -> list[bytes]:
    data = ns.datasets.load("shapes", split="test", n=min(n, 64))
    out = []
    for i in range(len(data)):
        buf = io.BytesIO()
        Image.fromarray(to_uint8(data[i][0].permute(1, 2, 0))).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    ns.zoo.load("shapes-cnn")  # trained and cached before the server starts
    images = frames(args.frames)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as atlas:
        AtlasStore(atlas).save_manifest()  # an empty atlas: serve refuses a bare folder
        server = subprocess.Popen([sys.executable, "-m", "neuronscope", "serve", atlas,
                                   "--model", "zoo:shapes-cnn", "--port", str(port)],
                                  stdout=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=url, timeout=10) as client:
                for _ in range(300):
                    try:
                        if client.get("/api/live/layers").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.1)
                for img in images[:10]:  # warm-up
                    client.post("/api/live", content=img, headers={"Content-Type": "image/png"})
                latencies = []
                start = time.perf_counter()
                for i in range(args.frames):
                    t = time.perf_counter()
                    r = client.post("/api/live", content=images[i % len(images)],
                                    headers={"Content-Type": "image/png"})
                    r.raise_for_status()
                    latencies.append(time.perf_counter() - t)
                total = time.perf_counter() - start
                size = len(r.content)
        finally:
            server.terminate()
            server.wait(timeout=10)
    q = statistics.quantiles(latencies, n=20)
    print(f"live endpoint, shapes-cnn, 64x64 PNG frames, one HTTP/1.1 keep-alive connection, "
          f"{args.frames} frames, server on 2 CPU cores shared with the client")
    print(f"  {args.frames / total:.1f} frames per second (goal >= 15); latency p50 "
          f"{statistics.median(latencies) * 1e3:.1f} ms, p95 {q[18] * 1e3:.1f} ms; "
          f"{size / 1024:.0f} KiB of JSON per frame")


if __name__ == "__main__":
    main()
