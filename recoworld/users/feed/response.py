"""Response: watch ratio, watch time, like and skip of a user shown one video."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from recoworld._validate import require_range

__all__ = ["Response", "ResponseModel", "ResponseParams", "ResponseSample"]


@dataclass(frozen=True)
class ResponseParams:
    """Parameters of the response model.

    Attributes:
        base_logit: engagement logit of a neutral video (affinity 0, no bias).
        noise_scale: scale of the logistic noise added to the engagement logit.
        max_watch_ratio: ceiling of the watch ratio (replays push real ratios above 1).
        like_bias: like logit at engagement logit 0.
        like_weight: like logit per unit of engagement logit.
        skip_ratio: a watch ratio below this counts as a skip.

    """

    base_logit: float = -0.3
    noise_scale: float = 0.5
    max_watch_ratio: float = 2.0
    like_bias: float = -3.5
    like_weight: float = 1.5
    skip_ratio: float = 0.2

    def __post_init__(self) -> None:
        owner = "ResponseParams"
        require_range("base_logit", self.base_logit, owner=owner)
        require_range("noise_scale", self.noise_scale, 0.0, owner=owner)
        require_range("max_watch_ratio", self.max_watch_ratio, 0.0, low_open=True, owner=owner)
        require_range("like_bias", self.like_bias, owner=owner)
        require_range("like_weight", self.like_weight, 0.0, owner=owner)
        require_range("skip_ratio", self.skip_ratio, 0.0, self.max_watch_ratio, owner=owner)


@dataclass(frozen=True)
class ResponseSample:
    """Sampled responses, one entry per user (arrays of equal shape)."""

    watch_ratio: NDArray[np.float32]
    watch_time: NDArray[np.float32]
    like: NDArray[np.bool_]
    skip: NDArray[np.bool_]


@runtime_checkable
class ResponseModel(Protocol):
    """The response part of a feed user: what a user does with a video, given its engagement logit.

    The user assembles the noise-free engagement logit ``base_logit + affinity + duration shift +
    position shift - satiation penalty``; the response turns it into a watch ratio, a like and a
    skip, drawing only from the uniforms it is handed.
    """

    #: Uniforms in ``[0, 1)`` one ``from_uniforms`` call reads per user.
    n_uniforms: int

    @property
    def base_logit(self) -> float:
        """Engagement logit of a neutral video (affinity 0, no bias): the logit's intercept."""

    @property
    def max_watch_ratio(self) -> float:
        """Ceiling of the modelled watch ratio; a session's satisfaction is capped there."""

    def from_uniforms(
        self, logit: NDArray[np.float32], duration_s: NDArray[np.float32], u: NDArray[np.float64]
    ) -> ResponseSample:
        """Responses to logits ``(N,)`` for videos of ``duration_s`` ``(N,)``; ``u`` is ``(N, n_uniforms)``."""

    def expected_watch_ratio(self, logit: NDArray[np.float32]) -> NDArray[np.float32]:
        """Expected watch ratio of noise-free logits (any shape); the oracle agents read it."""


def _sigmoid(x: NDArray[np.float32]) -> NDArray[np.float32]:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float32)


@dataclass(frozen=True)
class Response:
    """Watch ratio ``max_watch_ratio * sigmoid(logit + noise)``; likes follow engagement."""

    params: ResponseParams = ResponseParams()

    #: Uniform draws one response consumes: the watch noise and the like coin.
    n_uniforms = 2

    @property
    def base_logit(self) -> float:
        """``params.base_logit``."""
        return self.params.base_logit

    @property
    def max_watch_ratio(self) -> float:
        """``params.max_watch_ratio``."""
        return self.params.max_watch_ratio

    def from_uniforms(
        self,
        logit: NDArray[np.float32],
        duration_s: NDArray[np.float32],
        u: NDArray[np.float64],
    ) -> ResponseSample:
        """Responses for engagement logits (bias shifts already added) given uniforms.

        Args:
            logit: ``(N,)`` engagement logit without noise.
            duration_s: ``(N,)`` video durations.
            u: ``(N, >=2)`` uniforms in ``[0, 1)``: column 0 drives the noise, column 1 the like.

        """
        p = self.params
        u0 = np.maximum(u[:, 0], 1e-12)
        noisy = logit + (p.noise_scale * np.log(u0 / (1.0 - u0))).astype(np.float32)
        ratio = np.asarray(p.max_watch_ratio / (1.0 + np.exp(-noisy)), dtype=np.float32)
        # u < sigmoid(x)  <=>  u * (1 + exp(-x)) < 1, without the division.
        like = u[:, 1] * (1.0 + np.exp(-(p.like_bias + p.like_weight * noisy))) < 1.0
        return ResponseSample(
            watch_ratio=ratio,
            watch_time=np.asarray(ratio * duration_s, dtype=np.float32),
            like=like,
            skip=ratio < p.skip_ratio,
        )

    def sample(
        self,
        logit: NDArray[np.float32],
        duration_s: NDArray[np.float32],
        rng: np.random.Generator,
    ) -> ResponseSample:
        """Sample responses drawing the uniforms from ``rng``."""
        return self.from_uniforms(logit, duration_s, rng.random((logit.shape[0], self.n_uniforms)))

    def expected_watch_ratio(self, logit: NDArray[np.float32]) -> NDArray[np.float32]:
        """Expected watch ratio (probit approximation of the logistic-normal mean)."""
        p = self.params
        var = (p.noise_scale * math.pi) ** 2 / 3.0
        shrink = 1.0 / math.sqrt(1.0 + math.pi * var / 8.0)
        return (p.max_watch_ratio * _sigmoid((logit * shrink).astype(np.float32))).astype(
            np.float32
        )
