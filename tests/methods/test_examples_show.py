"""What pictures of examples need (methods/examples/show.py), the image and text kinds
that draw them (render/kinds), the examples pages and the CLI command."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from PIL import Image
from torch import nn

import neuronscope as ns
from neuronscope.atlas.examples_page import write_examples
from neuronscope.cli import main
from neuronscope.core.spec import InputSpec, attach_spec
from neuronscope.methods.examples.show import field_of, unit_examples, unit_traces
from neuronscope.render.examples import example_grid, text_html
from neuronscope.render.kinds import kind_for
from neuronscope.render.kinds.image import crop, unit_crops


def test_crop_pads_outside_the_image_with_gray() -> None:
    image = torch.arange(16.0).view(1, 4, 4) / 16
    cut = crop(image, (-1, 2, 2, 5))  # one row above, one column right of the image
    assert cut.shape == (1, 3, 3)
    assert torch.all(cut[:, 0] == 0.5) and torch.all(cut[:, :, 2] == 0.5)
    assert torch.equal(cut[0, 1:, :2], image[0, :2, 2:])


def test_crops_centre_on_the_maximum() -> None:
    model = nn.Sequential(nn.Conv2d(1, 1, 3, bias=False))
    model[0].weight.data.fill_(1.0)  # a 3x3 box filter: the max sits on the brightest patch
    x = torch.zeros(6, 1, 12, 12)
    for i in range(6):
        x[i, 0, i + 2 : i + 5, 3:6] = 1.0 + i  # a bright 3x3 square, brighter each image
    ex = ns.top_examples(model, x, k=3, progress=False)["0"]
    assert ex.indices[0].tolist() == [5, 4, 3]
    shown = unit_examples(model, x, ex, 0, field=field_of(model, ex, x))
    values = shown.values
    crops, box = unit_crops(shown, min_size=3, context=0)
    assert crops.shape == (3, 1, 3, 3) and values == sorted(values, reverse=True)
    assert box == (0, 0, 3, 3) and torch.all(crops[0] == 6.0)  # exactly the bright square
    wide, box = unit_crops(shown, min_size=9, context=9)
    assert wide.shape == (3, 1, 9, 9) and box == (3, 3, 6, 6)  # the field in its context
    assert torch.all(wide[0, :, 3:6, 3:6] == 6.0)
    assert torch.all(wide[0, :, 8] == 0.5) and wide[0].sum() == 6.0 * 9 + 0.5 * 9  # gray: outside
    grid = example_grid(wide, values, box=box)
    assert grid.mode == "RGB"


def test_example_grid_and_text_html() -> None:
    grid = example_grid(torch.rand(4, 3, 8, 8), [4.0, 3.0, 2.0, 1.0])
    assert grid.mode == "RGB" and grid.width > 4 * 8
    page = text_html(["a<b\n"], [[1.0, 0.0, -1.0, 0.5]], titles=["x & y"])
    assert "a</span>" in page and "&lt;" in page and "x &amp; y" in page
    assert "rgba(40, 90, 220, 1.00)" in page and "rgba(220, 40, 40, 0.50)" in page


class CharNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(5, 4)
        self.rnn = nn.GRU(4, 3, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(self.emb(x))[0]


def test_text_examples_are_shaded_snippets(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = attach_spec(CharNet().eval(), InputSpec(shape=(6,), kind="text", vocab="abcd\n"))
    tokens = torch.randint(0, 5, (20, 6))
    res = ns.top_examples(model, tokens, layers=["rnn[0]"], k=2, progress=False)
    shown = unit_examples(model, tokens, res["rnn[0]"], 1, traces=True)
    assert kind_for(model.input_spec, shown.inputs[0]).name == "text"
    act = shown.traces
    assert len(shown.inputs) == 2 and act.shape == (2, 6)
    assert torch.isclose(act[0].max(), res["rnn[0]"].values[1, 0])
    assert torch.equal(act, unit_traces(model, tokens, res["rnn[0]"], 1, shown.indices))
    folders = write_examples(model, tokens, res, tmp_path, progress=False)
    page = (tmp_path / "index.html").read_text()
    assert page.count("class='snippet'") == 3 * 2 * 2  # units x sides x examples
    assert "rgba(220, 40, 40" in page
    assert "pictures show a snippet of each input around its peak" in page  # not "whole"
    assert not folders["rnn[0]"].exists()  # snippets live in the page: no empty folder


class CharClassifier(nn.Module):
    """Character ids [B, 40] -> two logits: units with one value per input."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(5, 4)
        self.head = nn.Linear(4 * 40, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.emb(x).flatten(1))


