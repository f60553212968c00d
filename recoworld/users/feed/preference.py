"""Preference: the affinity of a user's (latent, drifting) interest for a video."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from recoworld._validate import require_range

__all__ = ["Preference", "PreferenceModel", "PreferenceParams"]


@dataclass(frozen=True)
class PreferenceParams:
    """Parameters of the preference model.

    Attributes:
        taste_weight: weight of the taste match ``interest . embedding``.
        quality_weight: weight of the video's intrinsic quality, shared by all users.

    """

    taste_weight: float = 1.5
    quality_weight: float = 0.4

    def __post_init__(self) -> None:
        require_range("taste_weight", self.taste_weight, 0.0, owner="PreferenceParams")
        require_range("quality_weight", self.quality_weight, 0.0, owner="PreferenceParams")


@runtime_checkable
class PreferenceModel(Protocol):
    """The preference part of a feed user: how much each user likes each video, before biases."""

    def affinity(
        self,
        interest: NDArray[np.float32],
        embedding: NDArray[np.float32],
        quality: NDArray[np.float32],
    ) -> NDArray[np.float32]:
        """Affinity ``(N,)`` or ``(N, K)`` of ``interest`` ``(N, dim)`` for one video or a pool each."""


@dataclass(frozen=True)
class Preference:
    """User-video affinity ``taste_weight * <interest, embedding> + quality_weight * quality``."""

    params: PreferenceParams = PreferenceParams()

    def affinity(
        self,
        interest: NDArray[np.float32],
        embedding: NDArray[np.float32],
        quality: NDArray[np.float32],
    ) -> NDArray[np.float32]:
        """Affinity for one video per user or for a pool per user.

        Args:
            interest: ``(N, dim)`` latent interests.
            embedding: ``(N, dim)`` (one video each) or ``(N, K, dim)`` (a pool each).
            quality: ``(N,)`` or ``(N, K)``, matching ``embedding``.

        """
        p = self.params
        if embedding.ndim == 2:
            taste = np.einsum("nd,nd->n", interest, embedding)
        else:
            taste = np.einsum("nd,nkd->nk", interest, embedding)
        return np.asarray(p.taste_weight * taste + p.quality_weight * quality, dtype=np.float32)
