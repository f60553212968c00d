"""Off-policy estimators for contextual bandits (and slates scored position by position).

Notation: ``w = pi_e(a|x) / pi_b(a|x)`` is the importance weight of the logged action, ``r`` the
logged reward, ``q(x, a)`` a reward model's estimate and ``v(x) = sum_a pi_e(a|x) q(x, a)`` its
value of the target policy at ``x``. Each estimator is a frozen dataclass holding only its settings,
with ``estimate_policy_value(data, action_dist, estimated_rewards=None) -> float`` and
``estimate_interval(...)`` (bootstrap, written once in :mod:`recoworld.estimators.base`).

References: Horvitz & Thompson (1952); Swaminathan & Joachims, NeurIPS 2015 (SNIPS); Dudik et al.,
ICML 2011 (DR); Wang et al., ICML 2017 (Switch); Su et al., ICML 2020 (DR with shrinkage); Saito
et al., Open Bandit Pipeline, NeurIPS 2021 Datasets track (the reference implementation: the same
definitions, so estimates agree with ``obp.ope`` on the same arrays).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from recoworld._validate import require_range
from recoworld.errors import EstimatorInputError
from recoworld.estimators.base import BaseEstimator, ConfidenceInterval, weighted_mean
from recoworld.estimators.logged_data import BanditLog

__all__ = [
    "BanditTerms",
    "BaseBanditEstimator",
    "DirectMethod",
    "DoublyRobust",
    "DoublyRobustWithShrinkage",
    "InverseProbabilityWeighting",
    "SelfNormalizedDoublyRobust",
    "SelfNormalizedInverseProbabilityWeighting",
    "SwitchDoublyRobust",
]

_Array = npt.NDArray[np.float64]
_SUM_ATOL = 1e-6


@dataclass(frozen=True)
class BanditTerms:
    """Per-round quantities every bandit estimator is built from."""

    weight: _Array
    """Importance weight ``pi_e(a_i|x_i) / pscore_i`` of the logged action."""
    reward: _Array
    """Logged reward ``r_i``."""
    q_logged: _Array | None
    """Reward model at the logged action, ``q(x_i, a_i)``; ``None`` without a model."""
    v_target: _Array | None
    """Reward model's value of the target policy, ``sum_a pi_e(a|x_i) q(x_i, a)``."""


_BLOCK_ROWS = 8192  # rows per block: a block of action_dist stays in L2 cache across the passes


def _row_offsets(n_rows: int, n_actions: int, action: npt.NDArray[np.int64],
                 position: npt.NDArray[np.int64] | None, len_list: int) -> npt.NDArray[np.int64]:
    flat = np.arange(n_rows, dtype=np.int64) * n_actions + action
    if len_list > 1 or position is not None:
        flat = flat * len_list + (0 if position is None else position)
    return flat


def _scan(
    dist: _Array, q: _Array | None, action: npt.NDArray[np.int64],
    position: npt.NDArray[np.int64] | None,
) -> tuple[_Array, float, float, float, _Array | None, _Array | None]:
    """One cache-friendly pass over ``dist`` (and ``q``), block by block.

    Returns the target probability of each logged action, the smallest and largest sum of a
    distribution over actions, the smallest entry, and (with ``q``) the model at the logged
    action and the model's value of the target policy. Done in blocks so that the sums, the
    minimum and the gathers read each block from cache instead of memory three times.
    """
    n, n_actions = dist.shape[0], dist.shape[1]
    len_list = dist.shape[2] if dist.ndim == 3 else 1
    pi_logged = np.empty(n)
    q_logged = np.empty(n) if q is not None else None
    v_target = np.empty(n) if q is not None else None
    sum_min, sum_max, entry_min = np.inf, -np.inf, np.inf
    for start in range(0, n, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, n)
        blk = dist[start:stop]
        # einsum, not a BLAS product: a threaded BLAS call per block stalls on a busy machine.
        sums = np.einsum("ij->i", blk) if blk.ndim == 2 else blk.sum(axis=1)
        sum_min = np.minimum(sum_min, sums.min())
        sum_max = np.maximum(sum_max, sums.max())
        entry_min = np.minimum(entry_min, blk.min())
        pos = None if position is None else position[start:stop]
        flat = _row_offsets(stop - start, n_actions, action[start:stop], pos, len_list)
        pi_logged[start:stop] = blk.reshape(-1).take(flat)
        if q is not None and q_logged is not None and v_target is not None:
            qb = q[start:stop]
            q_logged[start:stop] = qb.reshape(-1).take(flat)
            if blk.ndim == 2:
                v_target[start:stop] = np.einsum("ij,ij->i", blk, qb)
            else:
                v_pos = np.einsum("ijk,ijk->ik", blk, qb)
                v_target[start:stop] = v_pos[np.arange(stop - start),
                                             0 if pos is None else pos]
    return pi_logged, float(sum_min), float(sum_max), float(entry_min), q_logged, v_target