def test_text_units_without_positions_show_each_input_from_its_start() -> None:
    torch.manual_seed(0)
    model = attach_spec(CharClassifier().eval(),
                        InputSpec(shape=(40,), kind="text", vocab="abcd\n"))
    tokens = torch.randint(0, 5, (12, 40))
    res = ns.top_examples(model, tokens, layers=["head"], k=2, progress=False)
    shown = unit_examples(model, tokens, res["head"], 1, traces=True)
    page = kind_for(model.input_spec, shown.inputs[0]).examples(shown)
    assert "class='peak'" not in page  # no position: no peak to outline
    first = "".join("abcd\n"[int(i)] for i in shown.inputs[0])
    text = re.sub(r"<[^>]+>", "", page).replace("&#8629;", "\n")
    assert first in text  # the whole input, not 25 characters around a made-up peak


def test_examples_command_writes_grids_and_a_page(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    out = tmp_path / "ex"
    code = main(["examples", "digits-cnn", "--data", "digits", "--layer", "conv2",
                 "--units", "0-2", "--k", "4", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "conv2" in printed and str(out / "conv2") in printed
    assert sorted(p.name for p in (out / "conv2").iterdir()) == [
        f"unit-000{u}-{side}.png" for u in range(3) for side in ("bottom", "top")]
    with Image.open(out / "conv2" / "unit-0000-top.png") as im:
        assert im.width > 4 * 24
    page = (out / "index.html").read_text()
    assert len(re.findall(r"<div class='unit'", page)) == 3
    res = ns.TopExamples.load(out / "examples.safetensors")
    assert res["conv2"].indices.shape == (32, 4) and res["conv2"].count == 360
    assert main(["examples", "digits-cnn", "--data", "digits", "--layer", "conv2",
                 "--units", "99", "--out", str(out)]) == 2


class LongerConv(nn.Module):
    """Character ids [B, T] -> a Conv1d padded on both sides by its kernel - 1 (as a causal
    model pads before dropping the end): [B, 2, T + 4], its last 4 positions past the text."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(5, 2)
        self.conv = nn.Conv1d(2, 2, 5, padding=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.emb(x).transpose(1, 2))


def test_a_peak_past_the_end_of_the_text_says_so(caplog: object) -> None:
    from neuronscope.atlas.drawing import ExampleDrawer

    torch.manual_seed(0)
    model = attach_spec(LongerConv().eval(), InputSpec(shape=(8,), kind="text",
                                                       vocab="abcd\n"))
    with torch.no_grad():  # every character lowers the unit; the kernel's first tap least
        model.emb.weight.fill_(-1.0)
        model.conv.weight.fill_(1.0)
        model.conv.weight[..., 0] = 0.1
        model.conv.bias.zero_()  # so the highest position is 11: it sees character 7 alone
    tokens = torch.zeros(6, 8, dtype=torch.long)
    with caplog.at_level("WARNING"):  # type: ignore[attr-defined]
        res = ns.top_examples(model, tokens, layers=["conv"], k=2, progress=False)
        drawer = ExampleDrawer(model, tokens, res["conv"])
    assert res["conv"].positions[0, 0, 0] == 11  # mined past the text's end
    said = caplog.text.count("has 12 positions for inputs of 8 steps")  # type: ignore[attr-defined]
    assert said == 1  # by top_examples, once for the model and layer
    shown = drawer.shown(0)
    assert shown.peaks == [None, None] and shown.traces.shape == (2, 8)
    assert "(at a position past the input&#x27;s end)" in drawer.unit(0) or \
        "(at a position past the input's end)" in drawer.unit(0)
