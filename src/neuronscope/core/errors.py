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


class ResultFileError(NeuronscopeError, ValueError):
    """A result file is missing, damaged, truncated, of another kind or of a newer version."""


def did_you_mean(name: object, known: list[str]) -> str:
    """`` Did you mean 'x'?`` for the known name closest to `name`, or an empty string.

    Example:
        >>> did_you_mean("shapes-cn", ["shapes-cnn", "digits-mlp"])
        " Did you mean 'shapes-cnn'?"
    """
    import difflib

    close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""
