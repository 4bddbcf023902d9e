"""`neuronscope serve` in a subprocess on a free port, for tests that need a real server
(its own process: its memory can be measured, its sockets are real)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[2]
TINY = "tests/web/atlas_job.py:tiny_model"  # a 3 x 16 x 16 image model, as file.py:factory


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def memory(self, key: str = "VmRSS") -> int:
        """Bytes of the server process's memory: VmRSS now, VmHWM the peak so far."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(key)

    def connect(self, timeout: float = 5.0) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=timeout)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def make_atlas(folder: Path) -> Path:
    """An empty atlas (a manifest and nothing else)."""
    from neuronscope.atlas.store import AtlasStore

    AtlasStore(folder).save_manifest()
    return folder


@contextmanager
def serve(atlas: Path, *args: str, host: str = "127.0.0.1") -> Iterator[Server]:
    """`neuronscope serve ATLAS --host HOST --port FREE ARGS...`, until the block ends."""
    port = free_port(host)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.executable, "-m", "neuronscope", "serve", str(atlas),
                             "--host", host, "--port", str(port), *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.time() + 60
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"the server stopped: {log.read().decode()}")
            try:
                socket.create_connection((host, port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        yield Server(proc, host, port)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
