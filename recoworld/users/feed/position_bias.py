"""Position bias: attention, hence engagement, falls with depth in the session."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from recoworld.users.feed._validate import require_range

__all__ = ["PositionBias", "PositionBiasParams"]


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
        require_range("PositionBiasParams", "strength", self.strength, 0.0)
        require_range("PositionBiasParams", "scale", self.scale, 0.0, open_low=True)


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
