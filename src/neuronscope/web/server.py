"""Running the app: uvicorn with a deadline for each request's head, the atlas checked
first, and the Host names requests may use.

uvicorn's HTTP/1.1 server (h11) waits for a request's headers for ever: a client that
connects and sends nothing, or a byte at a time, holds its connection open until it gives
up. `GuardedH11Protocol` gives the whole head of each request `timeout` seconds from the
connection's start (or from the previous response's end); a body is timed by
`uploads.read_body`. A connection over its deadline gets a 408 (when it had sent part of a
request) and is closed.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h11
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..atlas.store import AtlasStore
from ..core.errors import NeuronscopeError
from .uploads import READ_TIMEOUT

LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
ANY_HOST = "*"
HOST_NAME = re.compile(r"(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?")


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for the head of every request."""

    header_timeout: float = READ_TIMEOUT

    def connection_made(self, transport: Any) -> None:  # noqa: D102 - asyncio protocol
        super().connection_made(transport)
        self._deadline: Any = None
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._waiting_after = self.cycle  # the request whose successor's head must come
        self._deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if getattr(self, "_deadline", None) is not None:
            self._deadline.cancel()
            self._deadline = None

    def data_received(self, data: bytes) -> None:  # noqa: D102
        super().data_received(data)
        if self.cycle is not self._waiting_after:  # a new request's head has come whole
            self._disarm()

    def on_response_complete(self) -> None:  # noqa: D102
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: D102
        self._disarm()
        super().connection_lost(exc)

    def _too_slow(self) -> None:
        self._deadline = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered; its body has its own deadline
        if self.transport.is_closing():
            return
        partial, _ = self.conn.trailing_data
        if partial and self.conn.our_state is h11.IDLE:
            text = (f"request headers not received within {self.header_timeout:g} s\n"
                    ).encode()
            self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; "
                                 b"charset=utf-8\r\nconnection: close\r\ncontent-length: "
                                 + str(len(text)).encode() + b"\r\n\r\n" + text)
        self.transport.close()


def protocol(timeout: float) -> type[GuardedH11Protocol]:
    """A `GuardedH11Protocol` whose request heads must come within `timeout` seconds."""
    if not timeout > 0:
        raise NeuronscopeError(f"the timeout must be a positive number of seconds, "
                               f"not {timeout}")
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"header_timeout": timeout})


def serve(app: FastAPI, host: str, port: int, timeout: float = READ_TIMEOUT) -> None:
    """Run `app` on host:port until interrupted, with request heads timed (`protocol`)."""
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="warning", http=protocol(timeout),
                timeout_keep_alive=5)


def allowed_hosts(bound: str, allow: Sequence[str] = ()) -> tuple[str, ...]:
    """The names requests may give in their Host header: this machine's loopback names, the
    address the server is bound to, and the names in `allow` (``"*.example.org"`` for a
    domain's names); ``"*"`` in `allow`, and only that, accepts any name.

    Example:
        >>> allowed_hosts("0.0.0.0", ["microscope.lan"])
        ('127.0.0.1', 'localhost', '::1', '[::1]', '0.0.0.0', 'microscope.lan')
        >>> allowed_hosts("fe80::1")[-1], allowed_hosts("127.0.0.1", ["*"])
        ('[fe80::1]', ('*',))
    """
    if ANY_HOST in allow:
        return (ANY_HOST,)
    names = list(LOOPBACK)
    for name in (bound, *allow):
        host = _host_name(name)
        if host not in names:
            names.append(host)
    return tuple(names)


def _host_name(name: str) -> str:
    """`name` as a Host header gives it (lower case, an IPv6 address in brackets)."""
    host = name.strip().lower()
    if ":" in host:
        try:
            return f"[{ipaddress.IPv6Address(host.removeprefix('[').removesuffix(']'))}]"
        except ValueError:
            pass
    elif HOST_NAME.fullmatch(host):
        return host
    raise NeuronscopeError(f"{name!r} is not a host name (--host, --allow-host): give a "
                           "name or address without port or scheme (microscope.lan, "
                           "10.0.0.5, *.example.org), or --allow-host '*' to accept any")


def open_atlas(folder: str | Path) -> AtlasStore:
    """The atlas in `folder`, or a NeuronscopeError that says why there is none."""
    path = Path(folder)
    build = f"neuronscope atlas MODEL --data NAME --out {folder}"
    if not path.exists():
        raise NeuronscopeError(f"no folder {folder}: give an atlas folder, or build one "
                               f"with: {build}")
    if not path.is_dir():
        raise NeuronscopeError(f"{folder} is a file, not an atlas folder")
    manifest = path / "manifest.json"
    if not manifest.is_file():
        raise NeuronscopeError(f"{folder} holds no atlas (no manifest.json); build one "
                               f"with: {build}")
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # unreadable, not UTF-8, not JSON
        raise NeuronscopeError(f"{manifest} is damaged ({exc}); build the atlas again "
                               f"with: {build}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("layers"), dict):
        raise NeuronscopeError(f"{manifest} is not an atlas manifest (it has no layers); "
                               f"build the atlas again with: {build}")
    return AtlasStore(path)
