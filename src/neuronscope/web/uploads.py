"""Upload bodies: read within a byte limit, or refuse with a 4xx that says why (images.py
turns the bytes into a model input)."""

from __future__ import annotations

from fastapi import HTTPException, Request

MAX_UPLOAD = 8 * 1024 * 1024  # bytes
MAX_PIXELS = 16_000_000  # decoded pixels (a 4000 x 4000 photo)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused when it is not sent as an image or is over `limit` bytes."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not (kind.startswith("image/") or kind == "application/octet-stream"):
        # browsers send other pages' cross-site posts as text/plain or forms; an image type
        # needs a CORS preflight, which this server never grants
        raise HTTPException(415, "send the image with Content-Type image/png (or image/jpeg, "
                                 "application/octet-stream)")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"upload over the limit of {limit:,} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, f"upload over the limit of {limit:,} bytes")
        chunks.append(chunk)
    if not size:
        raise HTTPException(400, "empty upload: send the image bytes as the request body")
    return b"".join(chunks)
