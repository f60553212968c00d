"""Position bias: attention, hence engagement, falls with depth in the session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from recoworld._validate import require_range

__all__ = ["PositionBias", "PositionBiasModel", "PositionBiasParams"]


@dataclass(frozen=True)
class PositionBiasParams:
    """Parameters of the position bias.

    Attributes:
        enabled: switch; when off depth has no direct effect on engagement.
        strength: logit drop per unit of ``log1p(depth / scale)``.
        scale: depth (videos already watched this session) at which the drop is ``strength*log 2``.

    """

    enabled: bool = True
    strength: float = 0.5
    scale: float = 10.0

    def __post_init__(self) -> None:
        require_range("strength", self.strength, 0.0, owner="PositionBiasParams")
        require_range("scale", self.scale, 0.0, low_open=True, owner="PositionBiasParams")


@runtime_checkable
class PositionBiasModel(Protocol):
    """The position-bias part of a feed user: a logit shift that depends on the depth in the session."""

    def logit_shift(self, depth: NDArray[np.int64]) -> NDArray[np.float32]:
        """Engagement-logit shift ``(N,)`` at ``depth`` ``(N,)`` (videos already watched this session)."""


@dataclass(frozen=True)
class PositionBias:
    """Shift of the engagement logit as a function of the depth in the session."""

    params: PositionBiasParams = PositionBiasParams()

    def logit_shift(self, depth: NDArray[np.int64]) -> NDArray[np.float32]:
        """``-strength * log1p(depth / scale)``, or zeros when the bias is off."""
        if not self.params.enabled:
            return np.zeros(depth.shape, dtype=np.float32)
        p = self.params
        return (-p.strength * np.log1p(depth / p.scale)).astype(np.float32)
