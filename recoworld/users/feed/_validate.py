"""Validation helpers shared by the feed user parts' parameter dataclasses."""

from __future__ import annotations

import math

from recoworld.errors import ConfigError


def require_range(
    owner: str, name: str, value: float, low: float, high: float = math.inf, *, open_low: bool = False
) -> None:
    """Raise :class:`ConfigError` unless ``low <= value <= high`` (``low < value`` if open)."""
    ok = math.isfinite(value) or (high == math.inf and value == math.inf)
    ok = ok and (value > low if open_low else value >= low) and value <= high
    if not ok:
        bracket = "(" if open_low else "["
        upper = "inf)" if high == math.inf else f"{high}]"
        raise ConfigError(f"{owner}.{name} must be in {bracket}{low}, {upper}, got {value!r}")
