"""The character LSTM (`neuronscope.zoo.charlm`, zoo ``pysource-lstm``): its per-step
states as layers ``lstm.h`` / ``lstm.c`` / ``lstm.tanh_c``, ablation inside the
recurrence, the task."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import neuronscope as ns
from neuronscope.core.errors import NeuronscopeError
from neuronscope.data.pysource import VOCAB, encode
from neuronscope.zoo.cache import entry_paths, recipe_hash
from neuronscope.zoo.charlm import CharLSTM, TokenError, char_lstm
from neuronscope.zoo.tasks import task_names

H = 16


@pytest.fixture
def model() -> CharLSTM:
    torch.manual_seed(0)
    return char_lstm(len(VOCAB), embed=8, hidden=H).eval()


@pytest.fixture
def ids() -> torch.Tensor:
    return torch.randint(0, len(VOCAB), (3, 12), generator=torch.Generator().manual_seed(1))


def reference(m: CharLSTM, ids: torch.Tensor, edit_c=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, c) by nn.LSTMCell's equations written out, `edit_c` applied to each c_t."""
    lstm, x = m.lstm, m.embed(ids)
    h = c = torch.zeros(ids.shape[0], lstm.hidden_size)
    hs, cs = [], []
    for t in range(ids.shape[1]):
        gates = F.linear(x[:, t], lstm.weight_ih_l0, lstm.bias_ih_l0) + \
            F.linear(h, lstm.weight_hh_l0, lstm.bias_hh_l0)
        i, f, g, o = gates.chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        c = edit_c(c) if edit_c else c
        h = torch.sigmoid(o) * torch.tanh(c)
        hs.append(h)
        cs.append(c)
    return m.decoder(torch.stack(hs, 1)), torch.stack(cs, 1)


@torch.no_grad()
def test_step_path_equals_the_fused_lstm(model: CharLSTM, ids: torch.Tensor) -> None:
    fused = model.train()(ids)  # train mode, no hook: nn.LSTM's kernel
    stepped = model.eval()(ids)
    assert torch.allclose(fused, stepped, atol=1e-5)
    assert torch.allclose(stepped, reference(model, ids)[0], atol=1e-5)
    x = model.embed(ids)
    out, (h1, c1) = nn.LSTM.forward(model.lstm, x)
    h2, c2 = model.lstm.steps(x)
    assert h2.shape == c2.shape == (3, 12, H) and torch.equal(model.lstm(x), h2)
    assert torch.allclose(out, h2, atol=1e-5)
    assert torch.allclose(h1[0], h2[:, -1], atol=1e-5)
    assert torch.allclose(c1[0], c2[:, -1], atol=1e-5)
    hx = (torch.randn(1, 3, H), torch.randn(1, 3, H))  # from given initial states too
    assert torch.allclose(nn.LSTM.forward(model.lstm, x, hx)[0], model.lstm.steps(x, hx)[0],
                          atol=1e-5)


@torch.no_grad()
def test_record_gives_every_step_and_changes_nothing(model: CharLSTM, ids: torch.Tensor) -> None:
    plain = model(ids)
    with ns.record(model, ["lstm.h", "lstm.c", "lstm.c:3"]) as rec:
        out = model(ids)
    assert torch.equal(out, plain)
    assert rec["lstm.h"].shape == rec["lstm.c"].shape == (3, 12, H)
    assert torch.equal(rec["lstm.c:3"], rec["lstm.c"][..., 3])
    assert len(rec.calls("lstm.c")) == 1  # once per pass, on the stacked states
    assert torch.allclose(rec["lstm.c"], reference(model, ids)[1], atol=1e-5)
    info = {i.name: i for i in ns.layers(model, ids)}
    for name in ("lstm.h", "lstm.c"):
        assert (info[name].shape, info[name].n_units, info[name].unit_axis) == ((12, H), H, 2)
        assert info[name].calls == 1
    with pytest.raises(ns.UnitOutOfRangeError, match="0-15"):
        with ns.record(model, "lstm.c:16"):
            model(ids)
    model.train()  # a hook on the states takes the step path in train mode too
    with ns.record(model, "lstm.c") as rec:
        model(ids)
    assert rec["lstm.c"].shape == (3, 12, H)