def _bandit_terms(data: BanditLog, action_dist: npt.ArrayLike,
                  estimated_rewards: npt.ArrayLike | None, *, need_model: bool) -> BanditTerms:
    """Validate inputs and compute :class:`BanditTerms` (shared by every bandit estimator)."""
    if not isinstance(data, BanditLog):
        raise EstimatorInputError(f"`data` must be a BanditLog (build one with "
                                  f"BanditLog.from_arrays), got {type(data).__name__}")
    dist = np.ascontiguousarray(action_dist, dtype=np.float64)
    n, n_actions = data.n_rows, data.n_actions
    if dist.ndim not in (2, 3) or dist.shape[0] != n or dist.shape[1] != n_actions:
        raise EstimatorInputError(
            f"`action_dist` must have shape (n_rows, n_actions[, len_list]) = ({n}, {n_actions}"
            f"[, {data.len_list}]), got {dist.shape}"
        )
    if dist.ndim == 3 and dist.shape[2] != data.len_list:
        raise EstimatorInputError(f"`action_dist` has {dist.shape[2]} positions, the log has "
                                  f"len_list={data.len_list}")
    if dist.ndim == 2 and data.len_list > 1:
        raise EstimatorInputError(f"the log has len_list={data.len_list} positions, so "
                                  f"`action_dist` must have shape (n_rows, n_actions, len_list), "
                                  f"got {dist.shape}")
    q: _Array | None = None
    if estimated_rewards is None:
        if need_model:
            raise EstimatorInputError(
                "`estimated_rewards` is required by this estimator (a reward model's q(x, a), "
                "shaped like `action_dist`), got None")
    else:
        q = np.ascontiguousarray(estimated_rewards, dtype=np.float64)
        if q.shape != dist.shape:
            raise EstimatorInputError(f"`estimated_rewards` must have the shape of `action_dist` "
                                      f"{dist.shape}, got {q.shape}")
    pi_logged, sum_min, sum_max, entry_min, q_logged, v_target = _scan(
        dist, q, data.action, data.position)
    if not (abs(sum_min - 1.0) <= _SUM_ATOL and abs(sum_max - 1.0) <= _SUM_ATOL):
        raise EstimatorInputError(f"`action_dist` must sum to one over actions, got sums in "
                                  f"[{sum_min:g}, {sum_max:g}]")
    if entry_min < 0.0:
        raise EstimatorInputError(f"`action_dist` must be non-negative, got min={entry_min:g}")
    if q is not None and not (q_logged is not None and np.isfinite(q_logged).all()
                              and v_target is not None and np.isfinite(v_target).all()):
        raise EstimatorInputError("`estimated_rewards` must be finite, got NaN or inf entries")
    return BanditTerms(pi_logged / data.pscore, data.reward, q_logged, v_target)


class BaseBanditEstimator(BaseEstimator[BanditTerms]):
    """A bandit off-policy estimator: settings only, plus the value as a function of counts."""

    estimator_name: ClassVar[str]
    """Short name used in tables (``ipw``, ``snipw``, ``dm``, ``dr``, ...)."""
    requires_reward_model: ClassVar[bool] = False
    """Whether ``estimated_rewards`` must be passed."""

    @abstractmethod
    def _value(self, terms: BanditTerms, counts: _Array | None) -> float:
        """Return the estimate with round ``i`` counted ``counts[i]`` times."""

    def estimate_policy_value(
        self,
        data: BanditLog,
        action_dist: npt.ArrayLike,
        estimated_rewards: npt.ArrayLike | None = None,
    ) -> float:
        """Estimate the target policy's expected reward per round.

        ``action_dist`` is the target policy's distribution at each logged context, shape
        ``(n_rows, n_actions)`` or ``(n_rows, n_actions, len_list)``; ``estimated_rewards`` is a
        reward model's ``q(x, a)`` of the same shape (required by DM and the DR family).
        """
        terms = _bandit_terms(data, action_dist, estimated_rewards,
                             need_model=self.requires_reward_model)
        return self._value(terms, None)

    def estimate_interval(
        self,
        data: BanditLog,
        action_dist: npt.ArrayLike,
        estimated_rewards: npt.ArrayLike | None = None,
        *,
        alpha: float = 0.05,
        n_bootstrap: int = 200,
        seed: int = 0,
    ) -> ConfidenceInterval:
        """Point estimate and percentile-bootstrap interval (rounds resampled with replacement)."""
        terms = _bandit_terms(data, action_dist, estimated_rewards,
                             need_model=self.requires_reward_model)
        return self._bootstrap(terms, data.n_rows, alpha=alpha, n_bootstrap=n_bootstrap,
                               seed=seed)


def _clipped(weight: _Array, clip: float) -> _Array:
    return weight if clip == float("inf") else np.minimum(weight, clip)


def _model(terms: BanditTerms) -> tuple[_Array, _Array]:
    assert terms.q_logged is not None and terms.v_target is not None  # checked in bandit_terms
    return terms.q_logged, terms.v_target


