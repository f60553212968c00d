"""The one range check of every configuration dataclass and argument.

Each check names the argument, the range it must lie in and the value it got ("`lr` must be > 0,
got 0.0"), and raises the error class the caller's layer uses (:class:`ConfigError` by default,
:class:`EstimatorInputError` for estimators).
"""

from __future__ import annotations

import math
from numbers import Real

from recoworld.errors import ConfigError, RecoWorldError

__all__ = ["describe_range", "require_range"]


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def describe_range(low: float, high: float, *, low_open: bool, high_open: bool) -> str:
    """``"> 0"``, ``">= 1"``, ``"<= 5"``, ``"in (0, 1]"`` or ``"a finite number"``."""
    if low == -math.inf and high == math.inf:
        return "a finite number"
    if high == math.inf:
        return f"{'>' if low_open else '>='} {_num(low)}"
    if low == -math.inf:
        return f"{'<' if high_open else '<='} {_num(high)}"
    return f"in {'(' if low_open else '['}{_num(low)}, {_num(high)}{')' if high_open else ']'}"


def require_range(
    name: str,
    value: float,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    owner: str | None = None,
    allow_inf: bool = False,
    hint: str = "",
    error: type[RecoWorldError] = ConfigError,
) -> None:
    """Raise ``error`` unless ``value`` is a number in the range from ``low`` to ``high``.

    The bounds are inclusive unless ``low_open`` / ``high_open``. NaN never passes, nor does an
    infinity unless ``allow_inf`` (then ``+inf`` passes a range unbounded above: "no clipping").
    ``owner`` (a class name) prefixes the argument in the message: "`LeaveParams.step_cost` must
    be > 0, got 0.0"; ``hint`` is appended after a semicolon (why the range, or what to do).
    """
    label = f"`{owner}.{name}`" if owner else f"`{name}`"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise error(f"{label} must be a number, got {value!r} ({type(value).__name__})")
    v = float(value)
    ok = math.isfinite(v) or (allow_inf and v == math.inf == high)
    ok = ok and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        span = describe_range(low, high, low_open=low_open, high_open=high_open)
        raise error(f"{label} must be {span}, got {value!r}" + (f"; {hint}" if hint else ""))
