"""The one range check: its messages name the argument, the range and the value."""

from __future__ import annotations

import math

import pytest

from recoworld._validate import require_range
from recoworld.errors import ConfigError, DataError, EstimatorInputError


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("episodes", 0, 1), {}, r"^`episodes` must be >= 1, got 0$"),
        (("lr", 0.0, 0), {"low_open": True}, r"^`lr` must be > 0, got 0.0$"),
        (("p", 1.5, 0, 1), {}, r"^`p` must be in \[0, 1\], got 1.5$"),
        (("alpha", 1.0, 0, 1), {"low_open": True, "high_open": True},
         r"^`alpha` must be in \(0, 1\), got 1.0$"),
        (("x", 3, -math.inf, 2), {}, r"^`x` must be <= 2, got 3$"),
        (("w", math.nan, 0), {}, r"^`w` must be >= 0, got nan$"),
        (("w", math.inf, 0), {}, r"^`w` must be >= 0, got inf$"),
        (("b", math.inf), {}, r"^`b` must be a finite number, got inf$"),
        (("step_cost", 0.0, 0), {"low_open": True, "owner": "LeaveParams"},
         r"^`LeaveParams.step_cost` must be > 0, got 0.0$"),
        (("max_turns", 1, 2), {"hint": "the opening is turn 1"},
         r"^`max_turns` must be >= 2, got 1; the opening is turn 1$"),
        (("n", "3", 1), {}, r"^`n` must be a number, got '3' \(str\)$"),
        (("n", True, 0), {}, r"^`n` must be a number, got True \(bool\)$"),
    ],
)
def test_out_of_range_values_raise_a_named_error(args, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        require_range(*args, **kwargs)


def test_in_range_values_pass_and_the_error_class_is_the_callers():
    require_range("p", 0.0, 0, 1)
    require_range("p", 1, 0, 1)
    require_range("clip", math.inf, 0, low_open=True, allow_inf=True)  # "no clipping"
    with pytest.raises(EstimatorInputError):
        require_range("clip", math.inf, 0, 10, allow_inf=True, error=EstimatorInputError)
    with pytest.raises(DataError, match="`dim` must be >= 2"):
        require_range("dim", 1, 2, error=DataError)
