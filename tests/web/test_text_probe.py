"""The text probe on a real server (uvicorn on 127.0.0.1): its API with a tiny char LSTM and
the real MiniLM (values as `probe_text` gives them, bad input answered plainly), and in
Chromium the /probe page and the box on a text atlas's unit page."""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import torch
from fastapi.testclient import TestClient
from torch import nn

import neuronscope as ns
import neuronscope.atlas.sections.probe  # noqa: F401 - registers the section (the box)
from neuronscope.atlas.build import build_atlas
from neuronscope.core.spec import InputSpec, attach_spec
from neuronscope.data.pysource import VOCAB, PySource
from neuronscope.methods.textprobe import CODE_SAMPLE, PROSE_SAMPLE, probe_text
from neuronscope.web.app import create_app
from neuronscope.web.multi import create_multi_app
from neuronscope.zoo.charlm import char_lstm

from .atlas_job import tiny_model
from .live_server import make_atlas, served
from .test_browser import ARGS, CHROMIUM

SENTENCE = "The river bank was flooded after the storm."


@pytest.fixture(scope="module")
def lstm() -> nn.Module:
    torch.manual_seed(0)
    data = PySource("test", seq_len=32, max_chars=2000)
    return attach_spec(char_lstm(len(VOCAB), embed=8, hidden=12).eval(), data.spec)


