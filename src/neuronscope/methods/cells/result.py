"""`CellExplanation`: what `explain_cells` finds, per cell of a layer."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from neuronscope.core.result import Result

THRESHOLD = 0.5  # |r| at or above which a cell counts as tracking a feature (the summary)


@dataclass
class CellExplanation(Result):
    """Per cell of `layer`: ``r`` [cells, tracks] the Pearson correlation of the cell's
    value with each track over the text's characters (NaN where a track is constant on
    the text), ``best`` [cells] the index of the track with the largest |r| (-1: none)
    and ``best_r`` [cells] its r. ``mode`` is the track set used (``"python"`` or
    ``"chars"``; see `notes` when it fell back). ``text`` and ``values`` [n, cells] are
    kept when asked for (``keep_values=True``), for the per-character view (`html`).

    Example:
        >>> import tempfile
        >>> res = CellExplanation("lstm.c", ["a", "b"], "chars",
        ...                       torch.tensor([[0.9, 0.1], [0.2, -0.6]]), 10)
        >>> res.best_tracks, res.summary()["n_over"]
        (['a', 'b'], 2)
        >>> CellExplanation.load(res.save(tempfile.mkdtemp() + "/c.safetensors")).best_r
        tensor([ 0.9000, -0.6000])
    """

    FORMAT = "neuronscope.cells"

    layer: str
    tracks: list[str]
    mode: str
    r: torch.Tensor
    n_chars: int
    threshold: float = THRESHOLD
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    values: torch.Tensor | None = None

    @property
    def best(self) -> torch.Tensor:
        """[cells] int64: the track with the largest |r| per cell (-1 where all are NaN)."""
        a = self.r.abs().nan_to_num(-1.0)
        if a.shape[1] == 0:
            return torch.full((a.shape[0],), -1, dtype=torch.long)
        return torch.where(a.amax(1) >= 0, a.argmax(1), -1)

    @property
    def best_r(self) -> torch.Tensor:
        """[cells]: the r of each cell's best track (NaN where it has none)."""
        b = self.best
        if self.r.shape[1] == 0:
            return torch.full((self.r.shape[0],), math.nan)
        return torch.where(b >= 0, self.r.gather(1, b.clamp(min=0)[:, None])[:, 0], math.nan)

    @property
    def best_tracks(self) -> list[str]:
        """Per cell, the name of its best track ("" where none)."""
        return [self.tracks[i] if i >= 0 else "" for i in self.best.tolist()]

    def top_cells(self, track: str, k: int = 5) -> list[tuple[int, float]]:
        """The `k` cells whose |r| with `track` is largest: [(cell, r)], largest first."""
        if track not in self.tracks:
            raise KeyError(f"no track {track!r} here; tracks: {', '.join(self.tracks)}")
        col = self.r[:, self.tracks.index(track)]
        order = col.abs().nan_to_num(-1.0).argsort(descending=True)[:k]
        return [(int(c), float(col[c])) for c in order if not math.isnan(float(col[c]))]

    def summary(self) -> dict[str, Any]:
        """How many cells reach |r| >= threshold: overall (``n_over``, by best track) and
        per track (``per_track``), and per track its best cell and r (``best_cell``)."""
        over = self.r.abs().nan_to_num(0.0) >= self.threshold
        best = {t: (self.top_cells(t, 1) or [(-1, math.nan)])[0] for t in self.tracks}
        return {"n_cells": int(self.r.shape[0]), "n_chars": self.n_chars,
                "threshold": self.threshold, "n_over": int(over.any(1).sum()),
                "per_track": {t: int(over[:, i].sum()) for i, t in enumerate(self.tracks)},
                "best_cell": best}

    def __repr__(self) -> str:
        """A few lines: the layer, the text read, how many cells reach the threshold, and
        each track's best cell (not the whole table of r).

        Example:
            >>> print(CellExplanation("lstm.c", ["a"], "chars", torch.tensor([[0.7]]), 9))
            CellExplanation of lstm.c: 1 cells over 9 characters (chars tracks)
              1 cells with |r| >= 0.5 for some track; best cell per track:
              a: cell 0, r = +0.70
        """
        s = self.summary()
        lines = [f"CellExplanation of {self.layer}: {s['n_cells']} cells over "
                 f"{self.n_chars:,} characters ({self.mode} tracks)",
                 f"  {s['n_over']} cells with |r| >= {self.threshold:g} for some track; "
                 "best cell per track:"]
        lines += [f"  {t}: cell {c}, r = {r:+.2f}" if c >= 0 else f"  {t}: constant here"
                  for t, (c, r) in s["best_cell"].items()]
        return "\n".join(lines + [f"  note: {n}" for n in self.notes])

    def html(self, cell: int, **kwargs: Any) -> str:
        """The kept text with each character shaded by `cell` (`render.cells.cell_html`)."""
        from neuronscope.render.cells import cell_html

        if self.values is None:
            raise ValueError("this result kept no values: run explain_cells(..., "
                             "keep_values=True) for the per-character view")
        title = f"{self.layer}:{cell}"
        if self.best[cell] >= 0:
            title += f" (best track {self.best_tracks[cell]}, r = {float(self.best_r[cell]):.2f})"
        return cell_html(self.text, self.values[:, cell], title=title, **kwargs)
