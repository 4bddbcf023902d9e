"""Sound on the live page: WAV uploads of any PCM kind become an audio model's input and
give every layer's maps; whatever is not a PCM WAV is refused with a message that says
what is accepted; in Chromium, a sound file and the (fake) microphone reach the model."""

from __future__ import annotations

import base64
import io
import wave
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from PIL import Image
from torch import nn

from neuronscope.core.spec import attach_spec
from neuronscope.data.tones import tones_spec
from neuronscope.web.app import create_app
from neuronscope.web.decoders import decoder_for
from neuronscope.web.sounds import audio_tensor, read_wav

from .live_server import make_atlas, served
from .test_browser import ARGS, CHROMIUM

LAYERS = ["conv1", "conv2", "fc"]


def tiny_audio_model() -> nn.Module:
    """An untrained two-conv net with the tones-cnn's InputSpec (log-mel [1, 64, 63])."""
    torch.manual_seed(0)
    net = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 4, 3, padding=1)), ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)), ("conv2", nn.Conv2d(4, 4, 3, padding=1)),
        ("relu2", nn.ReLU()), ("pool2", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()),
        ("fc", nn.Linear(4, 6)),
    ])).eval()
    return attach_spec(net, tones_spec())


def tone(rate: int, seconds: float, hz: float = 440.0, level: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return level * np.sin(2 * np.pi * hz * t)


def wav(samples: np.ndarray, rate: int, bits: int = 16, channels: int = 1) -> bytes:
    """A PCM WAV of `samples` ([n] in [-1, 1]) copied to each of `channels`."""
    x = np.repeat(np.asarray(samples)[:, None], channels, 1).reshape(-1)
    if bits == 8:
        raw = np.round(x * 127 + 128).astype(np.uint8).tobytes()
    elif bits == 24:
        v = np.round(x * (2 ** 23 - 1)).astype(np.int32)
        raw = np.stack([v & 255, (v >> 8) & 255, (v >> 16) & 255], 1).astype(np.uint8).tobytes()
    else:
        raw = np.round(x * (2 ** (bits - 1) - 1)).astype(f"<i{bits // 8}").tobytes()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(bits // 8)
        w.setframerate(rate)
        w.writeframes(raw)
    return buf.getvalue()


def riff(tag: int, fmt_rest: bytes, data: bytes, bits: int, rate: int = 8000) -> bytes:
    """A WAV of format `tag` (mono) by hand: what `wave` cannot write."""
    fmt = (tag.to_bytes(2, "little") + (1).to_bytes(2, "little") + rate.to_bytes(4, "little")
           + (rate * bits // 8).to_bytes(4, "little") + (bits // 8).to_bytes(2, "little")
           + bits.to_bytes(2, "little") + fmt_rest)
    body = b"WAVE" + b"fmt " + len(fmt).to_bytes(4, "little") + fmt + b"data" \
        + len(data).to_bytes(4, "little") + data
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def float_wav(samples: np.ndarray, rate: int = 8000, bits: int = 32) -> bytes:
    return riff(3, b"\x00\x00", np.asarray(samples, f"<f{bits // 8}").tobytes(), bits, rate)


def mulaw_wav(samples: np.ndarray, rate: int = 8000) -> bytes:
    """A G.711 mu-law WAV (format 7): what the server does not read and a browser does."""
    s = np.round(np.asarray(samples) * 32767).astype(np.int32)
    sign = np.where(s < 0, 0x80, 0)
    m = np.minimum(np.abs(s), 32635) + 0x84
    exponent = np.clip(np.floor(np.log2(m)).astype(np.int32) - 7, 0, 7)
    mantissa = (m >> (exponent + 3)) & 0x0F
    return riff(7, b"\x00\x00", (~(sign | exponent << 4 | mantissa) & 0xFF).astype(
        np.uint8).tobytes(), 8, rate)


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (20, 20), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def atlas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_atlas(tmp_path_factory.mktemp("atlas"))


def audio_app(atlas: Path, **options: int) -> FastAPI:
    app = create_app(atlas, model=tiny_audio_model(), **options)
    assert app.state.microscope.probe is not None, (  # methods/live.py decides
        "the live probe refused an audio model: "
        + getattr(app.state.microscope, "not_live", ""))
    return app


@pytest.fixture(scope="module")
def client(atlas: Path) -> TestClient:
    app = audio_app(atlas, max_upload=2_000_000)
    client = TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)
    client.headers["Content-Type"] = "audio/wav"
    return client


def live(client: TestClient, body: bytes) -> dict:
    r = client.post("/api/live", content=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_the_page_learns_the_kind_and_what_to_accept(client: TestClient) -> None:
    info = client.get("/api/live/layers").json()
    assert [layer["name"] for layer in info["layers"]] == LAYERS
    assert info["kind"] == "audio" and info["accept"] == "audio/*" and info["flip_rows"]
    assert info["sources"] == ["upload", "microphone"] and info["photos"] == []
    assert info["sample_rate"] == 8000 and info["record_seconds"] == 1.0
    assert "file picker" in info["accepted"]  # the advice the page replaces with its own
    assert client.get("/live").status_code == 200


def test_wavs_of_any_rate_and_channels_give_every_layers_maps(client: TestClient) -> None:
    mono = live(client, wav(tone(8000, 1.0), 8000))
    assert [layer["name"] for layer in mono["layers"]] == LAYERS
    conv1 = mono["layers"][0]
    assert (conv1["c"], conv1["h"], conv1["w"]) == (4, 64, 63)
    assert len(base64.b64decode(conv1["data"])) == 4 * 64 * 63
    assert len(mono["top"]) == 5
    shown = mono["input"]
    assert (shown["rate"], shown["channels"], shown["bits"], shown["start"]) == (8000, 1, 16, 0)
    picture = Image.open(io.BytesIO(base64.b64decode(shown["picture"].split(",")[1])))
    assert picture.size == (63, 64)  # the spectrogram as the model sees it
    with wave.open(io.BytesIO(base64.b64decode(shown["heard"].split(",")[1]))) as heard:
        assert (heard.getframerate(), heard.getnframes()) == (8000, 8000)
    # 2.5 s at 44.1 kHz stereo, the tone in its last second: resampled, the loud part heard
    quiet_then_tone = np.r_[np.zeros(int(1.5 * 44100)), tone(44100, 1.0)]
    stereo = live(client, wav(quiet_then_tone, 44100, channels=2))
    shown = stereo["input"]
    assert (shown["rate"], shown["channels"], shown["seconds"]) == (44100, 2, 2.5)
    assert abs(shown["start"] - 1.5) < 0.01
    assert [layer["name"] for layer in stereo["layers"]] == LAYERS
    levels = [np.frombuffer(base64.b64decode(out["layers"][0]["data"]), np.uint8).astype(int)
              for out in (mono, stereo)]
    assert np.abs(levels[0] - levels[1]).max() <= 2  # the same sound, heard alike


@pytest.mark.parametrize("bits", [8, 16, 24, 32])
def test_pcm_of_every_width_decodes(bits: int) -> None:
    samples, info = read_wav(wav(tone(8000, 0.5), 8000, bits=bits))
    assert info["bits"] == bits and len(samples) == 4000
    assert np.abs(samples - tone(8000, 0.5)).max() < 2.0 / 2 ** (bits - 1)
    x, _ = audio_tensor(wav(tone(8000, 0.5), 8000, bits=bits), tones_spec())
    reference, _ = audio_tensor(wav(tone(8000, 0.5), 8000, bits=16), tones_spec())
    loud = reference > 0.5  # 8-bit noise (-42 dB) lifts the quiet bins; the tone stays
    assert (x - reference)[loud if bits == 8 else ...].abs().max() < (1e-2 if bits == 8 else 1e-3)


def test_a_wave_format_extensible_header_of_pcm_decodes(client: TestClient) -> None:
    pcm_guid = bytes.fromhex("0100000000001000800000aa00389b71")
    rest = (22).to_bytes(2, "little") + (24).to_bytes(2, "little") + b"\x04\x00\x00\x00" \
        + pcm_guid  # what ffmpeg or Audacity write for 24-bit
    v = np.round(tone(8000, 0.25) * (2 ** 23 - 1)).astype("<i4").view(np.uint8)
    body = riff(0xFFFE, rest, v.reshape(-1, 4)[:, :3].tobytes(), 24)
    samples, info = read_wav(body)
    assert info["bits"] == 24 and np.abs(samples - tone(8000, 0.25)).max() < 1e-6
    assert live(client, body)["input"]["bits"] == 24


@pytest.mark.parametrize("bits", [32, 64])
def test_float_wavs_decode_and_say_so(client: TestClient, bits: int) -> None:
    body = float_wav(tone(8000, 0.5), bits=bits)
    samples, info = read_wav(body)
    assert (info["bits"], info["encoding"]) == (bits, "float") and len(samples) == 4000
    assert np.abs(samples - tone(8000, 0.5)).max() < 1e-6
    reference, _ = audio_tensor(wav(tone(8000, 0.5), 8000), tones_spec())
    x, _ = audio_tensor(body, tones_spec())
    assert (x - reference).abs().max() < 1e-3
    shown = live(client, body)["input"]
    assert (shown["bits"], shown["encoding"], shown["seconds"]) == (bits, "float", 0.5)
    pcm_guid_of_float = bytes.fromhex("0300000000001000800000aa00389b71")
    rest = (22).to_bytes(2, "little") + bits.to_bytes(2, "little") + b"\x04\x00\x00\x00" \
        + pcm_guid_of_float  # an extensible header of float samples
    ext = riff(0xFFFE, rest, np.asarray(tone(8000, 0.5), f"<f{bits // 8}").tobytes(), bits)
    assert np.array_equal(read_wav(ext)[0], samples)
    nan = float_wav(np.r_[tone(8000, 0.1), np.nan], bits=bits)
    r = client.post("/api/live", content=nan)
    assert r.status_code == 400 and "NaN" in r.json()["detail"]


def test_a_wav_cut_short_is_heard_as_far_as_it_goes_and_says_so(client: TestClient) -> None:
    for whole in (wav(tone(8000, 1.0), 8000), float_wav(tone(8000, 1.0))):
        cut = whole[:len(whole) - len(whole) // 2 + 22]  # about half its samples
        samples, info = read_wav(cut)
        assert info["declared_seconds"] == 1.0 and 0.45 < info["seconds"] < 0.55
        assert np.abs(samples - tone(8000, 1.0)[:len(samples)]).max() < 1e-4
        assert "declared_seconds" not in read_wav(whole)[1]
        at = whole.index(b"data") + 4  # a streamed file: its length unknown, not cut short
        streamed = whole[:at] + b"\xff\xff\xff\xff" + whole[at + 4:]
        samples, info = read_wav(streamed)
        assert "declared_seconds" not in info and info["seconds"] == 1.0
        assert live(client, cut)["input"]["declared_seconds"] == 1.0


def test_silence_is_an_input(client: TestClient) -> None:
    out = live(client, wav(np.zeros(8000), 8000))
    x, _ = audio_tensor(wav(np.zeros(8000), 8000), tones_spec())
    assert float(x.max()) == 0.0 and [layer["name"] for layer in out["layers"]] == LAYERS
    short = live(client, wav(tone(8000, 0.1), 8000))  # a tenth of a second: zero-padded
    assert short["input"]["seconds"] == 0.1 and short["input"]["heard_seconds"] == 1.0


def test_what_is_not_a_pcm_or_float_wav_is_refused_saying_what_is_read(client: TestClient) -> None:
    cases = [(png(), 415, "PNG"), (np.random.default_rng(0).bytes(3000), 415, "bytes"),
             (b"time,value\n0,1\n1,2\n", 415, "text"),
             (mulaw_wav(tone(8000, 0.2)), 415, "mu-law samples, not PCM or float"),
             (float_wav(tone(8000, 0.2), bits=16), 400, "16-bit float"),
             (b"ID3\x04" + b"\x00" * 100, 415, "MP3"),
             (b"RF64" + wav(tone(8000, 0.2), 8000)[4:], 415,
              "an RF64 file (the 64-bit form of WAV, made for sounds over 4 GB)"),
             (wav(tone(8000, 0.5), 8000)[:30], 400, "ends inside its header"),
             (wav(np.zeros(0), 8000), 400, "no samples")]
    for body, status, words in cases:
        r = client.post("/api/live", content=body)
        detail = r.json()["detail"]
        assert r.status_code == status and words in detail, (words, r.status_code, detail)
        if status == 415:
            assert ".wav (PCM" in detail and "file picker" in detail, detail
    r = client.post("/api/live", content=b"")
    assert r.status_code == 400 and "sound" in r.json()["detail"]
    r = client.post("/api/live", content=wav(tone(8000, 0.5), 8000),
                    headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and "audio/wav" in r.json()["detail"]
    r = client.post("/api/live", content=wav(np.zeros(8000 * 61, np.float32), 8000, bits=8))
    assert r.status_code == 413 and "61.0 s" in r.json()["detail"] and "60 s" in r.json()["detail"]
    assert live(client, wav(tone(8000, 1.0), 8000))["layers"]  # and the server goes on


def test_projection_onto_a_sound(client: TestClient) -> None:
    r = client.post("/api/project/conv2/1?method=guided", content=wav(tone(8000, 1.0), 8000))
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(r.content)).size == (63, 64)
    assert client.post("/api/project/conv2/1", content=png()).status_code == 415


def test_a_model_of_several_channels_gets_the_sound_in_each_and_is_told() -> None:
    import dataclasses

    from neuronscope.data.tones import tones_spec
    from neuronscope.web.decoders import Limits

    spec = dataclasses.replace(tones_spec(), shape=(2, 64, 63))
    decoded = decoder_for("audio").decode(wav(tone(8000, 1.0), 8000), spec, Limits())
    assert decoded.x.shape == (2, 64, 63) and torch.equal(decoded.x[0], decoded.x[1])
    assert decoded.shown["copied_channels"] == 2  # the page's note says so
    mono = decoder_for("audio").decode(wav(tone(8000, 1.0), 8000), tones_spec(), Limits())
    assert "copied_channels" not in mono.shown


def test_decoders_are_registered_by_kind() -> None:
    assert decoder_for("image").accept == "image/*" and decoder_for("audio").flip_rows
    with pytest.raises(HTTPException) as err:
        decoder_for("video")
    assert err.value.status_code == 415 and "audio, image" in err.value.detail


# ---- in Chromium -------------------------------------------------------------------------

chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                              reason="Debian's chromium is not installed (make setup does it)")


@pytest.fixture(scope="module")
def server(atlas: Path) -> Iterator[str]:
    with served(audio_app(atlas), wait=30) as url:
        yield url


def open_live(server: str, microphone: bool = True) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        if microphone:
            context.grant_permissions(["microphone"])
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server + "/live")
        page.wait_for_function("() => document.getElementById('file').accept === 'audio/*'")
        yield page
        browser.close()
        assert not errors, errors


@pytest.fixture
def page(server: str) -> Iterator[object]:
    yield from open_live(server)


def maps_shown(page: object, count: int = 1) -> None:
    page.wait_for_function(  # type: ignore[attr-defined]
        f"() => Number(document.getElementById('frames').dataset.count) >= {count}",
        timeout=20000)
    for name in LAYERS:
        assert page.locator(f"#layer-{name}").count() == 1  # type: ignore[attr-defined]


def upload_a_picture(page: object, tmp_path: Path) -> None:
    """Upload a PNG on the live page and wait for its refusal, which names what is taken."""
    bad = tmp_path / "picture.png"
    bad.write_bytes(png())
    page.set_input_files("#file", str(bad))  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => document.getElementById('status').textContent.includes('PNG')")
    status = page.inner_text("#status")  # type: ignore[attr-defined]
    assert "this browser cannot play it either; pick a WAV" in status, status
    assert "file picker" not in status  # the server's advice to other clients


@chromium
def test_browser_uploads_a_wav_a_float_wav_and_a_mulaw_wav(page: object, tmp_path: Path) -> None:
    assert page.input_value("#mode") == "upload"  # type: ignore[attr-defined]
    assert page.get_attribute("#file", "accept") == "audio/*"  # type: ignore[attr-defined]
    clip = tmp_path / "tone.wav"
    clip.write_bytes(wav(np.r_[np.zeros(22050), tone(44100, 1.0), np.zeros(22050)], 44100,
                         channels=2))
    page.set_input_files("#file", str(clip))  # type: ignore[attr-defined]
    maps_shown(page)
    page.wait_for_selector("#input-view[data-drawn='1']")  # type: ignore[attr-defined]
    assert page.locator("#sound").is_visible()  # type: ignore[attr-defined]
    assert page.get_attribute("#input-audio", "src").startswith("blob:")  # type: ignore
    assert page.get_attribute("#heard-audio", "src").startswith("data:audio/wav")  # type: ignore
    note = page.inner_text("#input-note")  # type: ignore[attr-defined]
    assert "44.1 kHz, 2 channels, 16-bit, 2.00 s; heard 0.50-1.50 s" in note  # sent as it is
    page.locator("#layer-conv2").click(position={"x": 3, "y": 3})  # type: ignore[attr-defined]
    page.check("input[value=guided]")  # type: ignore[attr-defined]
    page.wait_for_selector("#projection:not([hidden])")  # type: ignore[attr-defined]
    floats = tmp_path / "float.wav"  # a float WAV, sent as it is and cut short
    whole = float_wav(tone(16000, 1.0), 16000)  # (a new name: the same file is no change)
    floats.write_bytes(whole[:len(whole) - len(whole) // 2 + 22])
    page.set_input_files("#file", str(floats))  # type: ignore[attr-defined]
    maps_shown(page, 2)
    assert "1 channel, 32-bit float, 0.50 s (the file is cut short: its header promised " \
        "1.00 s)" in page.inner_text("#input-note")  # type: ignore[attr-defined]
    # a mu-law WAV the server does not read: the browser decodes it and sends 16-bit PCM
    mulaw = tmp_path / "mulaw.wav"
    mulaw.write_bytes(mulaw_wav(tone(8000, 1.0)))
    page.set_input_files("#file", str(mulaw))  # type: ignore[attr-defined]
    maps_shown(page, 3)
    assert "decoded by the browser and sent as 22.1 kHz, 1 channel, 16-bit, 1.00 s" in \
        page.inner_text("#input-note")  # type: ignore[attr-defined]
    short = tmp_path / "short.wav"  # half a second: the model hears it and then silence
    short.write_bytes(wav(tone(8000, 0.5), 8000))
    page.set_input_files("#file", str(short))  # type: ignore[attr-defined]
    maps_shown(page, 4)
    assert "0.50 s; heard 0.00-0.50 s and 0.50 s of silence at 8 kHz" in \
        page.inner_text("#input-note")  # type: ignore[attr-defined]
    page.screenshot(path=str(tmp_path / "live.png"), full_page=True)  # type: ignore
    upload_a_picture(page, tmp_path)


@chromium
def test_browser_clears_the_last_sound_when_an_upload_is_refused(page: object,
                                                                 tmp_path: Path) -> None:
    good = tmp_path / "tone.wav"
    good.write_bytes(wav(tone(44100, 1.0), 44100, channels=2))
    page.set_input_files("#file", str(good))  # type: ignore[attr-defined]
    maps_shown(page)
    page.wait_for_selector("#input-view[data-drawn='1']")  # type: ignore[attr-defined]
    assert "44.1 kHz, 2 channels" in page.inner_text("#input-note")  # type: ignore
    assert page.inner_text("#top")  # type: ignore[attr-defined]
    assert not page.locator("#fps-box").is_visible()  # type: ignore[attr-defined]
    upload_a_picture(page, tmp_path)
    for name in LAYERS:  # no maps, players, note or classes of the tone beside picture.png
        assert page.locator(f"#layer-{name}").count() == 0  # type: ignore[attr-defined]
    assert not page.locator("#sound").is_visible()  # type: ignore[attr-defined]
    assert page.get_attribute("#heard-audio", "src") is None  # type: ignore[attr-defined]
    assert page.get_attribute("#input-audio", "src") is None  # type: ignore[attr-defined]
    assert page.inner_text("#input-note") == ""  # type: ignore[attr-defined]
    assert page.inner_text("#top") == ""  # type: ignore[attr-defined]
    assert page.get_attribute("#input-view", "data-drawn") is None  # type: ignore
    blank = page.evaluate(  # type: ignore[attr-defined]
        "() => { const v = document.getElementById('input-view');"
        " return v.getContext('2d').getImageData(0, 0, v.width, v.height).data"
        ".every((b) => b === 0); }")
    assert blank
    again = tmp_path / "again.wav"  # a good sound after the refusal: all back
    again.write_bytes(wav(tone(8000, 1.0), 8000))
    page.set_input_files("#file", str(again))  # type: ignore[attr-defined]
    maps_shown(page, 2)
    assert page.locator("#sound").is_visible()  # type: ignore[attr-defined]
    assert page.inner_text("#status") == ""  # type: ignore[attr-defined]
    assert "8 kHz, 1 channel" in page.inner_text("#input-note")  # type: ignore


@chromium
def test_browser_names_a_broken_wav_it_cannot_play_either(page: object, tmp_path: Path) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(wav(tone(8000, 1.0), 8000)[:30])  # cut inside its header
    page.set_input_files("#file", str(broken))  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => document.getElementById('status').textContent.includes('header')")
    status = page.inner_text("#status")  # type: ignore[attr-defined]
    assert "a broken WAV file" in status and "ends inside its header" in status, status
    assert status.endswith("this browser cannot play it either; pick a WAV, or any sound "
                           "this browser plays"), status


@pytest.fixture(scope="module")
def image_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from .atlas_job import build, tiny_model

    out = tmp_path_factory.mktemp("image-atlas")
    build(str(out))
    with served(create_app(out, model=tiny_model()), wait=30) as url:
        yield url


@chromium
def test_browser_clears_the_last_image_when_an_upload_is_refused(image_server: str,
                                                                 tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        context.grant_permissions(["camera"])
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(image_server + "/live?source=upload")
        picture = tmp_path / "picture.png"
        picture.write_bytes(png())
        page.set_input_files("#file", str(picture))
        maps_shown(page)
        assert page.inner_text("#top") and not page.locator("#fps-box").is_visible()
        sound = tmp_path / "tone.wav"  # no image: the browser cannot draw it, the server says
        sound.write_bytes(wav(tone(8000, 0.5), 8000))
        page.set_input_files("#file", str(sound))
        page.wait_for_function(
            "() => document.getElementById('status').textContent.includes('not a readable')")
        assert page.locator("#layer-conv1").count() == 0 and page.inner_text("#top") == ""
        page.select_option("#mode", "webcam")  # the rate of frames: only for the camera
        maps_shown(page, 3)
        page.wait_for_function("() => /^[0-9.]+$/.test("
                               "document.getElementById('fps').textContent)", timeout=20000)
        assert page.locator("#fps-box").is_visible()
        page.select_option("#mode", "photo")
        assert not page.locator("#fps-box").is_visible()
        browser.close()
    assert not errors, errors


@chromium
def test_browser_records_from_the_fake_microphone(page: object) -> None:
    page.select_option("#mode", "microphone")  # type: ignore[attr-defined]
    assert page.locator("#record").is_visible()  # type: ignore[attr-defined]
    assert not page.locator("#file").is_visible()  # type: ignore[attr-defined]
    page.click("#record")  # type: ignore[attr-defined]
    maps_shown(page)
    page.wait_for_selector("#input-view[data-drawn='1']")  # type: ignore[attr-defined]
    assert page.get_attribute("#input-audio", "src").startswith("blob:")  # type: ignore
    assert "1 channel, 16-bit, 1.00 s" in page.inner_text("#input-note")  # type: ignore
    heard = page.get_attribute("#heard-audio", "src")  # type: ignore[attr-defined]
    with wave.open(io.BytesIO(base64.b64decode(heard.split(",")[1]))) as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    assert np.abs(samples).max() > 3000  # the fake microphone's beep, not silence


@chromium
def test_browser_says_so_when_the_microphone_is_refused(server: str) -> None:
    for page in open_live(server, microphone=False):
        page.evaluate(  # type: ignore[attr-defined]
            "() => { navigator.mediaDevices.getUserMedia = () => Promise.reject("
            "new DOMException('denied', 'NotAllowedError')); }")
        page.select_option("#mode", "microphone")  # type: ignore[attr-defined]
        page.click("#record")  # type: ignore[attr-defined]
        page.wait_for_function(  # type: ignore[attr-defined]
            "() => document.getElementById('status').textContent.startsWith('no microphone')")
        assert "refused" in page.inner_text("#status")  # type: ignore[attr-defined]


def test_a_waveform_model_is_told_what_the_live_page_takes(tmp_path: Path) -> None:
    from neuronscope.core.spec import InputSpec

    net = nn.Sequential(nn.Conv1d(1, 4, 9, stride=4), nn.ReLU(), nn.AdaptiveAvgPool1d(1),
                        nn.Flatten(), nn.Linear(4, 3))
    model = attach_spec(net, InputSpec(shape=(1, 8000), kind="audio",
                                       extra={"sample_rate": 8000}))
    client = TestClient(create_app(tmp_path, model=model), base_url="http://127.0.0.1")
    info = client.get("/api/live/layers").json()
    assert info["layers"] == [] and info["message"] == (
        "the live probe takes images and spectrograms [C, H, W]; this model takes audio of "
        "shape [1, 8000] (a waveform, not a spectrogram)")
