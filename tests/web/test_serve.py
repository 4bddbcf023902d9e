"""`neuronscope serve` as run: the atlas folder is checked, request heads have a deadline,
the Host check stays on whatever address it binds, broken links are 404s."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from neuronscope.cli import main
from neuronscope.core.errors import NeuronscopeError
from neuronscope.web.server import allowed_hosts

from .atlas_job import build
from .live_server import Server, free_port, make_atlas, serve

TIMEOUT = 1.0  # the server's --timeout in these tests


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
    with serve(atlas, "--timeout", str(TIMEOUT), "--allow-host", "microscope.lan") as srv:
        yield srv


def test_broken_links_and_link_loops_are_404(server: Server) -> None:
    for name in ("loop", "ping", "pong", "broken", "broken-outside", "loop/x",
                 "units/conv2/examples.json"):
        r = httpx.get(f"{server.url}/files/{name}")
        assert r.status_code == 404, (name, r.status_code, r.text)
    page = httpx.get(f"{server.url}/layer/conv2/unit/1")  # shown without what it cannot read
    assert page.status_code == 200 and "Dataset examples" not in page.text
    assert "/files/featvis/conv2/unit-0001-pos0.png" in page.text


@pytest.fixture(autouse=True)
def _never_serve(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process CLI tests fail, rather than hang, if the command starts serving."""
    def served(*args: object, **kwargs: object) -> None:
        raise AssertionError("the command started a server")

    if "cli" in request.node.name:
        monkeypatch.setattr("uvicorn.run", served)


@pytest.mark.parametrize("case", ["missing", "a file", "empty", "corrupt", "not a dict",
                                  "not an atlas", "newer"])
def test_cli_refuses_a_folder_without_an_atlas(tmp_path: Path, case: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "atlas"
    manifest = {"corrupt": '{"format": "neuronscope.atlas", "ver', "not a dict": "[1, 2]",
                "not an atlas": '{"format": "something-else", "layers": {}}',
                "newer": '{"format": "neuronscope.atlas", "version": 99, "layers": {}}'}
    if case == "a file":
        folder.write_text("x")
    elif case != "missing":
        folder.mkdir()
        if case in manifest:
            (folder / "manifest.json").write_text(manifest[case])
    assert main(["serve", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("neuronscope serve: error: "), err
    assert str(folder) in err
    assert case != "missing" or not folder.exists()  # not created


@pytest.mark.parametrize("args", [["--port", "99999"], ["--port", "0"], ["--port", "http"],
                                  ["--timeout", "0"], ["--timeout", "nan"],
                                  ["--allow-host", "evil.com:80"], ["--allow-host", "a*b"]])
def test_cli_refuses_bad_options(tmp_path: Path, args: list[str],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    atlas = str(make_atlas(tmp_path))
    try:
        status = main(["serve", atlas, *args])
    except SystemExit as exc:  # argparse's own error exit
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err
    assert args[0] in err and "error:" in err, err


def test_allowed_hosts() -> None:
    loopback = ("127.0.0.1", "localhost", "::1", "[::1]")
    assert allowed_hosts("127.0.0.1") == loopback
    assert allowed_hosts("0.0.0.0") == (*loopback, "0.0.0.0")
    assert allowed_hosts("Box.LAN", ["a.lan", "*.b.lan"]) == (*loopback, "box.lan", "a.lan",
                                                              "*.b.lan")
    assert allowed_hosts("::", ["fe80::2"]) == (*loopback, "[::]", "[fe80::2]")
    assert allowed_hosts("0.0.0.0", ["x.lan", "*"]) == ("*",)  # only an explicit '*'
    with pytest.raises(NeuronscopeError, match="not a host name"):
        allowed_hosts("127.0.0.1", ["http://x.lan/"])


def status(server: Server, host: str) -> int:
    return httpx.get(server.url + "/", headers={"Host": host}).status_code


def test_foreign_host_names_are_refused(server: Server) -> None:
    assert status(server, f"127.0.0.1:{server.port}") == 200
    assert status(server, "microscope.lan") == 200  # --allow-host
    assert status(server, "evil.example") == 400
    assert status(server, "microscope.lan.evil.example") == 400


def test_the_host_check_stays_on_for_other_addresses(atlas: Path) -> None:
    try:  # an address that is not a loopback *name*, yet reachable only from here
        free_port("127.0.0.2")
    except OSError:
        pytest.skip("127.0.0.2 is not a local address on this machine")
    with serve(atlas, host="127.0.0.2") as srv:
        assert status(srv, f"127.0.0.2:{srv.port}") == 200
        assert status(srv, "localhost") == 200
        assert status(srv, "evil.example") == 400


def closed_after(sock: socket.socket) -> tuple[bytes, float]:
    start, answer = time.monotonic(), b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer, time.monotonic() - start


def test_a_silent_connection_is_closed(server: Server) -> None:
    with server.connect(timeout=TIMEOUT + 8) as sock:
        answer, seconds = closed_after(sock)
    assert answer == b"" and seconds < TIMEOUT + 3


def test_headers_sent_a_byte_at_a_time_get_408(server: Server) -> None:
    head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100
    start = time.monotonic()
    with server.connect(timeout=TIMEOUT + 8) as sock:
        try:
            for byte in head:  # 100 bytes over 10 s, unless cut off
                sock.sendall(bytes([byte]))
                time.sleep(0.1)
        except OSError:
            pass
        answer, _ = closed_after(sock)
    assert answer.startswith(b"HTTP/1.1 408") and b"headers" in answer
    assert time.monotonic() - start < TIMEOUT + 3


def test_a_kept_alive_connection_must_send_its_next_request(server: Server) -> None:
    with server.connect(timeout=TIMEOUT + 8) as sock:
        sock.sendall(b"GET /static/style.css HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        start = time.monotonic()
        try:
            for _ in range(100):  # a byte of the next request every 0.1 s
                sock.sendall(b"G")
                time.sleep(0.1)
        except OSError:
            pass
        answer, _ = closed_after(sock)
    # no second answer (the first one's body may still arrive here: look for a status line)
    assert time.monotonic() - start < TIMEOUT + 3 and b"HTTP/1.1 200" not in answer
