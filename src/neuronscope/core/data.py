"""Iterating any dataset the same way: what an item's input and label are, and batches.

Items may be a bare tensor, a tuple or list ``(input, label, ...)``, or a dict with
the input under ``image`` / ``input`` / ``x`` / ``inputs`` and the label under
``label`` (other keys, such as concept ``masks``, ride along). A tensor of inputs
[N, ...] is a dataset of N items. Every method reads data through these functions,
so they all accept the same kinds of data.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from .errors import NeuronscopeError

INPUT_KEYS = ("image", "input", "x", "inputs")
LABEL_KEYS = ("label", "labels", "y", "target")


def as_dataset(data: Any) -> Dataset:
    """`data` as a map-style dataset: a Dataset (or anything with len and indexing) as it
    is, a tensor of inputs [N, ...] as a dataset of N items.

    Example:
        >>> len(as_dataset(torch.zeros(5, 3)))
        5
    """
    if isinstance(data, torch.Tensor):
        if data.dim() == 0:
            raise NeuronscopeError("data is a 0-d tensor; give a batch of inputs [N, ...]")
        return TensorDataset(data)
    if isinstance(data, Dataset) or (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
        return data
    raise NeuronscopeError(f"data must be a Dataset or a tensor of inputs [N, ...], got "
                           f"{type(data).__name__}")


def wrapped(data: Any, most: int = 8) -> Iterator[Any]:
    """`data`, then the datasets it wraps (``.dataset``: CheckedData, Subset, Normalized
    ...), outermost first, at most `most` deep.

    Example:
        >>> from torch.utils.data import Subset
        >>> [type(d).__name__ for d in wrapped(Subset([1, 2], [0]))]
        ['Subset', 'list']
    """
    for _ in range(most):
        if data is None:
            return
        yield data
        data = getattr(data, "dataset", None)


def batch_input(batch: Any) -> Any:
    """The model input of an item or a collated batch: the tensor itself, the first
    element of a tuple, a dict's ``image`` / ``input`` / ``x`` / ``inputs`` entry, or else
    the dict's entries other than labels (keyword arguments, see `run_model`).

    Example:
        >>> batch_input({"image": torch.ones(2), "label": 1}).tolist()
        [1.0, 1.0]
    """
    if isinstance(batch, torch.Tensor):
        return batch
    if isinstance(batch, (tuple, list)) and batch:
        return batch[0]
    if isinstance(batch, dict):
        for key in INPUT_KEYS:
            if key in batch:
                return batch[key]
        rest = {k: v for k, v in batch.items() if k not in LABEL_KEYS}
        if rest:  # Hugging Face style: input_ids, attention_mask, ... as keyword arguments
            return rest
        raise NeuronscopeError(f"dataset items are dicts without an input; expected one of "
                               f"{INPUT_KEYS} or keyword arguments of the model, got "
                               f"{sorted(map(str, batch))}")
    raise NeuronscopeError(f"cannot find the input in an item of type {type(batch).__name__}; "
                           "items are tensors, (input, label) tuples or dicts with 'image'")


def run_model(model: Any, x: Any) -> Any:
    """Call `model` on an input from `batch_input`: a dict as keyword arguments
    (``model(input_ids=..., attention_mask=...)``), anything else as the one argument.

    Example:
        >>> run_model(lambda a, b: a + b, {"a": 1, "b": 2})
        3
    """
    return model(**x) if isinstance(x, dict) else model(x)


def position_mask(x: Any, ignore_ids: Sequence[int] = ()) -> torch.Tensor | None:
    """Which positions of a batch of sequences carry text: [B, T] bool, or None when all
    do (as far as can be told). A dict input's ``attention_mask``, and for token ids
    [B, T] the ids other than `ignore_ids` (a text model's padding and special tokens:
    its ``InputSpec.extra["special_ids"]``, else ``["pad_id"]``).

    Example:
        >>> position_mask(torch.tensor([[101, 7, 102, 0]]), ignore_ids=[0, 101, 102]).tolist()
        [[False, True, False, False]]
        >>> position_mask(torch.rand(2, 3)) is None
        True
    """
    mask = None
    if isinstance(x, dict):
        if x.get("attention_mask") is not None:
            mask = torch.as_tensor(x["attention_mask"]).bool()
        x = x.get("input_ids")
    if (ignore_ids and isinstance(x, torch.Tensor) and x.dim() == 2
            and not x.is_floating_point()):
        text = ~torch.isin(x, torch.as_tensor(list(ignore_ids), device=x.device))
        mask = text if mask is None else mask & text.to(mask.device)
    return None if mask is None or bool(mask.all()) else mask


def ignored_ids(spec: Any) -> list[int]:
    """The token ids that carry no text for a model's InputSpec (see `position_mask`)."""
    extra = getattr(spec, "extra", None) or {}
    ids = extra.get("special_ids")
    if ids is None and extra.get("pad_id") is not None:
        ids = [extra["pad_id"]]
    return [int(i) for i in ids or ()]


