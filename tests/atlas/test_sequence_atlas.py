"""The atlas of text and sound models, through the input kinds alone: a char LSTM's cells
shaded per character around each peak, a transformer's neurons per token, a spectrogram
net's units with WAV clips a browser plays."""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient
from torch import nn

import neuronscope as ns
from neuronscope.atlas.build import build_atlas
from neuronscope.core.spec import attach_spec
from neuronscope.data.tones import tones_spec
from neuronscope.web.app import create_app
from neuronscope.zoo.charlm import CharLSTM

from ..web.live_server import served
from ..web.test_browser import ARGS, CHROMIUM


def unit_page(atlas: Path, layer: str, unit: int) -> str:
    client = TestClient(create_app(atlas), base_url="http://127.0.0.1")
    got = client.get(f"/layer/{layer}/unit/{unit}")
    assert got.status_code == 200, got.text
    return got.text


def tiny_lstm() -> tuple[nn.Module, object]:
    data = ns.datasets.load("pysource", split="test", seq_len=32, max_chars=4_000)
    torch.manual_seed(0)
    return attach_spec(CharLSTM(len(data.vocab), embed=8, hidden=12).eval(), data.spec), data


@pytest.fixture(scope="module")
def lstm_atlas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model, data = tiny_lstm()
    out = tmp_path_factory.mktemp("lstm")
    build_atlas(model, data, str(out), sections=("examples", "ablation"), k=3, progress=False)
    return out


def test_the_lstm_atlas_shows_cells_by_their_peak_with_context(lstm_atlas: Path) -> None:
    manifest = json.loads((lstm_atlas / "manifest.json").read_text())
    assert sorted(manifest["layers"]) == ["lstm.c", "lstm.h"]  # the model's study_layers
    assert "skipped" not in manifest["layers"]["lstm.c"]["ablation"]  # named: computed
    units = json.loads((lstm_atlas / "units/lstm.c/examples.json").read_text())
    assert units["reduce"] == "max"  # the text kind ranks by the peak
    page = unit_page(lstm_atlas, "lstm.c", 3)
    peaks = re.findall(r'<span title="([-0-9.]+)"[^>]*class=\'peak\'', page)
    assert len(peaks) == 6 + 10  # top and bottom, k = 3 each; 2 random per quantile band
    assert float(peaks[0]) == pytest.approx(units["units"][3]["top_values"][0], abs=1e-3)
    assert "rgba(" in page and "&#8629;" in page  # shaded, line ends shown
    grid = TestClient(create_app(lstm_atlas), base_url="http://127.0.0.1").get("/layer/lstm.c")
    assert grid.text.count("class='peak'") == 12  # a brief per unit in the layer's grid


def test_lesions_of_a_language_model_score_every_position_when_asked(
        lstm_atlas: Path, tmp_path: Path) -> None:
    model, data = tiny_lstm()
    ab = json.loads((lstm_atlas / "units/lstm.c/ablation.json").read_text())
    sweep = ns.unit_sweep(model, data, "lstm.c", progress=False)  # every window: n < 500
    assert ab["per_position"] and ab["selectivity"] is None and ab["n"] == len(data)
    assert ab["baseline"] == pytest.approx(sweep.baseline, abs=1e-6)
    assert ab["importance"] == pytest.approx(sweep.importance.tolist(), abs=1e-6)
    page = unit_page(lstm_atlas, "lstm.c", ab["by_importance"][0])
    assert "silenced alone at every position, next-token accuracy changes by" in page
    assert "rank 1 of 12 by importance" in page and "selectivity" not in page
    # a build that names no sections leaves them out, saying how to ask; asked later: made
    out = tmp_path / "atlas"
    build_atlas(model, data, str(out), sections=None, k=2, progress=False,
                layers=["lstm.c"])
    skipped = json.loads((out / "manifest.json").read_text())["layers"]["lstm.c"]["ablation"]
    assert "one class per input" in skipped["skipped"] and "--sections ablation" in \
        skipped["skipped"]
    build_atlas(model, data, str(out), sections=("ablation",), progress=False,
                layers=["lstm.c"])
    done = json.loads((out / "manifest.json").read_text())["layers"]["lstm.c"]["ablation"]
    assert "skipped" not in done
    assert json.loads((out / "units/lstm.c/ablation.json").read_text())["importance"] == \
        ab["importance"]


