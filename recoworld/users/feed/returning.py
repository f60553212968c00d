"""Return: days until the next session, drawn from the session's satisfaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from recoworld._validate import require_range

__all__ = ["NEVER_DAYS", "Return", "ReturnModel", "ReturnParams"]


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
        require_range("base_rate", self.base_rate, 0.0, low_open=True, owner=owner)
        require_range("satisfaction_weight", self.satisfaction_weight, 0.0, owner=owner)
        require_range("reference_satisfaction", self.reference_satisfaction, 0.0, owner=owner)
        require_range("max_days", self.max_days, 1, owner=owner)


#: Gap (days) reported for a user who does not come back within a year.
NEVER_DAYS = 366


@runtime_checkable
class ReturnModel(Protocol):
    """The return part of a feed user: days until the next session, drawn when a session ends."""

    #: Uniforms in ``[0, 1)`` one ``days`` call reads per user.
    n_uniforms: int

    def days(
        self,
        satisfaction: NDArray[np.float32],
        propensity: NDArray[np.float32],
        u: NDArray[np.float64],
    ) -> NDArray[np.int64]:
        """Days until the next session (>= 1; :data:`NEVER_DAYS` for a user who never comes back).

        Args:
            satisfaction: ``(N,)`` mean watch ratio of the session that ended (capped at the
                response's ``max_watch_ratio``).
            propensity: ``(N,)`` the users' return propensity (a population column).
            u: ``(N, n_uniforms)`` uniforms in ``[0, 1)``.

        """


@dataclass(frozen=True)
class Return:
    """Days until the next session; monotone: more satisfied users return sooner."""

    params: ReturnParams = ReturnParams()

    #: One uniform per draw: the exponential waiting time's.
    n_uniforms = 1

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

    def days(
        self,
        satisfaction: NDArray[np.float32],
        propensity: NDArray[np.float32],
        u: NDArray[np.float64],
    ) -> NDArray[np.int64]:
        """:meth:`days_from_uniform` reading ``u[:, 0]`` (the :class:`ReturnModel` method)."""
        return self.days_from_uniform(satisfaction, propensity, u[:, 0])

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
