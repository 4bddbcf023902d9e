"""The registry of feature tracks: `TRACKS` maps a name to a `Track` (a function of
the `Parsed` text and the modes it belongs to); `register_track` adds one,
`track_names` lists a mode's tracks in registry order. The built-in tracks register
themselves in `builtin_tracks.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .parse import Parsed

MODES = ("python", "chars")


@dataclass(frozen=True)
class Track:
    """One feature of the text: `fn(parsed)` -> [n] values; `modes` it belongs to."""

    name: str
    description: str
    modes: tuple[str, ...]
    fn: Callable[[Parsed], np.ndarray]

    @property
    def needs_python(self) -> bool:
        return "chars" not in self.modes


TRACKS: dict[str, Track] = {}


def register_track(name: str, description: str, modes: Sequence[str] = MODES
                   ) -> Callable[[Callable[[Parsed], np.ndarray]], Callable]:
    """Decorator: add a track function to `TRACKS` under `name`.

    Example:
        >>> @register_track("is_digit", "the character is a digit", modes=["chars"])
        ... def _digit(p):
        ...     return (p.chars >= ord("0")) & (p.chars <= ord("9"))
        >>> "is_digit" in TRACKS
        True
        >>> del TRACKS["is_digit"]
    """
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise ValueError(f"modes must be some of {MODES}, got {list(modes)}")

    def add(fn: Callable[[Parsed], np.ndarray]) -> Callable[[Parsed], np.ndarray]:
        TRACKS[name] = Track(name, description, tuple(modes), fn)
        return fn

    return add


def track_names(mode: str = "python") -> list[str]:
    """The registered tracks of a mode, in registry order.

    Example:
        >>> track_names("chars")
        ['bracket_depth', 'column', 'line_start', 'indent', 'quote_parity']
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return [name for name, t in TRACKS.items() if mode in t.modes]