@pytest.fixture(scope="module")
def lstm_atlas(lstm: nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("text-atlas")
    build_atlas(lstm, PySource("test", seq_len=32, max_chars=2000), str(out), layers=["lstm.c"],
                sections=("examples", "probe"), name="tiny-lstm", progress=False, k=3)
    return out


@pytest.fixture(scope="module")
def lstm_url(lstm: nn.Module, lstm_atlas: Path) -> Iterator[str]:
    with served(create_app(lstm_atlas, model=lstm), wait=30) as url:
        yield url


@pytest.fixture(scope="module")
def minilm() -> nn.Module:
    return ns.zoo.load("minilm")


@pytest.fixture(scope="module")
def minilm_url(minilm: nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served(create_app(make_atlas(tmp_path_factory.mktemp("empty")), model=minilm),
                wait=30) as url:
        yield url


def post(url: str, body: bytes, kind: str = "application/json", chunked: bool = False
         ) -> tuple[int, dict, float]:
    """(status, JSON answer, seconds) of a POST sent as a client would send it."""
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    start = time.perf_counter()
    try:
        headers = {"Content-Type": kind}
        if chunked:
            conn.request("POST", u.path, body=iter([body[i:i + 65536] for i in
                                                    range(0, len(body), 65536)]),
                         headers=headers, encode_chunked=True)
        else:
            conn.request("POST", u.path, body=body, headers=headers)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed before the whole body was sent
    r = conn.getresponse()
    answer = json.loads(r.read())
    conn.close()
    return r.status, answer, time.perf_counter() - start


def probe(url: str, layer: str, unit: int, text: str) -> tuple[int, dict, float]:
    return post(f"{url}/api/text/{layer}/{unit}", json.dumps({"text": text}).encode())


def test_lstm_values_match_the_method(lstm: nn.Module, lstm_url: str) -> None:
    text = "def f(x):\n    return x  # é\n"
    status, res, _ = probe(lstm_url, "lstm.c", 5, text)
    direct = probe_text(lstm, text, "lstm.c", unit=5)
    assert status == 200 and res["pieces"] == direct.pieces
    assert res["values"] == pytest.approx(direct.values.tolist(), rel=1e-5, abs=1e-6)
    assert res["vmax"] == pytest.approx(direct.vmax) and res["unit_name"] == "character"
    assert res["unknown"] == ["é"] and "'é' (U+00E9)" in res["notes"][0]


def test_layers_listed(lstm_url: str, minilm_url: str) -> None:
    import urllib.request

    info = json.load(urllib.request.urlopen(lstm_url + "/api/text/layers"))
    assert {"name": "lstm.c", "units": 12} in info["layers"] and info["default"] == "lstm.c"
    assert info["unit_name"] == "character" and info["max_chars"] == 20_000
    info = json.load(urllib.request.urlopen(minilm_url + "/api/text/layers"))
    assert {"name": "encoder.layer.3.intermediate", "units": 1536} in info["layers"]
    assert info["unit_name"] == "token" and info["max_tokens"] == 256


def test_the_page_starts_with_a_sample_the_model_can_read(lstm_url: str, minilm_url: str,
                                                          tmp_path: Path) -> None:
    import urllib.request

    assert json.load(urllib.request.urlopen(lstm_url + "/api/text/layers"))["sample"] \
        == CODE_SAMPLE  # a vocabulary of Python source
    assert json.load(urllib.request.urlopen(minilm_url + "/api/text/layers"))["sample"] \
        == PROSE_SAMPLE  # WordPiece tokens
    prose = attach_spec(nn.Sequential(nn.Embedding(30, 4), nn.Linear(4, 3)),
                        InputSpec((32,), "text", vocab="abcdefghijklmnopqrstuvwxyz .,\ufffd"))
    client = TestClient(create_app(make_atlas(tmp_path / "atlas"), model=prose),
                        base_url="http://127.0.0.1")
    assert client.get("/api/text/layers").json()["sample"] == PROSE_SAMPLE


def test_a_fixed_length_transformer_reads_the_sample_in_windows(tmp_path: Path) -> None:
    from tests.methods.test_textprobe import FixedPositions

    torch.manual_seed(0)
    model = attach_spec(FixedPositions(64, len(VOCAB)).eval(),
                        InputSpec(shape=(64,), kind="text", vocab=VOCAB))
    client = TestClient(create_app(make_atlas(tmp_path / "atlas"), model=model),
                        base_url="http://127.0.0.1")
    sample = client.get("/api/text/layers").json()["sample"]
    assert len(sample) == 72  # the page's own text, over the model's 64 positions
    r = client.post("/api/text/block/2", json={"text": sample})
    assert r.status_code == 200, r.text
    res = r.json()
    assert res["values"] == pytest.approx(probe_text(model, sample, "block", unit=2)
                                          .values.tolist(), rel=1e-5, abs=1e-6)
    assert "2 windows of 64 characters" in res["notes"][-1]


def test_minilm_values_match_the_method(minilm: nn.Module, minilm_url: str) -> None:
    status, res, _ = probe(minilm_url, "encoder.layer.3.intermediate", 100, SENTENCE + " 😀")
    direct = probe_text(minilm, SENTENCE + " 😀", "encoder.layer.3.intermediate", unit=100)
    assert status == 200 and res["pieces"] == direct.pieces and res["special"][0] is True
    assert res["values"] == pytest.approx(direct.values.tolist(), rel=1e-5, abs=1e-6)
    assert res["unknown"] == ["😀"] and "[UNK]" in res["notes"][0]


def test_bad_input_gets_a_plain_answer(lstm_url: str, minilm_url: str) -> None:
    for url in (lstm_url, minilm_url):
        status, res, _ = probe(url, "lstm.c" if url == lstm_url else "encoder", 0, " \n ")
        assert status == 400 and "type some text" in res["detail"]
    status, res, _ = probe(lstm_url, "lstm.cc", 0, "abc")
    assert status == 404 and "lstm.c" in res["detail"]
    status, res, _ = probe(lstm_url, "lstm.c", 12, "abc")
    assert status == 400 and "0-11" in res["detail"]
    status, res, _ = probe(minilm_url, "pooling", 0, "abc")
    assert status == 400 and "one value per token" in res["detail"]
    status, res, _ = post(lstm_url + "/api/text/lstm.c/0", b"abc", kind="text/plain")
    assert status == 415 and "application/json" in res["detail"]
    status, res, _ = post(lstm_url + "/api/text/lstm.c/0", b"{not json")
    assert status == 400 and '{"text": "..."}' in res["detail"]
    status, res, _ = post(lstm_url + "/api/text/lstm.c/0", b'{"txt": "a"}')
    assert status == 400 and "string" in res["detail"]


@pytest.mark.parametrize("chunked", [False, True])
def test_a_pasted_megabyte_is_refused_quickly(lstm_url: str, chunked: bool) -> None:
    body = json.dumps({"text": "x = 1\n" * 180_000}).encode()  # 1.08 MB
    status, res, seconds = post(lstm_url + "/api/text/lstm.c/0", body, chunked=chunked)
    assert status == 413 and "20,000 characters" in res["detail"]
    assert "explain_cells" in res["detail"] and seconds < 2.0
    status, res, _ = probe(lstm_url, "lstm.c", 0, "a" * 20_001)  # under the bytes, over chars
    assert status == 413 and "20,001 characters" in res["detail"]


def test_servers_without_a_text_model(tmp_path: Path) -> None:
    atlas = make_atlas(tmp_path / "atlas")
    image = TestClient(create_app(atlas, model=tiny_model()), base_url="http://127.0.0.1")
    r = image.post("/api/text/conv1/0", json={"text": "abc"})
    assert r.status_code == 409 and "--model pysource-lstm" in r.json()["detail"]
    assert image.get("/api/text/layers").status_code == 409
    assert "/probe" not in image.get("/").text  # no text probe link for an image model
    bare = TestClient(create_app(atlas), base_url="http://127.0.0.1")
    assert "no model" in bare.post("/api/text/a/0", json={"text": "abc"}).json()["detail"]


def test_nan_is_sent_as_null(tmp_path: Path) -> None:
    from tests.methods.test_textprobe import nan_model

    client = TestClient(create_app(make_atlas(tmp_path / "atlas"), model=nan_model()),
                        base_url="http://127.0.0.1")
    res = client.post("/api/text/out/1", json={"text": "abca"}).json()
    assert res["values"][2] is None and "NaN" in res["notes"][-1]


def test_served_beside_other_models(lstm: nn.Module, lstm_atlas: Path) -> None:
    app = create_multi_app([(lstm_atlas, lstm)])
    with TestClient(app, base_url="http://127.0.0.1") as client:
        page = client.get("/models/tiny-lstm/layer/lstm.c/unit/3").text
        url = re.search(r"data-url='([^']+)'", page).group(1)
        assert url == "/models/tiny-lstm/api/text/lstm.c/3"
        assert "src='/models/tiny-lstm/static/probe.js'" in page
        assert "class='ondemand'" not in page and "notcomputed" not in page  # no images here
        assert client.post(url, json={"text": "abc"}).json()["unit"] == 3
        probe_page = client.get("/models/tiny-lstm/probe").text
        assert 'data-base="/models/tiny-lstm"' in probe_page
        assert "href='/models/tiny-lstm/probe'" in probe_page  # the nav links it
        assert client.get("/models/tiny-lstm/static/probe.js").status_code == 200


# ------------------------------------------------------------------ in Chromium

@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make setup does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1100, "height": 800})  # type: ignore[attr-defined]
    yield context.new_page()
    context.close()