def batch_labels(batch: Any) -> torch.Tensor:
    """The labels of an item or a collated batch: the second element, or a dict's label.

    Example:
        >>> batch_labels((torch.zeros(2, 3), torch.tensor([1, 0]))).tolist()
        [1, 0]
    """
    if isinstance(batch, (tuple, list)) and len(batch) > 1:
        return torch.as_tensor(batch[1])
    if isinstance(batch, dict):
        for key in LABEL_KEYS:
            if key in batch:
                return torch.as_tensor(batch[key])
    raise NeuronscopeError("this needs labelled data: items (input, label) or dicts with "
                           f"one of {LABEL_KEYS}")


def item_input(dataset: Any, i: int) -> torch.Tensor:
    """The input of item `i` as a tensor, without a batch axis."""
    x = batch_input(dataset[i])
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(x)


def loader(dataset: Any, batch_size: int, indices: Sequence[int] | None = None,
           num_workers: int = 0) -> DataLoader:
    """Batches of `dataset` (or of the items at `indices`) in order, never shuffled.

    Example:
        >>> [len(batch_input(b)) for b in loader(torch.zeros(5, 2), batch_size=2)]
        [2, 2, 1]
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    dataset = as_dataset(dataset)
    if indices is not None:
        dataset = Subset(dataset, list(indices))
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)


def first_batch(dataset: Any, device: torch.device | str | None = None) -> Any:
    """The first item, collated as a batch of one and moved to `device`: an example input
    for finding layers and shapes.

    Example:
        >>> first_batch(torch.zeros(5, 3)).shape
        torch.Size([1, 3])
    """
    dataset = as_dataset(dataset)
    if len(dataset) == 0:
        raise NeuronscopeError("the dataset is empty")
    x = batch_input(next(iter(loader(dataset, batch_size=1))))
    return move(x, device) if device is not None else x


def move(x: Any, device: torch.device | str) -> Any:
    """Move a tensor, or the tensors inside dicts, tuples and lists, to `device`.

    Example:
        >>> move({"a": torch.ones(1), "b": [torch.zeros(1)]}, "cpu")["b"][0].device.type
        'cpu'
    """
    return map_tensors(lambda t: t.to(device, non_blocking=True), x)


def map_tensors(fn: Any, x: Any) -> Any:
    """``fn`` applied to every tensor inside `x` (a tensor, or dicts, tuples and lists of
    them); other values pass through.

    Example:
        >>> map_tensors(lambda t: t * 2, {"a": torch.ones(1), "n": 3})["a"].tolist()
        [2.0]
    """
    if isinstance(x, torch.Tensor):
        return fn(x)
    if isinstance(x, dict):
        return {key: map_tensors(fn, v) for key, v in x.items()}
    if isinstance(x, (tuple, list)):
        return type(x)(map_tensors(fn, v) for v in x)
    return x


def batch_size_of(x: Any) -> int:
    """How many examples a model input holds (its first tensor's first axis)."""
    if isinstance(x, torch.Tensor):
        return int(x.shape[0])
    values = x.values() if isinstance(x, dict) else x if isinstance(x, (tuple, list)) else []
    for v in values:
        if isinstance(v, torch.Tensor):
            return int(v.shape[0])
    raise NeuronscopeError(f"cannot tell the batch size of an input of type {type(x).__name__}")
