"""Errors raised by neuronscope. Each message says what was wrong and what would be right."""

from __future__ import annotations


class NeuronscopeError(Exception):
    """Base class of every error neuronscope raises on bad input."""

    def __str__(self) -> str:  # KeyError would otherwise wrap the message in quotes
        return str(self.args[0]) if self.args else ""


class LayerNotFoundError(NeuronscopeError, KeyError):
    """A layer address names no module (or no output element) of the model."""


class UnitOutOfRangeError(NeuronscopeError, IndexError):
    """A unit's channel or position lies outside the layer's output."""


class AddressError(NeuronscopeError, ValueError):
    """A unit address string does not follow the grammar."""


class AmbiguousCallError(NeuronscopeError):
    """A module ran more than once in one forward pass and one output was asked for."""


class UnsafeCheckpointError(NeuronscopeError):
    """A checkpoint would run pickled code to load; it is refused."""


class ModelLoadError(NeuronscopeError, ValueError):
    """A model specification could not be turned into a model."""


class DatasetNotFoundError(NeuronscopeError, KeyError):
    """An unknown dataset name."""
