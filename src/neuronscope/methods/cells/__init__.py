"""Cell explainer (Karpathy, Johnson & Fei-Fei 2015): which simple feature of the text
each cell of a character model tracks. `explain_cells` (explain.py); the feature tracks:
`compute_tracks` (tracks.py) over the registry (registry.py) of the built-in tracks
(builtin_tracks.py), reading Python with its own tokenizer (parse.py); the result
(result.py)."""

from .explain import MAX_CHARS, cell_values, encode_text, explain_cells, windows
from .result import THRESHOLD, CellExplanation
from .tracks import MODES, TRACKS, CellTextError, Track, compute_tracks, register_track, track_names

__all__ = [
    "MAX_CHARS", "MODES", "THRESHOLD", "TRACKS", "CellExplanation", "CellTextError", "Track",
    "cell_values", "compute_tracks", "encode_text", "explain_cells", "register_track",
    "track_names", "windows",
]
