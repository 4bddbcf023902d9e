"""Upload bodies: read within a byte limit and a time limit, or refuse with a 4xx that
says why (decoders.py turns the bytes into a model input: images.py an image,
sounds.py a sound)."""

from __future__ import annotations

import asyncio

from fastapi import HTTPException, Request
from starlette.requests import ClientDisconnect

MAX_UPLOAD = 8 * 1024 * 1024  # bytes
MAX_PIXELS = 16_000_000  # decoded pixels (a 4000 x 4000 photo)
READ_TIMEOUT = 10.0  # seconds a client may stay silent while sending a request
BODY_TIMEOUT = 60.0  # seconds for a whole upload
CLOSE = {"Connection": "close"}  # a refused body is not read to its end: drop the connection


async def read_body(request: Request, limit: int, timeout: float = READ_TIMEOUT,
                    total: float = BODY_TIMEOUT) -> bytes:
    """The request body, refused when it is not sent as an image or a sound (415), is
    over `limit` bytes (413), or when the client stops sending for `timeout` seconds or
    takes over `total` seconds in all (408)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not (kind.startswith(("image/", "audio/")) or kind == "application/octet-stream"):
        # browsers send other pages' cross-site posts as text/plain or forms; an image or
        # audio type needs a CORS preflight, which this server never grants
        got = f"Content-Type {kind[:80]}" if kind else "no Content-Type"
        raise HTTPException(415, f"an upload sent with {got}: send an image with "
                                 "Content-Type image/png (or image/jpeg), a sound with "
                                 "audio/wav, or either as application/octet-stream",
                            headers=CLOSE)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"upload over the limit of {limit:,} bytes", headers=CLOSE)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + total
    chunks, size, more = [], 0, True
    while more:
        wait = min(timeout, deadline - loop.time())
        try:
            message = await asyncio.wait_for(request.receive(), max(wait, 0.0))
        except TimeoutError:
            why = (f"no data for {timeout:g} s" if wait == timeout
                   else f"the upload took over {total:g} s")
            raise HTTPException(408, f"upload too slow: {why} after {size:,} bytes; send the "
                                     "whole file at once", headers=CLOSE) from None
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk, more = message.get("body", b""), message.get("more_body", False)
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"upload over the limit of {limit:,} bytes", headers=CLOSE)
        chunks.append(chunk)
    if not size:
        raise HTTPException(400, "empty upload: send the file's bytes (an image, or a sound "
                                 "for an audio model) as the request body")
    return b"".join(chunks)
