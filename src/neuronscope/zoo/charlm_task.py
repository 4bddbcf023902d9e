"""Training a character language model (`neuronscope.zoo.charlm`): the task ``"charlm"``
(next-character prediction with the LSTM state carried from batch to batch, as char-rnn
trains) and `score`, its evaluation.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from neuronscope.core.spec import InputSpec

from .charlm import State, char_lstm
from .tasks import Task, register_task

if TYPE_CHECKING:
    from .recipes import Recipe

__all__ = ["EVAL_BATCH", "N_TRAIN_EVAL", "SEQ_LEN", "CharLMTask", "char_lstm", "score"]

SEQ_LEN = 128  # characters per training window (and per item of the InputSpec)
EVAL_BATCH = 256
N_TRAIN_EVAL = 256  # training windows scored after training (train_loss, train_accuracy)

Windows = tuple[torch.Tensor, torch.Tensor]


def _windows(ids: torch.Tensor, starts: torch.Tensor, length: int) -> Windows:
    """(inputs, next characters) [N, length] of the windows that start at `starts`."""
    w = ids[starts[:, None] + torch.arange(length + 1)]
    return w[:, :-1], w[:, 1:]


@torch.no_grad()
def score(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = EVAL_BATCH
          ) -> dict[str, float]:
    """Mean cross entropy (nats per character) and top-1 accuracy of next-character
    prediction on windows (x, y) [N, T], with `model` as it is (eval mode: the step path).

    Example:
        >>> m = char_lstm(98, embed=4, hidden=8).eval()
        >>> s = score(m, torch.zeros(3, 5, dtype=torch.long), torch.ones(3, 5, dtype=torch.long))
        >>> sorted(s)
        ['accuracy', 'loss']
    """
    total, correct, count = 0.0, 0, 0
    for i in range(0, len(x), batch):
        logits = model(x[i:i + batch])
        target = y[i:i + batch]
        total += float(F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="sum"))
        correct += int((logits.argmax(-1) == target).sum())
        count += target.numel()
    return {"loss": total / max(1, count), "accuracy": correct / max(1, count)}


class CharLMTask(Task):
    """Next-character prediction on a text dataset (``pysource``), registered as ``"charlm"``.

    Training data are the split's token ids, read as char-rnn reads them (truncated
    backpropagation through time): the text is cut into ``batch_size`` contiguous streams
    (each epoch from a random offset under ``SEQ_LEN``), a batch is the next ``SEQ_LEN``
    characters of every stream, and the LSTM's state carries over from one batch to the
    next (detached; zero at the start of an epoch), so that cells can learn to hold what
    began before the window (a string, a block). An epoch is ``(len(ids) - 1 - SEQ_LEN)
    // batch_size // SEQ_LEN`` batches. The loss is the cross entropy of every position.
    ``n_train`` / ``n_test`` count windows of ``SEQ_LEN`` characters (the corpus is cut to
    them). Evaluation: loss (nats per character), bits per character and top-1 accuracy
    on the non-overlapping windows of the test split, and on the first training windows.

    Example:
        >>> from neuronscope.zoo.recipes import recipe
        >>> r = recipe("pysource-lstm").replace(n_train=20, n_test=4, batch_size=8)
        >>> train, test, spec = CharLMTask().load(r)
        >>> CharLMTask().n_batches(train, r), test[0].shape, spec.kind
        (2, torch.Size([4, 128]), 'text')
    """

    def load(self, recipe: Recipe) -> tuple[torch.Tensor, Windows, InputSpec]:
        from neuronscope import data

        r = recipe

        def budget(n: int | None) -> dict[str, int]:
            return {} if n is None else {"max_chars": n * SEQ_LEN + 1}

        train = data.load(r.dataset, split="train", seq_len=SEQ_LEN, **budget(r.n_train))
        test = data.load(r.dataset, split="test", seq_len=SEQ_LEN, **budget(r.n_test))
        vocab = getattr(test, "vocab", None)
        if vocab is None or len(vocab) != r.n_classes:
            raise ValueError(f"recipe {r.name!r} expects a vocabulary of {r.n_classes} "
                             f"characters but dataset {r.dataset!r} has "
                             f"{'none' if vocab is None else len(vocab)}")
        if len(train.ids) < SEQ_LEN + 1 or len(test) < 1:
            raise ValueError(f"dataset {r.dataset!r} is too short for windows of {SEQ_LEN} "
                             "characters")
        spec = InputSpec.from_json(test.spec.to_json())
        spec.extra = {**spec.extra, "task": "next character", "seq_len": SEQ_LEN}
        return train.ids, test.tensors(), spec

    def n_batches(self, train_data: torch.Tensor, recipe: Recipe) -> int:
        return max(1, (len(train_data) - 1 - SEQ_LEN) // recipe.batch_size // SEQ_LEN)

    def batches(self, train_data: torch.Tensor, recipe: Recipe, generator: torch.Generator
                ) -> Iterator[tuple[torch.Tensor, torch.Tensor, int, dict[int, State]]]:
        """(x, y, i, carry) for i = 0, 1, ...: windows [batch_size, SEQ_LEN] that continue
        the previous batch's, and the epoch's `carry` of states (`loss` reads the state
        for batch i there and leaves the one for batch i + 1)."""
        size, n = recipe.batch_size, self.n_batches(train_data, recipe)
        phase = int(torch.randint(0, SEQ_LEN, (1,), generator=generator))
        length = max(n * SEQ_LEN, (len(train_data) - 1 - phase) // size)
        starts = (phase + torch.arange(size) * length).clamp(
            max=len(train_data) - 1 - n * SEQ_LEN)  # tiny data: streams may overlap
        carry: dict[int, State] = {}
        for i in range(n):
            yield (*_windows(train_data, starts + i * SEQ_LEN, SEQ_LEN), i, carry)

    def loss(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor, int,
                                                  dict[int, State]],
             recipe: Recipe) -> torch.Tensor:
        x, y, i, carry = batch
        logits, carry[i + 1] = model.forward_state(x, carry.get(i))
        carry.pop(i - 1, None)  # the same batch may be scored again: keep batch i's state
        return F.cross_entropy(logits.flatten(0, 1), y.flatten(),
                               label_smoothing=recipe.label_smoothing)

    def evaluate(self, model: nn.Module, train_data: torch.Tensor, test_data: Windows
                 ) -> dict[str, Any]:
        test = score(model, *test_data)
        n = min(N_TRAIN_EVAL, (len(train_data) - 1) // SEQ_LEN)
        train = score(model, *_windows(train_data, torch.arange(n) * SEQ_LEN, SEQ_LEN))
        return {
            "test_loss": test["loss"], "test_accuracy": test["accuracy"],
            "test_bits_per_char": test["loss"] / math.log(2),
            "train_loss": train["loss"], "train_accuracy": train["accuracy"],
            "n_train_chars": len(train_data), "n_test_chars": int(test_data[1].numel()),
            "seq_len": SEQ_LEN,
        }


register_task("charlm", CharLMTask())
