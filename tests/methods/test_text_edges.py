"""Text models the code was not written for: unknown characters without U+FFFD, a fixed
length, data over another vocabulary, an RNN's final state, torch's own GRU ablated."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

import neuronscope as ns
from neuronscope.atlas.build import build_atlas
from neuronscope.core.axes import set_unit_axis
from neuronscope.core.errors import NeuronscopeError
from neuronscope.core.spec import InputSpec, attach_spec
from neuronscope.core.text import TextInputError
from neuronscope.data.pysource import VOCAB

V = "\nabc ~"


class GRUModel(nn.Module):
    def __init__(self, n: int = len(V)) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed, self.gru = nn.Embedding(n, 4), nn.GRU(4, 6, batch_first=True)
        self.head = nn.Linear(6, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.gru(self.embed(x))[0])


def gru(extra: dict | None = None, vocab: str = V) -> nn.Module:
    return attach_spec(GRUModel(len(vocab)), InputSpec(shape=(8,), kind="text", vocab=vocab,
                                                       extra=extra or {}))


def test_unknown_characters_without_a_replacement_are_refused_by_name() -> None:
    with pytest.raises(TextInputError, match=r"'X' \(U\+0058.*unknown_char"):
        ns.probe_text(gru(), "abX", "gru[0]", unit=1)


def test_the_models_own_unknown_character_is_used_and_named() -> None:
    res = ns.probe_text(gru({"unknown_char": "~"}), "abX", "gru[0]", unit=1)
    assert res.pieces == ["a", "b", "~"] and res.unknown == ["X"]
    assert "'~', its unknown character" in res.notes[0]
    same = ns.probe_text(gru({"unknown_char": "~"}), "ab~", "gru[0]", unit=1)
    assert torch.equal(res.values, same.values)


class Fixed(nn.Module):
    """Adds a learned position table of 8: takes at most 8 tokens."""

    def __init__(self) -> None:
        super().__init__()
        self.embed, self.pos = nn.Embedding(len(V), 4), nn.Parameter(torch.randn(8, 4))
        self.out = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.embed(x) + self.pos[: x.shape[1]])


def test_a_fixed_length_model_is_read_in_windows_of_its_length_and_says_how_to_declare_it(
        ) -> None:
    model = attach_spec(Fixed(), InputSpec(shape=(8,), kind="text", vocab=V))
    res = ns.probe_text(model, "abc " * 5, "out", unit=0)  # fails whole: windows of 8
    assert res.values.shape == (20,) and "windows of 8" in res.notes[-1], res.notes
    assert "failed on the whole text of 20" in res.notes[-1]
    assert "extra['max_length'] = 8" in res.notes[-1]
    attach_spec(model, InputSpec(shape=(8,), kind="text", vocab=V, extra={"max_length": 8}))
    declared = ns.probe_text(model, "abc " * 5, "out", unit=0)
    assert torch.equal(declared.values, res.values) and "windows" in declared.notes[0]


def test_data_over_another_vocabulary_is_refused_before_an_atlas(tmp_path) -> None:
    data = ns.datasets.load("pysource", split="test", seq_len=16, max_chars=2_000)
    shuffled = VOCAB[1:] + VOCAB[0]
    with pytest.raises(NeuronscopeError, match="vocabulary .* is not the model's"):
        build_atlas(gru(vocab=shuffled), data, str(tmp_path), sections=("examples",),
                    progress=False)
    assert not (tmp_path / "manifest.json").exists()


def test_a_layer_without_the_batch_first_is_refused_by_top_examples() -> None:
    x = torch.randint(0, len(V), (10, 7))
    with pytest.raises(NeuronscopeError, match=r"gru\[1\].*first axis is not the batch"):
        ns.top_examples(GRUModel(), x, layers=["gru[1]"], progress=False)


def test_the_default_layers_of_a_gru_model_are_its_steps_not_its_final_state(tmp_path
                                                                            ) -> None:
    x = torch.randint(0, len(V), (10, 7))
    res = ns.top_examples(GRUModel(), x, progress=False)
    assert list(res.layers) == ["gru[0]", "head"]
    data = ns.datasets.load("pysource", split="test", seq_len=16, max_chars=2_000)
    store = build_atlas(gru(vocab=VOCAB), data, str(tmp_path), sections=("examples",),
                        progress=False)
    assert list(store.manifest["layers"]) == ["gru[0]", "head"]


def test_a_mistyped_layer_is_answered_with_the_addressable_outputs() -> None:
    x = torch.randint(0, len(V), (4, 7))
    with pytest.raises(NeuronscopeError, match=r"Closest: gru\[0\], gru\[1\]\. Layers: embed, "
                       r"gru\[0\], gru\[1\], head"):
        ns.top_examples(GRUModel(), x, layers=["gru0"], progress=False)


class TimeFirst(nn.Module):
    """torch's default GRU layout: [time, batch, units]."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embed, self.gru = nn.Embedding(len(V), 4), nn.GRU(4, 6)
        self.head = nn.Linear(6, len(V))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.gru(self.embed(x).transpose(0, 1))[0].transpose(0, 1))


