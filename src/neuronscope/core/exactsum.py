"""Exact, order-independent sums of floating-point numbers, vectorized over many units.

A float64 number is an integer mantissa times a power of two, so a sum of them is an
integer multiple of 2**-OFFSET. We keep that integer exactly, spread over int64
"limbs" of 16 bits each (``limbs[..., i]`` counts units of ``2**(16 * i - OFFSET)``).
Adding numbers scatters their mantissas into limbs; a carry step after each batch
keeps every limb far from overflow. Because integer addition is associative, two
accumulators fed the same numbers in any order and in any grouping hold the same
integer, and `to_float` turns it into the same float64, bit for bit. Results merged
from shards or resumed from a checkpoint therefore equal a single pass exactly.

Non-finite numbers are kept aside: the sum is then inf or nan, as float addition
would give in any order.
"""

from __future__ import annotations

import torch

OFFSET = 1074  # 2**-1074 is the lowest bit of the smallest float64 subnormal
_BITS = 16
N_LIMBS = (OFFSET + 1024 + 64) // _BITS + 2
_MASK = (1 << _BITS) - 1
_CHUNK = 1 << 18  # rows per step: 2 * 2**18 contributions of < 2**42 stay below 2**62


def zeros(*shape: int) -> torch.Tensor:
    """An empty accumulator for a batch of sums of the given shape.

    Example:
        >>> acc = zeros(3)
        >>> add(acc, torch.tensor([[0.1, 1e300, -2.0]], dtype=torch.float64))
        >>> to_float(acc).tolist()
        [0.1, 1e+300, -2.0]
    """
    return torch.zeros((*shape, N_LIMBS + 1), dtype=torch.int64)  # last slot: non-finite sum


def add(acc: torch.Tensor, values: torch.Tensor) -> None:
    """Add ``values`` [N, *shape] (summed over the first axis) into ``acc`` in place.

    Any N: rows are added in chunks that keep every limb far below overflow.
    """
    if values.shape[0] > _CHUNK:
        for part in values.split(_CHUNK):
            add(acc, part)
        return
    x = values.detach().to(device=acc.device, dtype=torch.float64)
    x = x.reshape(x.shape[0], -1)
    flat = acc.view(-1, N_LIMBS + 1)
    finite = torch.isfinite(x)
    if not bool(finite.all()):
        odd = torch.where(finite, torch.zeros_like(x), x).sum(0)
        old = flat[:, N_LIMBS].view(torch.float64)
        flat[:, N_LIMBS] = (old + odd).view(torch.int64)
        x = torch.where(finite, x, torch.zeros_like(x))
    bits = x.view(torch.int64)  # IEEE 754: sign, 11 exponent bits, 52 fraction bits
    biased = (bits >> 52) & 0x7FF
    m = (bits & ((1 << 52) - 1)) | ((biased > 0).to(torch.int64) << 52)
    m = torch.where(bits < 0, -m, m)  # x == m * 2**(pos - OFFSET), |m| < 2**53
    pos = biased.clamp_min(1) - 1  # 0 <= pos < 2046
    base = torch.arange(flat.shape[0], device=acc.device) * (N_LIMBS + 1)
    target = flat.view(-1)
    for part, p in ((m & ((1 << 26) - 1), pos), (m >> 26, pos + 26)):  # 26 and 27-bit halves
        contribution = part << (p & (_BITS - 1))  # |.| < 2**42
        target.scatter_add_(0, (base + (p >> 4)).reshape(-1), contribution.reshape(-1))
    _carry(flat)


def _carry(flat: torch.Tensor) -> None:
    """Move each limb's high bits into the next limb once (keeps limbs below ~2**43)."""
    limbs = flat[:, :N_LIMBS]
    high = limbs >> _BITS  # floor division, also for negative limbs
    low = limbs & _MASK
    low[:, 1:] += high[:, :-1]
    low[:, -1] += high[:, -1] << _BITS  # the top limb keeps its own high bits
    flat[:, :N_LIMBS] = low


def canonical(acc: torch.Tensor) -> torch.Tensor:
    """The unique limb form of the same sums: every limb but the top one in [0, 2**16).

    Two accumulators hold equal sums exactly when their canonical forms are equal.
    """
    out = acc.clone()
    flat = out.view(-1, N_LIMBS + 1)
    for i in range(N_LIMBS - 1):
        high = flat[:, i] >> _BITS
        flat[:, i] -= high << _BITS
        flat[:, i + 1] += high
    return out


def merge(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The accumulator of both sums (exact)."""
    out = a + b
    flat = out.view(-1, N_LIMBS + 1)
    odd = a.view(-1, N_LIMBS + 1)[:, N_LIMBS].view(torch.float64)
    odd = odd + b.view(-1, N_LIMBS + 1)[:, N_LIMBS].view(torch.float64)
    flat[:, N_LIMBS] = odd.view(torch.int64)
    _carry(flat)
    return out


def to_float(acc: torch.Tensor) -> torch.Tensor:
    """The sums as float64, correctly rounded from the exact integer, shape of `acc[..., 0]`."""
    flat = acc.view(-1, N_LIMBS + 1).cpu()
    out = []
    for row in flat.tolist():
        odd = torch.tensor(row[N_LIMBS], dtype=torch.int64).view(torch.float64).item()
        if odd != 0.0 or odd != odd:
            out.append(odd)
            continue
        total = sum(limb << (_BITS * i) for i, limb in enumerate(row[:N_LIMBS]) if limb)
        try:
            out.append(total / (1 << OFFSET))  # Python's int division rounds correctly
        except OverflowError:
            out.append(float("inf") if total > 0 else float("-inf"))
    return torch.tensor(out, dtype=torch.float64).view(acc.shape[:-1])
