"""Numbers as JSON can hold them (numpy-free, stdlib only)."""

from __future__ import annotations

import math


def finite_or_none(value: float | None) -> float | None:
    """The value as a float, or None for NaN, infinity and None.

    JSON has no NaN (PostgreSQL's json type refuses it), and a missing volume or an undefined
    ratio is better said as null than as a number nobody can compute with.
    """
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