def test_a_time_first_gru_is_left_out_of_the_defaults_saying_why(caplog) -> None:
    x = torch.randint(0, len(V), (10, 7))
    with caplog.at_level(logging.WARNING):
        res = ns.top_examples(TimeFirst(), x, progress=False)
    assert list(res.layers) == ["head"]
    assert "gru[0] (its batch comes second: [time, batch, units] (batch_first=False))" in \
        caplog.text
    from neuronscope.core.layers import default_layers, layer_table

    model = TimeFirst()
    _, left = default_layers(model, layer_table(model, x[:1]))
    assert left["gru[1]"].startswith("a final state [layers, batch, units]")
    with pytest.raises(NeuronscopeError, match=r"batch_first=False: \[time, batch, units\]"):
        ns.top_examples(TimeFirst(), x, layers=["gru[0]"], progress=False)


def test_a_missing_output_element_names_the_modules_outputs() -> None:
    x = torch.randint(0, len(V), (4, 7))
    with pytest.raises(NeuronscopeError, match=r"head outputs one tensor, with no elements to "
                       r"index: address it as head"):
        ns.top_examples(GRUModel(), x, layers=["head[0]"], progress=False)
    with pytest.raises(NeuronscopeError, match=r"gru has no output gru\[2\]; its outputs: "
                       r"gru\[0\], gru\[1\]"):
        ns.top_examples(GRUModel(), x, layers=["gru[2]"], progress=False)


def test_ablating_torchs_own_gru_warns_that_the_recurrence_is_untouched(caplog) -> None:
    model, x = GRUModel(), torch.randint(0, len(V), (2, 5))
    with caplog.at_level(logging.WARNING), ns.ablate(model, "gru[0]:3"):
        model(x)
    assert "not its recurrence" in caplog.text


def test_explain_cells_needs_the_layer_of_a_model_that_declares_none() -> None:
    with pytest.raises(NeuronscopeError, match="name the layer"):
        ns.explain_cells(gru(vocab=VOCAB), "x = 1\n", progress=False)
    res = ns.explain_cells(gru(vocab=VOCAB), "x = 1\n", layer="gru[0]", progress=False)
    assert res.layer == "gru[0]"


def test_a_namedtuple_output_says_its_fields_go_by_index() -> None:
    import collections

    out = collections.namedtuple("Out", "logits feats")

    class Named(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> tuple:
            return out(self.head(x), x)

    model = nn.Sequential(collections.OrderedDict([("nt", Named())]))
    with pytest.raises(NeuronscopeError, match=r"namedtuple Out \(its fields are addressed by "
                       r"index\); it has no element \[logits\]\. Elements: nt\[0\], nt\[1\]"):
        with ns.record(model, ["nt[logits]"]):
            model(torch.zeros(1, 2))


class PaddedPastTheEnd(nn.Module):
    """A character Conv1d padded by kernel - 1 on both sides and trimmed in forward (as a
    causal model is): the layer `conv` is longer than the text; `trim` is not."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(len(VOCAB), 4)
        self.conv = nn.Conv1d(4, 3, 5, padding=4)
        self.trim = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trim(self.conv(self.emb(x).transpose(1, 2))[..., :x.shape[1]])


def test_a_layer_longer_than_the_text_is_refused_saying_where_to_read_it() -> None:
    torch.manual_seed(0)
    model = attach_spec(PaddedPastTheEnd().eval(), InputSpec(shape=(32,), kind="text",
                                                             vocab=VOCAB))
    text = "def f(x):\n    return [x, 'a']\n" * 3
    with pytest.raises(NeuronscopeError, match="put the trim in a module of its own"):
        ns.explain_cells(model, text, layer="conv", progress=False)
    with pytest.raises(NeuronscopeError, match="put the trim in a module of its own"):
        ns.probe_text(model, text, "conv", unit=0)
    set_unit_axis(model, "trim", 1)  # as the advice says: [batch, units, tokens]
    assert ns.explain_cells(model, text, layer="trim", progress=False).r.shape[0] == 3
    assert len(ns.probe_text(model, text, "trim", unit=0).values) == len(text)