def shaded(page: object) -> list[dict]:
    return page.evaluate(  # type: ignore[attr-defined]
        """() => [...document.querySelectorAll('.probe-tokens .tok')].map(s => ({
             text: s.textContent, value: Number(s.dataset.value),
             bg: getComputedStyle(s).backgroundColor, title: s.title}))""")


def check_shading(spans: list[dict], expected: object) -> None:
    """Every token's value as the method gives it, and its background on the atlas scale."""
    assert [s["value"] for s in spans] == pytest.approx(expected.values.tolist(), rel=1e-5,
                                                        abs=1e-6)
    for s in spans:
        rgba = [float(x) for x in re.findall(r"[\d.]+", s["bg"])] + [1.0]
        want = min(1.0, abs(s["value"]) / expected.vmax)
        assert rgba[3] == pytest.approx(want, abs=0.011)
        assert rgba[:3] == ([220, 40, 40] if s["value"] >= 0 else [40, 90, 220])
    assert max(float(re.findall(r"[\d.]+", s["bg"])[3]) if s["bg"].startswith("rgba")
               else 1.0 for s in spans) == 1.0  # the strongest token at full colour


def test_probe_page_in_chromium(page: object, minilm: nn.Module, minilm_url: str) -> None:
    layer = "encoder.layer.3.intermediate"
    page.goto(minilm_url + "/probe")  # type: ignore[attr-defined]
    page.wait_for_selector(f"#probe-layer option[value='{layer}']", state="attached")  # type: ignore[attr-defined]
    assert page.input_value(".probe-text") == PROSE_SAMPLE  # type: ignore[attr-defined]
    page.select_option("#probe-layer", layer)  # type: ignore[attr-defined]
    page.fill("#probe-unit", "100")  # type: ignore[attr-defined]
    page.fill(".probe-text", "")  # type: ignore[attr-defined]
    page.type(".probe-text", SENTENCE + "\nA second line.")  # type: ignore[attr-defined]
    page.click(".probe-run")  # type: ignore[attr-defined]
    page.wait_for_selector(".probe-tokens .tok")  # type: ignore[attr-defined]
    spans = shaded(page)
    check_shading(spans, probe_text(minilm, SENTENCE + "\nA second line.", layer, unit=100))
    assert spans[0]["text"] == "[CLS]" and any("\n" in s["text"] for s in spans)  # kept
    assert re.fullmatch(r'"The": -?\d+\.\d{3}', spans[1]["title"])  # the value on hover
    assert "unit=100" in page.url  # type: ignore[attr-defined]
    page.fill(".probe-text", "   ")  # type: ignore[attr-defined]
    page.press(".probe-text", "Control+Enter")  # type: ignore[attr-defined]
    page.wait_for_selector(".probe-status.error")  # type: ignore[attr-defined]
    assert page.inner_text(".probe-status").startswith("type some text")  # no "400: "  # type: ignore[attr-defined]
    assert page.locator(".probe-tokens .tok").count() == 0  # type: ignore[attr-defined]
    page.fill(".probe-text", SENTENCE + " 😀")  # type: ignore[attr-defined]
    page.click(".probe-run")  # type: ignore[attr-defined]
    page.wait_for_selector(".probe-tokens .tok")  # type: ignore[attr-defined]
    assert page.locator(".probe-notes li").count() == 1  # the [UNK]  # type: ignore[attr-defined]
    page.fill("#probe-unit", "1536")  # type: ignore[attr-defined]
    page.click(".probe-run")  # type: ignore[attr-defined]
    page.wait_for_selector(".probe-status.error")  # type: ignore[attr-defined]
    assert "whole number from 0 to 1535" in page.inner_text(".probe-status")  # type: ignore[attr-defined]
    assert page.locator(".probe-tokens .tok").count() == 0  # no shading left from before  # type: ignore[attr-defined]
    assert page.locator(".probe-notes li").count() == 0  # type: ignore[attr-defined]


