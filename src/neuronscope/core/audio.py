"""Sound as a network sees it: the triangular band filters of a mel (or any banded)
spectrogram, shared by the data that makes spectrograms and the rendering that turns
them back into sound."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def band_filters(edges: Sequence[float], n_fft: int, sample_rate: int) -> torch.Tensor:
    """Triangular band filters [n_bands, n_fft // 2 + 1] (float64) from `edges` (Hz,
    n_bands + 2): band k rises from edges[k] to 1 at edges[k + 1] and falls to edges[k + 2].

    Example:
        >>> band_filters([0, 1000, 2000, 3000], 8, 8000).shape
        torch.Size([2, 5])
    """
    e = torch.tensor(list(edges), dtype=torch.float64)
    freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft
    lo, mid, hi = e[:-2, None], e[1:-1, None], e[2:, None]
    return torch.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)).clamp(min=0)
