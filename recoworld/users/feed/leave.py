"""Leave: a patience budget that falls with every video, faster after poor ones."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from recoworld.users.feed._validate import require_range

__all__ = ["Leave", "LeaveParams"]


@dataclass(frozen=True)
class LeaveParams:
    """Parameters of the leave model (KuaiSim's temper budget).

    Attributes:
        step_cost: patience every video costs (fatigue), > 0 so every session ends.
        poor_penalty: extra cost of a video watched to ratio 0; falls linearly to 0 at
            ``good_ratio``.
        good_ratio: watch ratio from which a video costs only ``step_cost``.
        threshold: the user leaves once the budget is at or below this value.

    """

    step_cost: float = 0.3
    poor_penalty: float = 1.2
    good_ratio: float = 0.9
    threshold: float = 0.0

    def __post_init__(self) -> None:
        owner = "LeaveParams"
        require_range(owner, "step_cost", self.step_cost, 0.0, open_low=True)
        require_range(owner, "poor_penalty", self.poor_penalty, 0.0)
        require_range(owner, "good_ratio", self.good_ratio, 0.0, open_low=True)
        require_range(owner, "threshold", self.threshold, -1e9)


@dataclass(frozen=True)
class Leave:
    """Patience accounting; deterministic given the watch ratio."""

    params: LeaveParams = LeaveParams()

    def cost(self, watch_ratio: NDArray[np.float32]) -> NDArray[np.float32]:
        """Patience a video costs: ``step_cost + poor_penalty * max(0, 1 - ratio/good_ratio)``."""
        p = self.params
        shortfall = np.maximum(0.0, 1.0 - watch_ratio / p.good_ratio)
        return np.asarray(p.step_cost + p.poor_penalty * shortfall, dtype=np.float32)

    def leaves(self, budget: NDArray[np.float32]) -> NDArray[np.bool_]:
        """Whether each user leaves with this remaining budget."""
        return np.asarray(budget <= self.params.threshold)
