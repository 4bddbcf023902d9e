"""The microscope server: pages, files, live probing, and refusing what it must refuse."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from neuronscope.web.app import create_app

from .atlas_job import build, tiny_model


@pytest.fixture(scope="module")
def atlas_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("atlas")
    build(str(out))
    return out


@pytest.fixture(scope="module")
def client(atlas_dir: Path) -> TestClient:
    app = create_app(atlas_dir, model=tiny_model(), max_upload=200_000, max_pixels=1_000_000)
    client = TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)
    client.headers["Content-Type"] = "image/png"
    return client


def png(size: tuple[int, int] = (20, 20), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def test_pages_and_files(client: TestClient) -> None:
    home = client.get("/")
    assert home.status_code == 200 and "href='/layer/conv1'" in home.text
    assert "/files/model/weights-conv1.png" in home.text
    layer = client.get("/layer/conv2")
    assert layer.status_code == 200 and "/layer/conv2/unit/2" in layer.text
    unit = client.get("/layer/conv2/unit/1")
    assert unit.status_code == 200
    assert "/layer/conv2/unit/0" in unit.text and "/layer/conv2/unit/2" in unit.text
    for src in ("featvis/conv2/unit-0001-pos0.png", "examples/conv2/unit-0001-top.png"):
        assert src in unit.text and client.get(f"/files/{src}").status_code == 200
    assert "Lesion" in unit.text and "selectivity" in unit.text
    assert client.get("/layer/conv2/unit/3").status_code == 404
    assert client.get("/layer/nope").status_code == 404
    assert client.get("/layer/nope").json() == {"detail": "no layer 'nope' in this atlas"}
    browser = client.get("/layer/nope", headers={"Accept": "text/html,*/*"})
    assert browser.status_code == 404 and "text/html" in browser.headers["content-type"]
    assert "no layer &#x27;nope&#x27; in this atlas" in browser.text
    assert "href='/'" in browser.text  # a way back
    api = client.get("/api/text/layers", headers={"Accept": "text/html"})
    assert "text/html" not in api.headers["content-type"]  # the API answers JSON
    assert client.get("/favicon.ico").status_code == 204
    assert client.get("/static/live.js").status_code == 200
    assert client.get("/static/secret.py").status_code == 404


def test_no_path_leaves_the_atlas(client: TestClient, atlas_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    os.symlink(outside, atlas_dir / "link.txt")
    os.symlink(tmp_path, atlas_dir / "linkdir")
    attempts = [
        "/files/../manifest.json", "/files/%2e%2e/%2e%2e/etc/passwd",
        "/files/..%2f..%2f..%2fetc%2fpasswd", "/files/%2Fetc%2Fpasswd", "/files//etc/passwd",
        "/files/model/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/files/link.txt",
        "/files/linkdir/secret.txt", f"/files/{outside}", "/files/..%5c..%5cetc%5cpasswd",
    ]
    for url in attempts:
        r = client.get(url)
        assert r.status_code == 404, url
        assert "secret" not in r.text and "root:" not in r.text
    assert client.get("/files/manifest.json").status_code == 200
    assert client.get("/").status_code == 200  # still serving


def test_bad_uploads_are_refused_and_the_server_goes_on(client: TestClient) -> None:
    r = client.post("/api/live", content=b"\x00" * 300_000)
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    bomb = png((3000, 3000), (0, 0, 0))  # a few KB of PNG, 9 million pixels when decoded
    assert len(bomb) < 200_000
    r = client.post("/api/live", content=bomb)
    assert r.status_code == 413 and "pixels" in r.json()["detail"]
    for junk in (b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50):
        r = client.post("/api/live", content=junk)
        assert r.status_code == 400 and "image" in r.json()["detail"]
    assert client.post("/api/live", content=b"").status_code == 400
    assert client.post("/api/project/conv2/0?method=x", content=png()).status_code == 400
    assert client.post("/api/project/conv9/0", content=png()).status_code == 404
    r = client.post("/api/live", content=png(), headers={"Content-Type": "text/plain"})
    assert r.status_code == 415  # what a cross-site form or fetch without preflight sends
    blp = b"BLP2" + b"\x01" * 200
    assert client.post("/api/live", content=blp).status_code == 400
    assert client.get("/files/manifest.json%00.png").status_code == 404
    assert client.get("/files/" + "a" * 5000).status_code == 404
    assert client.get("/api/unit/conv2/-5").status_code == 404
    assert client.get("/", headers={"Host": "attacker.example"}).status_code == 400
    assert client.get("/").status_code == 200
    ok = client.post("/api/live", content=png())
    assert ok.status_code == 200


def test_uploads_are_read_as_a_person_sees_them(client: TestClient) -> None:
    import base64

    import numpy as np

    def conv1(body: bytes) -> np.ndarray:
        layers = client.post("/api/live", content=body).json()["layers"]
        return np.frombuffer(base64.b64decode(layers[0]["data"]), dtype=np.uint8)

    buf = io.BytesIO()
    Image.new("RGBA", (16, 16), (255, 0, 0, 0)).save(buf, format="PNG")  # invisible red
    invisible = conv1(buf.getvalue())
    assert np.array_equal(invisible, conv1(png((16, 16), (128, 128, 128))))  # it is gray
    deep = np.tile(np.linspace(0, 65535, 16, dtype=np.uint16), (16, 1))
    buf = io.BytesIO()
    Image.fromarray(deep).save(buf, format="PNG")  # a 16-bit gradient
    shallow = Image.fromarray((deep / 257).round().astype(np.uint8)).convert("RGB")
    buf8 = io.BytesIO()
    shallow.save(buf8, format="PNG")
    assert np.abs(conv1(buf.getvalue()).astype(int) - conv1(buf8.getvalue())).max() <= 2


def test_live_maps_and_projection(client: TestClient) -> None:
    r = client.post("/api/live", content=png((40, 30)))
    layers = r.json()["layers"]
    assert [layer["name"] for layer in layers] == ["conv1", "conv2", "fc"]
    conv1 = layers[0]
    assert (conv1["c"], conv1["h"], conv1["w"]) == (4, 16, 16)
    import base64

    assert len(base64.b64decode(conv1["data"])) == 4 * 16 * 16
    assert layers[2]["h"] == layers[2]["w"] == 1
    for method in ("guided", "deconv"):
        p = client.post(f"/api/project/conv2/1?method={method}", content=png())
        assert p.status_code == 200 and p.content.startswith(b"\x89PNG")
        with Image.open(io.BytesIO(p.content)) as im:
            assert im.size == (16, 16)
    panel = client.get("/api/unit/conv2/1").json()
    assert panel["url"] == "/layer/conv2/unit/1" and panel["featvis"].endswith("pos0.png")
    assert torch.is_tensor(torch.zeros(1))
