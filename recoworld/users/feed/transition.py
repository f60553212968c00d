"""Transition: satiation with repeated categories and interest drift (the exposure feedback loop)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from recoworld._validate import require_range

__all__ = ["Transition", "TransitionModel", "TransitionParams"]


@dataclass(frozen=True)
class TransitionParams:
    """Parameters of the state transition.

    Attributes:
        satiation_enabled: switch of satiation (repeated categories lose appeal).
        satiation_weight: engagement-logit drop per unit of satiation of the video's category.
        satiation_decay: factor applied to every category's satiation after each video, in [0, 1).
        drift_enabled: switch of the feedback loop (exposure moves interest).
        drift_rate: step of the interest toward a watched video, times its watch ratio (<= 1).

    """

    satiation_enabled: bool = True
    satiation_weight: float = 0.35
    satiation_decay: float = 0.8
    drift_enabled: bool = True
    drift_rate: float = 0.02

    def __post_init__(self) -> None:
        owner = "TransitionParams"
        require_range("satiation_weight", self.satiation_weight, 0.0, owner=owner)
        require_range("satiation_decay", self.satiation_decay, 0.0, 1.0, high_open=True, owner=owner)
        require_range("drift_rate", self.drift_rate, 0.0, 1.0, owner=owner)


@runtime_checkable
class TransitionModel(Protocol):
    """The transition part of a feed user: satiation's logit penalty and the state update."""

    def penalty(self, satiation: NDArray[np.float32]) -> NDArray[np.float32]:
        """Engagement-logit drop for the satiation of each shown video's category (same shape)."""

    def update(
        self,
        satiation: NDArray[np.float32],
        interest: NDArray[np.float32],
        category: NDArray[np.int64],
        embedding: NDArray[np.float32],
        watch_ratio: NDArray[np.float32],
    ) -> None:
        """Update ``satiation`` ``(N, C)`` and ``interest`` ``(N, dim)`` in place after a video."""


@dataclass(frozen=True)
class Transition:
    """How a user's satiation and interest change after each video (deterministic)."""

    params: TransitionParams = TransitionParams()

    def penalty(self, satiation: NDArray[np.float32]) -> NDArray[np.float32]:
        """Engagement-logit drop for the given satiation values (zeros when satiation is off)."""
        if not self.params.satiation_enabled:
            return np.zeros_like(satiation)
        return (self.params.satiation_weight * satiation).astype(np.float32)

    def update(
        self,
        satiation: NDArray[np.float32],
        interest: NDArray[np.float32],
        category: NDArray[np.int64],
        embedding: NDArray[np.float32],
        watch_ratio: NDArray[np.float32],
    ) -> None:
        """Update ``satiation`` ``(N, C)`` and ``interest`` ``(N, dim)`` in place.

        Satiation decays for every category and grows by 1 for the category just shown; the
        interest moves toward the video's embedding by ``drift_rate * min(watch_ratio, 1)``.
        """
        p = self.params
        rows = np.arange(satiation.shape[0])
        satiation *= np.float32(p.satiation_decay)
        satiation[rows, category] += np.float32(1.0)
        if p.drift_enabled and p.drift_rate > 0.0:
            step = (p.drift_rate * np.minimum(watch_ratio, 1.0)).astype(np.float32)[:, None]
            interest += step * (embedding - interest)