@torch.no_grad()
def test_an_ablated_cell_is_silent_at_every_step_and_later_steps_change(
    model: CharLSTM, ids: torch.Tensor
) -> None:
    with ns.record(model, ["lstm.h", "lstm.c"]) as rec:
        plain = model(ids)
    h0 = rec["lstm.h"]
    with ns.ablate(model, "lstm.c:5"), ns.record(model, ["lstm.h", "lstm.c"]) as rec:
        out = model(ids)
    h = rec["lstm.h"]  # recorded once: lstm.h runs after the cells have settled
    assert bool((h[..., 5] == 0).all())  # h = o * tanh(c): c_5 was 0 at every step
    assert bool((rec.calls("lstm.c")[-1][..., 5] == 0).all())
    others = [u for u in range(H) if u != 5]
    assert torch.equal(h[:, 0, others], h0[:, 0, others])  # step 0: other cells untouched
    assert (h[:, 1:, others] - h0[:, 1:, others]).abs().amax() > 1e-4  # later steps see it
    ref, ref_c = reference(model, ids, lambda c: c.index_fill(1, torch.tensor([5]), 0.0))
    assert torch.allclose(out, ref, atol=1e-5) and not torch.allclose(out, plain, atol=1e-4)
    with ns.ablate(model, ["lstm.c:2", "lstm.h:7"], value=0.5), \
            ns.record(model, ["lstm.c", "lstm.h"]) as rec:
        model(ids)
    assert bool((rec.calls("lstm.c")[-1][..., 2] == 0.5).all())
    assert bool((rec.calls("lstm.h")[-1][..., 7] == 0.5).all())


@torch.no_grad()
def test_an_edit_of_each_steps_value_settles_and_other_edits_are_refused(
    model: CharLSTM, ids: torch.Tensor
) -> None:
    with ns.patch(model, "lstm.c", lambda t: t * 0.5):
        out = model(ids)
    assert torch.allclose(out, reference(model, ids, lambda c: c * 0.5)[0], atol=1e-5)
    with ns.ablate(model, "lstm.c:1", value="mean"), ns.record(model, "lstm.c") as rec:
        model(ids)
    settled = rec.calls("lstm.c")[-1][..., 1]
    assert float(settled.max() - settled.min()) == 0.0
    with pytest.raises(NeuronscopeError, match="did not settle"):
        with ns.patch(model, "lstm.c", lambda t: t.flip(1) + 1):
            model(ids)


@torch.no_grad()
def test_tanh_c_is_what_the_cell_shows_and_an_edit_of_it_keeps_the_memory(
        model: CharLSTM, ids: torch.Tensor) -> None:
    with ns.record(model, ["lstm.c", "lstm.tanh_c", "lstm.h"]) as rec:
        plain = model(ids)
    assert torch.equal(rec["lstm.tanh_c"], torch.tanh(rec["lstm.c"]))
    with ns.ablate(model, "lstm.tanh_c:5"), ns.record(model, ["lstm.h"]) as rec2:
        edited = model(ids)
    assert bool((rec2["lstm.h"][..., 5] == 0).all())  # h = o * tanh(c): silent at every step
    assert not torch.allclose(edited, plain)
    with ns.ablate(model, "lstm.tanh_c:5"):
        with ns.record(model, ["lstm.c"]) as rec3:
            model(ids)
    settled = rec3.calls("lstm.c")[-1]  # c is made before tanh_c: called on every pass
    # the cell's own memory runs on: c_t = f * c_(t-1) + i * g, untouched by the edit at
    # this step (only later steps' gates see the silenced h)
    assert torch.allclose(settled[:, 0], rec["lstm.c"][:, 0])
    assert settled[..., 5].abs().sum() > 0


def test_top_examples_rank_cells_by_their_peak_over_the_characters(model: CharLSTM) -> None:
    data = ns.datasets.load("pysource", split="test", seq_len=32, max_chars=3_000)
    res = ns.top_examples(model, data, layers=["lstm.c"], k=3, progress=False)["lstm.c"]
    assert res.indices.shape == (H, 3) and res.positions.shape == (H, 3, 1)
    unit, rank = 4, 0
    i, t = int(res.indices[unit, rank]), int(res.positions[unit, rank, 0])
    with torch.no_grad(), ns.record(model, "lstm.c") as rec:
        model(data[i][0][None])
    assert float(rec["lstm.c"][0, t, unit]) == pytest.approx(float(res.values[unit, rank]))
    assert float(res.values[unit, rank]) == pytest.approx(float(rec["lstm.c"][0, :, unit].max()))
    default = ns.top_examples(model, data, k=2, progress=False)  # the model's study_layers
    assert default.info["layers"] == ["lstm.h", "lstm.c"]