def test_unit_page_box_in_chromium(page: object, lstm: nn.Module, lstm_url: str) -> None:
    page.goto(lstm_url + "/layer/lstm.c/unit/3")  # type: ignore[attr-defined]
    assert page.locator("h2", has_text="Test your own text").count() == 1  # type: ignore[attr-defined]
    text = "for x in range(3):\n    print(x)\n"
    page.fill(".textprobe .probe-text", text)  # type: ignore[attr-defined]
    page.press(".textprobe .probe-text", "Control+Enter")  # type: ignore[attr-defined]
    page.wait_for_selector(".probe-tokens .tok")  # type: ignore[attr-defined]
    spans = shaded(page)
    check_shading(spans, probe_text(lstm, text, "lstm.c", unit=3))
    assert "".join(s["text"] for s in spans) == text.replace("\n", "\u21b5\n")
    assert page.locator(".probe-needs").count() == 0  # served with its model: no hint


def test_unit_page_opened_from_disk_says_what_to_run(page: object, lstm_url: str,
                                                      lstm_atlas: Path, tmp_path: Path) -> None:
    import urllib.request

    saved = tmp_path / "unit.html"
    saved.write_bytes(urllib.request.urlopen(lstm_url + "/layer/lstm.c/unit/3").read())
    page.goto(saved.as_uri())  # type: ignore[attr-defined]
    hint = page.inner_text(".textprobe .probe-needs")  # type: ignore[attr-defined]
    assert f"neuronscope serve {lstm_atlas} --model tiny-lstm" in hint


def test_live_page_of_a_text_model_points_to_the_probe(page: object, lstm_url: str) -> None:
    page.goto(lstm_url + "/live")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => document.getElementById('status').textContent.length > 0")
    assert "needs an image or sound model" in page.inner_text("#status")  # type: ignore[attr-defined]
    assert not page.locator("#mode").is_visible()  # no pickers  # type: ignore[attr-defined]
    assert page.locator("nav >> text=live").count() == 0  # type: ignore[attr-defined]
    page.click("nav >> text=text probe")  # type: ignore[attr-defined]
    page.wait_for_selector(".probe-tokens, #probe-layer option", state="attached")  # type: ignore[attr-defined]
    assert page.url.endswith("/probe")  # type: ignore[attr-defined]
