"""Duration bias: watch ratio favours short videos; absolute watch time still favours long ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from recoworld._validate import require_range

__all__ = ["DurationBias", "DurationBiasModel", "DurationBiasParams"]


@dataclass(frozen=True)
class DurationBiasParams:
    """Parameters of the duration bias.

    Attributes:
        enabled: switch; when off the watch ratio does not depend on duration.
        strength: logit drop per unit of log-duration above ``reference_s``. Below 1 so that a
            longer video still earns more seconds of watch time at equal appeal.
        reference_s: duration (seconds) at which the bias is zero.

    """

    enabled: bool = True
    strength: float = 0.6
    reference_s: float = 60.0

    def __post_init__(self) -> None:
        require_range("strength", self.strength, 0.0, 1.0, owner="DurationBiasParams")
        require_range("reference_s", self.reference_s, 0.0, low_open=True, owner="DurationBiasParams")


@runtime_checkable
class DurationBiasModel(Protocol):
    """The duration-bias part of a feed user: a logit shift that depends on the video's length."""

    def logit_shift(self, duration_s: NDArray[np.float32]) -> NDArray[np.float32]:
        """Engagement-logit shift of each video, same shape as ``duration_s`` (seconds)."""


@dataclass(frozen=True)
class DurationBias:
    """Shift of the watch-ratio logit as a function of video duration."""

    params: DurationBiasParams = DurationBiasParams()

    def logit_shift(self, duration_s: NDArray[np.float32]) -> NDArray[np.float32]:
        """``-strength * log(duration / reference)``, or zeros when the bias is off."""
        if not self.params.enabled:
            return np.zeros_like(duration_s)
        p = self.params
        return np.asarray(-p.strength * np.log(duration_s / p.reference_s), dtype=np.float32)
