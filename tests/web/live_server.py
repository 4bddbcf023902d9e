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


@contextmanager
def served(app: object, wait: float = 60.0) -> Iterator[str]:
    """`app` in a real uvicorn on a free 127.0.0.1 port, in a thread of this process (the
    browser tests' server); yields its URL and stops it afterwards."""
    import threading

    import uvicorn

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,  # type: ignore[arg-type]
                                        log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + wait
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def watch_computed(url: str, picture: str, section: str, then: str | None = None
                   ) -> tuple[list[bool], str]:
    """Open `url` in Chromium: it must show a progress bar, then reload with `picture`
    (a part of an image's src) and no progress bar. Returns whether each image of
    `section` loaded, and the text of the page `then` (a URL) when given."""
    from playwright.sync_api import sync_playwright

    from .test_browser import ARGS, CHROMIUM

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        first = page.goto(url)
        assert first is not None and "<progress" in first.text()
        page.wait_for_selector(f"img[src*='{picture}']", timeout=20000)
        assert page.locator(".ondemand").count() == 0  # reloaded with the pictures
        mine = f"Array.from(document.images).filter(i => i.src.includes('{section}/'))"
        try:  # lazy images load after the page: give them a moment
            page.wait_for_function(f"{mine}.every(i => i.complete)", timeout=10000)
        except Exception:  # noqa: BLE001 - the assertion on `loaded` says what failed
            pass
        loaded = page.evaluate(f"{mine}.map(i => i.complete && i.naturalWidth > 0)")
        text = ""
        if then is not None:
            answer = page.goto(then)
            text = answer.text() if answer is not None else ""
        browser.close()
    return loaded, text