def test_a_lesion_of_torch_rnn_output_says_what_it_does_not_reach() -> None:
    from types import SimpleNamespace

    from neuronscope.atlas.sections.ablation import _change, _note

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru, self.out = nn.GRU(3, 4, batch_first=True), nn.Linear(4, 2)

    job = SimpleNamespace(model=Net())
    assert "not its recurrence" in _note(job, "gru[0]") and "GRU" in _note(job, "gru[0]")
    assert _note(job, "out") is None
    assert (_change(0.0), _change(-0.01234), _change(2e-5)) == (
        "0", "-0.0123", "+2.0e-05")


def test_lesions_on_part_of_the_data_say_so() -> None:
    from types import SimpleNamespace

    from neuronscope.atlas.sections.ablation import _scored

    view = SimpleNamespace(manifest={"data": {"n": 1200}})
    assert _scored(view, 500, "inputs") == \
        "500 of 1,200 inputs, a fixed random sample: lesions take at most --ablation-n"
    assert _scored(view, 1200, "inputs") == "1,200 inputs"
    from neuronscope.atlas.sections.ablation import scored

    sample = scored(90, 40)  # a folder of 3 classes x 30 files, sorted by class
    assert len(set(sample)) == 40 and sample == sorted(sample)
    assert {i // 30 for i in sample} == {0, 1, 2}  # every class, not the first 40 files


def test_the_minilm_atlas_shows_neurons_per_token(tmp_path: Path) -> None:
    lm = ns.zoo.load("minilm")
    data = ns.datasets.load("docstrings", split="test", model=lm, seq_len=24, max_chars=6_000)
    build_atlas(lm, data, str(tmp_path), layers=["encoder.layer.1.intermediate"],
                sections=("examples",), k=2, progress=False)
    page = unit_page(tmp_path, "encoder.layer.1.intermediate", 5)
    pieces = re.findall(r"class='peak'>([^<]*)<", page)
    assert len(pieces) == 4 + 10 and all(p.strip() for p in pieces)  # whole tokens, not bytes
    assert "[CLS]" not in pieces


@pytest.fixture(scope="module")
def tones_atlas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    net = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 4, 3, padding=1)), ("relu1", nn.ReLU()),
        ("pool", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten()), ("fc", nn.Linear(4, 6))]))
    data = ns.datasets.load("tones", split="test", n=24)
    model = attach_spec(net.eval(), tones_spec(data.classes))
    out = tmp_path_factory.mktemp("tones")
    build_atlas(model, data, str(out), layers=["conv1"], sections=("examples",), k=3,
                progress=False)
    return out


def test_sound_units_keep_a_clip_per_example_once(tones_atlas: Path) -> None:
    units = json.loads((tones_atlas / "units/conv1/examples.json").read_text())
    first = units["units"][0]
    clips = [m["file"] for m in first["media"]["top"]]
    assert len(clips) == 3 and all(c.startswith("examples/items/item-") for c in clips)
    assert [int(c[-10:-4]) for c in clips] == first["top"]  # the dataset's items, in order
    items = list((tones_atlas / "examples/items").glob("*.wav"))
    assert len(items) <= 24  # shared by every unit that shows the item
    wav = items[0].read_bytes()
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE" and len(wav) == 44 + 2 * 8000
    page = unit_page(tones_atlas, "conv1", 0)
    random = [i for band in first["bands"] for i in band if i >= 0]  # by quantile band
    assert first["random"] and len(first["media"]["random"]) == len(random) > 0
    assert page.count("<audio controls") == 6 + len(random)
    assert "value at each frame (its mean over the bands" in page  # what the strip is
    assert page.count("class='playable'") == 3  # players kept as wide as their examples
    classes = tones_spec().class_names
    fixture = ns.datasets.load("tones", split="test", n=24)
    for side, shown in (("top", first["top"]), ("random", random)):
        for m, i in zip(first["media"][side], shown, strict=True):
            assert m["title"] == f"item {i} ({classes[fixture[i][1]]})"
            assert f"title='{m['title']}'" in page and f">{m['title']}</div>" in page
            assert m["file"] == f"examples/items/item-{i:06d}.wav"  # kept once


