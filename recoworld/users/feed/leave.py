"""Leave: a patience budget that falls with every video, faster after poor ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from recoworld._validate import require_range

__all__ = ["Leave", "LeaveModel", "LeaveParams"]


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
        require_range("step_cost", self.step_cost, 0.0, low_open=True, owner=owner)
        require_range("poor_penalty", self.poor_penalty, 0.0, owner=owner)
        require_range("good_ratio", self.good_ratio, 0.0, low_open=True, owner=owner)
        require_range("threshold", self.threshold, owner=owner)


@runtime_checkable
class LeaveModel(Protocol):
    """The leave part of a feed user: what each video costs in patience, and when the user leaves.

    The user starts each session with the population's ``patience``; after every video the
    budget falls by ``cost(watch_ratio)`` and ``leaves`` decides on the remaining budget and the
    session's depth. A random leave rule declares ``n_uniforms`` > 0 and reads its draws from ``u``.
    """

    #: Uniforms in ``[0, 1)`` one ``leaves`` call reads per user (0 for a deterministic rule).
    n_uniforms: int

    def cost(self, watch_ratio: NDArray[np.float32]) -> NDArray[np.float32]:
        """Patience each video costs, ``(N,)`` from the watch ratios ``(N,)`` (or ``(N, K)``)."""

    def leaves(
        self, budget: NDArray[np.float32], depth: NDArray[np.int64], u: NDArray[np.float64]
    ) -> NDArray[np.bool_]:
        """Whether each user leaves after this video; ``depth`` counts it, ``u`` is ``(N, n_uniforms)``."""


@dataclass(frozen=True)
class Leave:
    """Patience accounting; deterministic given the watch ratio."""

    params: LeaveParams = LeaveParams()

    #: The stock rule draws nothing.
    n_uniforms = 0

    def cost(self, watch_ratio: NDArray[np.float32]) -> NDArray[np.float32]:
        """Patience a video costs: ``step_cost + poor_penalty * max(0, 1 - ratio/good_ratio)``."""
        p = self.params
        shortfall = np.maximum(0.0, 1.0 - watch_ratio / p.good_ratio)
        return np.asarray(p.step_cost + p.poor_penalty * shortfall, dtype=np.float32)

    def leaves(
        self,
        budget: NDArray[np.float32],
        depth: NDArray[np.int64],
        u: NDArray[np.float64],
    ) -> NDArray[np.bool_]:
        """Whether each user leaves with this remaining budget (at or below ``threshold``)."""
        return np.asarray(budget <= self.params.threshold)