def test_bad_input_is_refused_with_what_would_be_right(model: CharLSTM) -> None:
    with pytest.raises(TokenError, match=r"token id 98 .*position 2.* 0 to 97"):
        model(torch.tensor([[1, 2, 98]]))
    with pytest.raises(TokenError, match="token id -1"):
        model(torch.tensor([[-1, 2]]))
    with pytest.raises(TokenError, match="integer token ids"):
        model(torch.zeros(1, 4))
    with pytest.raises(TokenError, match=r"ids\[None\]"):
        model(encode("def"))
    with pytest.raises(TokenError, match="empty sequence"):
        model(torch.zeros(1, 0, dtype=torch.long))
    with pytest.raises(TokenError, match="encode"):
        model("def f(): pass")
    assert isinstance(TokenError("x"), ValueError)
    model(encode("naïve → ok")[None])  # outside characters encode to the unknown id: fine


def test_recipe_task_and_input_spec(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("NEURONSCOPE_CACHE", str(tmp_path))  # never the user's cache
    assert "charlm" in task_names() and "pysource-lstm" in ns.zoo.names()
    r = ns.zoo.recipe("pysource-lstm")
    assert (r.task, r.dataset, r.n_classes) == ("charlm", "pysource", len(VOCAB))
    model, metrics = ns.zoo.train("pysource-lstm", n_train=6, n_test=2, batch_size=3,
                                  epochs=1, progress=False)
    spec = ns.input_spec(model)
    assert spec.kind == "text" and spec.vocab == VOCAB and spec.shape == (128,)
    assert spec.class_names is None and spec.extra["dataset"] == "pysource"
    assert metrics["n_test_chars"] == 2 * 128 and metrics["n_train_chars"] == 6 * 128 + 1
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["test_loss"] > 0
    assert not model.training and model(spec.example()).shape == (1, 128, len(VOCAB))


def test_the_trained_model_predicts_python() -> None:
    """The real pysource-lstm, when the test cache holds it (run with
    NEURONSCOPE_CACHE=~/.cache/neuronscope); never trained here."""
    r = ns.zoo.recipe("pysource-lstm")
    if not entry_paths(r.name, recipe_hash(r, r.builder(r.n_classes)))[1].is_file():
        pytest.skip("pysource-lstm is not in the cache (a few minutes to train)")
    model = ns.zoo.load("pysource-lstm", progress=False)
    assert model.zoo_metrics["test_accuracy"] > 0.5
    text = "    def __init__(self, name):\n        self.name = name\n"
    ids = encode(text)[None]
    with torch.no_grad(), ns.record(model, ["lstm.c"]) as rec:
        logits = model(ids)
    assert rec["lstm.c"].shape == (1, len(text), model.lstm.hidden_size)
    assert (logits[0, :-1].argmax(-1) == ids[0, 1:]).float().mean() > 0.5


def test_forward_state_continues_a_text_fed_in_pieces(model: CharLSTM, ids: torch.Tensor
                                                       ) -> None:
    whole = model(ids)
    a, state = model.forward_state(ids[:, :5])
    b, state2 = model.forward_state(ids[:, 5:], state)
    assert torch.allclose(torch.cat([a, b], 1), whole, atol=1e-5)
    assert state[0].shape == state[1].shape == (1, 3, H) and not state2[1].requires_grad
    model.train()  # the fused kernel gives the same
    a2, s2 = model.forward_state(ids[:, :5])
    assert torch.allclose(a2, a, atol=1e-5) and torch.allclose(s2[1], state[1], atol=1e-5)
    model.eval()


def test_training_batches_continue_their_streams_and_carry_the_state(model: CharLSTM) -> None:
    from neuronscope.zoo.charlm_task import SEQ_LEN, CharLMTask

    task = CharLMTask()
    r = ns.zoo.recipe("pysource-lstm").replace(batch_size=4)
    data = torch.arange(20 * SEQ_LEN + 1) % len(VOCAB)
    n = task.n_batches(data, r)
    batches = list(task.batches(data, r, torch.Generator().manual_seed(0)))
    assert len(batches) == n == (len(data) - 1 - SEQ_LEN) // 4 // SEQ_LEN
    for (x0, y0, i0, c0), (x1, _, i1, c1) in zip(batches, batches[1:], strict=False):
        assert (i1, c1) == (i0 + 1, c0)  # one carry per epoch
        assert torch.equal(x1[:, 0], y0[:, -1])  # the next window of the same streams
        assert torch.equal(x0[:, 1:], y0[:, :-1])
    starts = batches[0][0][:, 0]
    assert len(set(starts.tolist())) == 4  # four different streams
    model.train()
    with torch.no_grad():
        first = task.loss(model, batches[0], r)
        carry = batches[0][3]
        assert carry[1][1].shape == (1, 4, H)
        assert float(task.loss(model, batches[0], r)) == pytest.approx(float(first))  # same
        with_state = task.loss(model, batches[1], r)
        carry.clear()
        without = task.loss(model, batches[1], r)
    assert float(with_state) != pytest.approx(float(without), abs=1e-6)  # the state is used
    model.eval()
