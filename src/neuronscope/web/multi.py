"""Several atlases served together: each atlas (with its model, for its live page and the
units it computes on demand) under ``/models/NAME/``, and at ``/`` a page that lists them.

NAME comes from the model each atlas's manifest names (``zoo:shapes-cnn`` ->
``shapes-cnn``; a second atlas of the same model gets ``shapes-cnn-2``). Inside its path an
atlas is served exactly as `create_app` serves one alone (same pages, files and API, every
URL under the path). One model thread runs every model's torch work, one after another
(two threads' OpenMP teams would slow each other down), and the upload threads are shared.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from starlette.middleware.trustedhost import TrustedHostMiddleware

from ..atlas.store import AtlasStore
from .app import atlas_app
from .chooser import chooser_page
from .pages import model_name
from .routes_atlas import static_routes
from .server import LOOPBACK
from .state import base_of
from .uploads import BODY_TIMEOUT, MAX_PIXELS, MAX_UPLOAD, READ_TIMEOUT
from .workers import QUEUE, THREADS, server_threads

PREFIX = "/models/"


def create_multi_app(served: Sequence[tuple[Any, ...]], *,
                     max_upload: int = MAX_UPLOAD, max_pixels: int = MAX_PIXELS,
                     hosts: tuple[str, ...] = LOOPBACK, read_timeout: float = READ_TIMEOUT,
                     body_timeout: float = BODY_TIMEOUT, threads: int = THREADS,
                     queue: int = QUEUE, options: dict[str, Any] | None = None,
                     descriptions: Sequence[str] = ()) -> FastAPI:
    """The app that serves every (atlas folder, model or None[, data]) of `served`, each under
    ``/models/NAME/`` (`slugs`), with the list of them at ``/`` (with the `descriptions`
    of the models, in the same order, when given). The other arguments are `create_app`'s,
    for all of them.

    Example:
        >>> import tempfile
        >>> from neuronscope.atlas.store import AtlasStore
        >>> folders = []
        >>> for name in ("zoo:shapes-cnn", "zoo:efficientnet-lite0"):
        ...     store = AtlasStore(tempfile.mkdtemp())
        ...     store.manifest["model"] = {"name": name}
        ...     store.save_manifest()
        ...     folders.append((store.root, None))
        >>> app = create_multi_app(folders)
        >>> [r.path for r in app.routes if getattr(r, "path", "").startswith("/models")]
        ['/models/shapes-cnn', '/models/efficientnet-lite0']
    """
    thread, workers, lifespan = server_threads(threads, queue)

    app = FastAPI(title="neuronscope", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(hosts))
    mounted = []
    for name, (folder, model, *data) in zip(slugs([f for f, *_ in served]), served,
                                            strict=True):
        mount = PREFIX + name
        sub = atlas_app(folder, model, thread, workers, max_upload=max_upload,
                        max_pixels=max_pixels, read_timeout=read_timeout,
                        body_timeout=body_timeout, options=options, mount=mount,
                        data=data[0] if data else None)
        app.mount(mount, sub)
        mounted.append((mount, sub.state.microscope))

    @app.get("/", response_class=HTMLResponse)
    def chooser(request: Request) -> str:
        root = base_of(request)
        return chooser_page([(scope.view(base=root + mount), scope.probe is not None)
                             for mount, scope in mounted], root, descriptions)

    app.include_router(static_routes())
    return app


def slugs(folders: Sequence[str | Path]) -> list[str]:
    """The path name of each atlas: its model's name (from its manifest; else the folder's
    name) in letters, digits, ``.``, ``_`` and ``-``, numbered from the second on when
    several share one.

    Example:
        >>> import tempfile
        >>> store = AtlasStore(tempfile.mkdtemp())
        >>> store.manifest["model"] = {"name": "my net.py:build"}
        >>> store.save_manifest()
        >>> slugs([store.root, store.root])
        ['my-net.py-build', 'my-net.py-build-2']
    """
    out: list[str] = []
    for folder in folders:
        manifest = AtlasStore(folder, writer=False).manifest
        name = model_name(manifest) if manifest.get("model", {}).get("name") else ""
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", name or Path(folder).name).strip("-.") or "model"
        slug, n = base, 1
        while slug in out:
            n += 1
            slug = f"{base}-{n}"
        out.append(slug)
    return out