@dataclass(frozen=True)
class InverseProbabilityWeighting(BaseBanditEstimator):
    """IPS: ``mean(w * r)``, with weights optionally clipped at ``clip`` (biased if clipped)."""

    clip: float = float("inf")
    """Upper bound on importance weights; ``inf`` keeps the estimator unbiased."""
    estimator_name: ClassVar[str] = "ipw"

    def __post_init__(self) -> None:
        require_range("clip", self.clip, 0, low_open=True, allow_inf=True, error=EstimatorInputError)

    def _value(self, terms: BanditTerms, counts: _Array | None) -> float:
        return weighted_mean(_clipped(terms.weight, self.clip) * terms.reward, counts)


@dataclass(frozen=True)
class SelfNormalizedInverseProbabilityWeighting(BaseBanditEstimator):
    """SNIPS: ``sum(w * r) / sum(w)``; biased for finite n, consistent, often lower variance."""

    estimator_name: ClassVar[str] = "snipw"

    def _value(self, terms: BanditTerms, counts: _Array | None) -> float:
        if counts is None:
            return float(terms.weight @ terms.reward / terms.weight.sum())
        cw = counts * terms.weight
        return float(cw @ terms.reward / cw.sum())


@dataclass(frozen=True)
class DirectMethod(BaseBanditEstimator):
    """DM: ``mean(v(x))``, the reward model's value of the target policy."""

    estimator_name: ClassVar[str] = "dm"
    requires_reward_model: ClassVar[bool] = True

    def _value(self, terms: BanditTerms, counts: _Array | None) -> float:
        return weighted_mean(_model(terms)[1], counts)


@dataclass(frozen=True)
class DoublyRobust(BaseBanditEstimator):
    """DR: ``mean(v(x) + w * (r - q(x, a)))``; unbiased if propensities or model are right."""

    clip: float = float("inf")
    """Upper bound on importance weights in the correction term."""
    estimator_name: ClassVar[str] = "dr"
    requires_reward_model: ClassVar[bool] = True

    def __post_init__(self) -> None:
        require_range("clip", self.clip, 0, low_open=True, allow_inf=True, error=EstimatorInputError)

    def _value(self, terms: BanditTerms, counts: _Array | None) -> float:
        q, v = _model(terms)
        return weighted_mean(v + _clipped(terms.weight, self.clip) * (terms.reward - q), counts)


@dataclass(frozen=True)
class SelfNormalizedDoublyRobust(BaseBanditEstimator):
    """SNDR: ``mean(v(x)) + sum(w * (r - q)) / sum(w)``."""

    estimator_name: ClassVar[str] = "sndr"
    requires_reward_model: ClassVar[bool] = True

    def _value(self, terms: BanditTerms, counts: _Array | None) -> float:
        q, v = _model(terms)
        correction = terms.weight * (terms.reward - q)
        if counts is None:
            return float(v.mean() + correction.sum() / terms.weight.sum())
        return float((counts @ v) / counts.sum() + (counts @ correction) / (counts @ terms.weight))


@dataclass(frozen=True)
class SwitchDoublyRobust(BaseBanditEstimator):
    """Switch-DR: DR whose correction is dropped (pure DM) on rounds with ``w > tau``.

    This is the Open Bandit Pipeline's form, ``mean(v(x) + 1[w <= tau] * w * (r - q))``; it needs
    only the logged propensity. ``tau = inf`` is DR, ``tau = 0`` is DM.
    """

    tau: float = 1.0
    """Switching threshold on the importance weight."""
    estimator_name: ClassVar[str] = "switch-dr"
    requires_reward_model: ClassVar[bool] = True

    def __post_init__(self) -> None:
        require_range("tau", self.tau, 0, allow_inf=True, error=EstimatorInputError)

    def _value(self, terms: BanditTerms, counts: _Array | None) -> float:
        q, v = _model(terms)
        keep = terms.weight <= self.tau
        return weighted_mean(v + np.where(keep, terms.weight * (terms.reward - q), 0.0), counts)


@dataclass(frozen=True)
class DoublyRobustWithShrinkage(BaseBanditEstimator):
    """DRos: DR with weights shrunk to ``lambda * w / (w**2 + lambda)`` (Su et al., 2020).

    ``shrinkage = inf`` is DR; ``shrinkage = 0`` is DM.
    """

    shrinkage: float = 1.0
    """The shrinkage hyper-parameter lambda (>= 0)."""
    estimator_name: ClassVar[str] = "dr-os"
    requires_reward_model: ClassVar[bool] = True

    def __post_init__(self) -> None:
        require_range("shrinkage", self.shrinkage, 0, allow_inf=True, error=EstimatorInputError)

    def _value(self, terms: BanditTerms, counts: _Array | None) -> float:
        q, v = _model(terms)
        w = terms.weight
        if self.shrinkage == float("inf"):
            shrunk = w
        elif self.shrinkage == 0.0:
            shrunk = np.zeros_like(w)
        else:
            shrunk = self.shrinkage * w / (w * w + self.shrinkage)
        return weighted_mean(v + shrunk * (terms.reward - q), counts)
