"""Time-ordered split bounds of a series (stdlib only)."""

from __future__ import annotations

import math


def split_bounds(n_bars: int, train_frac: float, val_frac: float) -> tuple[int, int]:
    """Return (train_end, val_end): train=[0, train_end), val=[train_end, val_end), test=rest."""
    if n_bars < 0:
        raise ValueError(f"n_bars must not be negative, got {n_bars}")
    if not train_frac > 0.0 or not val_frac > 0.0 or not train_frac + val_frac < 1.0:
        raise ValueError(
            f"need train_frac > 0, val_frac > 0 and train_frac + val_frac < 1, "
            f"got train_frac={train_frac}, val_frac={val_frac}"
        )
    # Floor the cumulative fraction (not the val length) so 0.70 + 0.15 of 1000 bars ends val at
    # bar 850; the epsilon absorbs float error such as 0.7 + 0.15 == 0.8499999999999999.
    train_end = math.floor(n_bars * train_frac + 1e-9)
    val_end = math.floor(n_bars * (train_frac + val_frac) + 1e-9)
    return min(train_end, n_bars), min(val_end, n_bars)
