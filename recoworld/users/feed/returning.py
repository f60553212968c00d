"""Return: days until the next session, drawn from the session's satisfaction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from recoworld.users.feed._validate import require_range

__all__ = ["NEVER_DAYS", "Return", "ReturnParams"]


@dataclass(frozen=True)
class ReturnParams:
    """Parameters of the return (retention) model.

    The daily return hazard is ``base_rate * propensity * exp(satisfaction_weight *
    (satisfaction - reference_satisfaction))``; the gap is ``1 + floor(Exponential(hazard))``
    days. A gap above ``max_days`` is churn: the user does not come back in the horizon.

    Attributes:
        base_rate: daily hazard at reference satisfaction and propensity 1.
        satisfaction_weight: log-hazard per unit of satisfaction (mean watch ratio of the session).
        reference_satisfaction: satisfaction at which the hazard is ``base_rate * propensity``.
        max_days: longest gap that still counts as a return.

    """

    base_rate: float = 0.15
    satisfaction_weight: float = 3.0
    reference_satisfaction: float = 0.7
    max_days: int = 7

    def __post_init__(self) -> None:
        owner = "ReturnParams"
        require_range(owner, "base_rate", self.base_rate, 0.0, open_low=True)
        require_range(owner, "satisfaction_weight", self.satisfaction_weight, 0.0)
        require_range(owner, "reference_satisfaction", self.reference_satisfaction, 0.0)
        require_range(owner, "max_days", float(self.max_days), 1.0)


#: Gap (days) reported for a user who does not come back within a year.
NEVER_DAYS = 366


@dataclass(frozen=True)
class Return:
    """Days until the next session; monotone: more satisfied users return sooner."""

    params: ReturnParams = ReturnParams()

    def hazard(
        self, satisfaction: NDArray[np.float32], propensity: NDArray[np.float32]
    ) -> NDArray[np.float64]:
        """Daily return hazard of each user."""
        p = self.params
        shift = p.satisfaction_weight * (satisfaction.astype(np.float64) - p.reference_satisfaction)
        return np.asarray(p.base_rate * propensity * np.exp(np.minimum(shift, 30.0)))

    def days_from_uniform(
        self,
        satisfaction: NDArray[np.float32],
        propensity: NDArray[np.float32],
        u: NDArray[np.float64],
    ) -> NDArray[np.int64]:
        """Gap in days (>= 1, at most 366) for uniforms ``u`` in ``[0, 1)``."""
        rate = self.hazard(satisfaction, propensity)
        wait = -np.log1p(-np.clip(u, 0.0, 1.0 - 1e-12)) / rate
        return np.asarray(np.minimum(1 + np.floor(wait), NEVER_DAYS), dtype=np.int64)

    def sample_days(
        self,
        satisfaction: NDArray[np.float32],
        propensity: NDArray[np.float32],
        rng: np.random.Generator,
    ) -> NDArray[np.int64]:
        """Sample the gap in days drawing from ``rng``."""
        u = np.asarray(rng.random(satisfaction.shape[0]), dtype=np.float64)
        return self.days_from_uniform(satisfaction, propensity, u)

    def returned(self, days: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Whether a gap counts as a return (``days <= max_days``)."""
        return np.asarray(days <= self.params.max_days)
