"""`neuronscope serve` as run: broken links in the atlas are 404s."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .atlas_job import build
from .live_server import Server, serve


@pytest.fixture(scope="module")
def atlas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("atlas")
    build(str(out))
    os.symlink("loop", out / "loop")  # a link to itself
    os.symlink("ping", out / "pong")
    os.symlink("pong", out / "ping")
    os.symlink("nothing", out / "broken")
    os.symlink("/no/such/file", out / "broken-outside")
    unit = out / "units" / "conv2" / "examples.json"
    unit.unlink()
    os.symlink("examples.json", unit)  # a unit page's numbers: a loop
    return out


@pytest.fixture(scope="module")
def server(atlas: Path) -> Iterator[Server]:
    with serve(atlas) as srv:
        yield srv


def test_broken_links_and_link_loops_are_404(server: Server) -> None:
    for name in ("loop", "ping", "pong", "broken", "broken-outside", "loop/x",
                 "units/conv2/examples.json"):
        r = httpx.get(f"{server.url}/files/{name}")
        assert r.status_code == 404, (name, r.status_code, r.text)
    page = httpx.get(f"{server.url}/layer/conv2/unit/1")  # shown without what it cannot read
    assert page.status_code == 200 and "Dataset examples" not in page.text
    assert "/files/featvis/conv2/unit-0001-pos0.png" in page.text
