"""Feature tracks over text: one number per character, the state of a feature after
that character has been read. `compute_tracks` computes them for a text; the registry
`TRACKS` (`register_track`, `track_names`) is in `registry.py`, the built-in tracks in
`builtin_tracks.py` (registered on import, here), the reading of the text in `parse.py`.

The modes: ``"python"`` reads the text with Python's own `tokenize` (exact strings,
comments, docstrings, brackets, blocks, keywords) besides the character tracks, for
text that reads as Python (`pycheck.reads_as_python`: English prose tokenizes too);
``"chars"`` counts characters only, for any text.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from neuronscope.core.errors import NeuronscopeError

from . import builtin_tracks  # noqa: F401 (registers the built-in tracks in TRACKS)
from .parse import parse
from .registry import MODES, TRACKS, Track, register_track, track_names

log = logging.getLogger(__name__)


class CellTextError(NeuronscopeError, ValueError):
    """Text that `explain_cells` cannot use: empty, too long, with characters outside
    the model's vocabulary, or not Python where Python tracks were asked for."""


def compute_tracks(text: str, tracks: str | Sequence[str] = "python"
                   ) -> tuple[dict[str, np.ndarray], str, list[str]]:
    """({track: [n] float32 values}, the mode used, notes) for `text`.

    `tracks`: a mode (``"python"``, ``"chars"``) or a list of track names. A mode of
    ``"python"`` on text that does not tokenize or does not read as Python (English
    prose: most of its lines do not parse as statements) falls back to ``"chars"``
    (noted, and the log warns); listed names that need Python on such text raise a
    `CellTextError`.

    Example:
        >>> values, mode, notes = compute_tracks("f(x)  # hi\\n")
        >>> mode, values["in_comment"].tolist()[:7], values["bracket_depth"].tolist()[:4]
        ('python', [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0])
        >>> values, mode, notes = compute_tracks("Now is better than never.\\n")
        >>> print(mode, notes[0].split(";")[0], sep="\\n")
        chars
        the text does not read as Python (only 0 of 1 lines parse as Python statements)
    """
    notes: list[str] = []
    if isinstance(tracks, str):
        if tracks not in MODES:
            raise ValueError(f"tracks must be one of {MODES} or a list of track names, "
                             f"got {tracks!r}")
        mode, names = tracks, track_names(tracks)
    else:
        names = list(tracks)
        unknown = [n for n in names if n not in TRACKS]
        if unknown or not names:
            raise ValueError(f"unknown track(s) {unknown or names}; registered: "
                             f"{', '.join(TRACKS)}")
        mode = "python" if any("python" in TRACKS[n].modes and TRACKS[n].needs_python
                               for n in names) else "chars"
    parsed, why = parse(text, mode == "python")
    if why is not None:
        if not isinstance(tracks, str):
            need = [n for n in names if TRACKS[n].needs_python]
            raise CellTextError(f"{why}: the tracks {need} need Python; use character tracks "
                                f"({', '.join(track_names('chars'))}) or tracks='chars'")
        mode, names = "chars", track_names("chars")
        notes.append(f"{why}; character tracks used instead: {', '.join(names)}")
        log.warning(notes[-1])
    return {n: np.asarray(TRACKS[n].fn(parsed), np.float32) for n in names}, mode, notes


__all__ = ["MODES", "TRACKS", "CellTextError", "Track", "compute_tracks", "register_track",
           "track_names"]