def test_a_browser_plays_the_clips_of_a_sound_unit(tones_atlas: Path) -> None:
    from playwright.sync_api import sync_playwright

    with served(create_app(tones_atlas)) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page()
        statuses: list[int] = []
        page.on("response", lambda r: statuses.append(r.status) if r.url.endswith(".wav")
                else None)
        page.goto(f"{url}/layer/conv1/unit/0")
        page.eval_on_selector("audio", "a => a.play()")
        page.wait_for_function("document.querySelector('audio').readyState >= 2", timeout=10000)
        duration = page.eval_on_selector("audio", "a => a.duration")
        browser.close()
    assert statuses and set(statuses) <= {200, 206}  # Chromium may ask for a range
    assert duration == pytest.approx(1.0, abs=0.01)


def test_the_histogram_shows_the_range_of_the_data_only() -> None:
    from neuronscope.atlas.sections.examples import _histogram

    svg = _histogram([0, 0, 3, 0, 5, 0, 0], [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    assert svg.count("<rect") == 3 and "from 2 to 5" in svg


def test_a_character_models_output_units_are_named_by_their_characters(tmp_path: Path
                                                                       ) -> None:
    model, data = tiny_lstm()
    build_atlas(model, data, str(tmp_path), layers=["lstm.h", "decoder"],
                sections=("examples",), k=2, progress=False)
    vocab = data.vocab
    unit = vocab.index(",")
    assert "the character &#x27;,&#x27;" in unit_page(tmp_path, "decoder", unit)
    assert "the character" not in unit_page(tmp_path, "lstm.h", 3)  # not the output
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    del manifest["model"]["spec"]["vocab"]  # an atlas of the version before the names
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    build_atlas(model, data, str(tmp_path), layers=["lstm.h", "decoder"],  # the same model
                sections=("examples",), k=2, progress=False)
    assert "the character &#x27;,&#x27;" in unit_page(tmp_path, "decoder", unit)


def test_each_sound_example_is_made_audible_once_per_layer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from torch.utils.data import TensorDataset

    from neuronscope.render.kinds.audio import AudioKind

    made: list[int] = []
    original = AudioKind.media

    def counted(self: AudioKind, shown: object) -> list:
        made.extend(shown.indices)  # type: ignore[attr-defined]
        return original(self, shown)  # type: ignore[arg-type]

    monkeypatch.setattr(AudioKind, "media", counted)
    data = ns.datasets.load("tones", split="test", n=24)
    plain = TensorDataset(torch.stack([data[i][0] for i in range(24)]),
                          torch.tensor([data[i][1] for i in range(24)]))
    plain.spec = data.spec  # type: ignore[attr-defined] # no waveform: Griffin-Lim clips
    torch.manual_seed(0)
    net = nn.Sequential(OrderedDict([("conv1", nn.Conv2d(1, 4, 3, padding=1)),
                                     ("relu1", nn.ReLU())]))
    build_atlas(attach_spec(net.eval(), tones_spec(data.classes)), plain, str(tmp_path),
                layers=["conv1"], sections=("examples",), k=3, progress=False)
    units = json.loads((tmp_path / "units/conv1/examples.json").read_text())["units"]
    shown = sum(len(u["media"][side]) for u in units for side in u["media"])
    assert shown > len(set(made)) and len(made) == len(set(made))  # shared, made once
