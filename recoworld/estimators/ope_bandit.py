"""Off-policy estimators for contextual bandits (and slates scored position by position).

Setting and notation (as in the Open Bandit Pipeline). A logging policy ``pi_b`` chose action
``a_i`` in context ``x_i`` and received reward ``r_i``, for rounds ``i = 1 .. n``; the log records
the propensity ``p_i = pi_b(a_i | x_i)``. The estimand is the value of a target policy ``pi_e``::

    V(pi_e) = E_x E_{a ~ pi_e(. | x)} E[r | x, a]

Every estimator is built from the importance weight of the logged action, a reward model ``q``
and its value of the target policy::

    w_i = pi_e(a_i | x_i) / p_i            q(x, a) ~ E[r | x, a]
    v(x_i) = sum_a pi_e(a | x_i) q(x_i, a)

Inputs of ``estimate_policy_value(data, action_dist, estimated_rewards=None) -> float`` (and of
``estimate_interval``, the same plus a percentile-bootstrap interval, written once in
:mod:`recoworld.estimators.base`):

| argument | type, shape | meaning |
|---|---|---|
| ``data`` | :class:`~recoworld.estimators.BanditLog`, ``n_rows`` rows | ``action`` ``a_i``, ``reward`` ``r_i``, ``pscore`` ``p_i`` in (0, 1] |
| ``action_dist`` | float ``(n_rows, n_actions)``, or ``(n_rows, n_actions, len_list)`` for slates | ``pi_e(a | x_i)``; each row (per position) sums to 1 |
| ``estimated_rewards`` | float, the shape of ``action_dist`` | ``q(x_i, a)``; required by DM and the DR family |

With slates (``len_list > 1``) each row is one decision at one slate position, with its own
propensity and the target's distribution at that position (``action_dist[i, :, position_i]``);
the estimate is then the expected reward per logged position.

Unbiasedness (for IPS and DR) needs *common support*: ``pi_b(a | x) > 0`` wherever
``pi_e(a | x) > 0``, and the logged propensities must be the probabilities the logging policy
really used (:func:`~recoworld.estimators.collect` logs exactly those). A reward model fitted on
the same rows can make DR biased through overfitting; fit it with cross-fitting
(:class:`~recoworld.estimators.LinearRewardModel` with ``n_folds > 1``).

References: Horvitz & Thompson, JASA 1952 (IPS); Swaminathan & Joachims, NeurIPS 2015 (SNIPS);
Dudik, Langford & Li, ICML 2011 (DR); Kallus & Uehara, NeurIPS 2019 (SNDR); Wang, Agarwal & Dudik,
ICML 2017 (Switch-DR); Su, Dimakopoulou, Krishnamurthy & Dudik, ICML 2020 (DR with shrinkage);
Saito, Aihara, Matsutani & Narita, "Open Bandit Dataset and Pipeline", NeurIPS 2021 Datasets and
Benchmarks (the reference implementation: the same definitions, so estimates agree with
``obp.ope`` on the same arrays; ``benchmarks/bench_estimators.py`` checks it).
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from recoworld._validate import require_range
from recoworld.errors import EstimatorInputError
from recoworld.estimators.base import (
    BaseEstimator,
    ConfidenceInterval,
    self_normalized,
    weighted_mean,
)
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

        Args:
            data: the logged rounds (``n_rows``).
            action_dist: ``pi_e(a | x_i)``, shape ``(n_rows, n_actions)`` or
                ``(n_rows, n_actions, len_list)``; rows sum to one.
            estimated_rewards: a reward model's ``q(x_i, a)``, the shape of ``action_dist``
                (required by DM and the DR family).

        Returns:
            The estimate of ``V(pi_e)``.

        Raises:
            EstimatorInputError: a shape, a distribution or a reward model that does not fit the
                log (the message names the argument and what it got).

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
        """Point estimate and percentile-bootstrap interval (rounds resampled with replacement).

        Takes the arguments of :meth:`estimate_policy_value`, plus ``alpha`` (one minus the
        nominal coverage), ``n_bootstrap`` resamples and the ``seed`` of the resampling.
        """
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
    """Inverse propensity scoring (IPS, also IPW): reweight each logged reward by ``w_i``.

    ```text
    V_IPS = (1/n) sum_i min(w_i, clip) r_i
    ```

    Unbiased for ``V(pi_e)`` under common support and true propensities when ``clip = inf``
    (the default); its variance grows with the weights. Clipping bounds the variance and biases
    the estimate (downward for non-negative rewards).

    Inputs: ``data`` a :class:`~recoworld.estimators.BanditLog` of ``n_rows`` rounds;
    ``action_dist`` ``(n_rows, n_actions)`` (or ``(n_rows, n_actions, len_list)``); no reward
    model.

    References: Horvitz & Thompson, JASA 1952; clipping: Strehl, Langford, Li & Kakade, NeurIPS
    2010. Open Bandit Pipeline: ``obp.ope.InverseProbabilityWeighting``.
    """

    clip: float = float("inf")
    """Upper bound on importance weights (> 0); ``inf`` keeps the estimator unbiased."""
    estimator_name: ClassVar[str] = "ipw"

    def __post_init__(self) -> None:
        require_range("clip", self.clip, 0, low_open=True, allow_inf=True, error=EstimatorInputError)

    def _value(self, terms: BanditTerms, counts: _Array | None) -> float:
        return weighted_mean(_clipped(terms.weight, self.clip) * terms.reward, counts)


@dataclass(frozen=True)
class SelfNormalizedInverseProbabilityWeighting(BaseBanditEstimator):
    """Self-normalised IPS (SNIPS): IPS divided by the mean weight.

    ```text
    V_SNIPS = sum_i w_i r_i / sum_i w_i
    ```

    A ratio estimator: biased for finite ``n`` (the bias is ``O(1/n)``), consistent under common
    support and true propensities, bounded by the range of the rewards, invariant to a constant
    shift of the rewards, and usually of much lower variance than IPS.

    Inputs: ``data`` a :class:`~recoworld.estimators.BanditLog` of ``n_rows`` rounds;
    ``action_dist`` ``(n_rows, n_actions)`` (or ``(n_rows, n_actions, len_list)``); no reward
    model.

    References: Swaminathan & Joachims, "The Self-Normalized Estimator for Counterfactual
    Learning", NeurIPS 2015. Open Bandit Pipeline: ``obp.ope.SelfNormalizedInverseProbabilityWeighting``.

    Undefined when ``sum(w) = 0`` (no logged action has probability under the evaluated policy):
    :class:`~recoworld.errors.EstimatorInputError`.
    """

    estimator_name: ClassVar[str] = "snipw"

    def _value(self, terms: BanditTerms, counts: _Array | None) -> float:
        cw = terms.weight if counts is None else counts * terms.weight
        return self_normalized(float(cw @ terms.reward), float(cw.sum()), counts, "SNIPS")


@dataclass(frozen=True)
class DirectMethod(BaseBanditEstimator):
    """Direct method (DM): the reward model's value of the target policy, averaged over contexts.

    ```text
    V_DM = (1/n) sum_i v(x_i) = (1/n) sum_i sum_a pi_e(a | x_i) q(x_i, a)
    ```

    Needs no propensity and has low variance, but is unbiased only when the reward model is
    right (``q = E[r | x, a]`` wherever ``pi_e`` puts mass); a misspecified model's bias does not
    shrink with ``n``.

    Inputs: ``data`` a :class:`~recoworld.estimators.BanditLog` of ``n_rows`` rounds;
    ``action_dist`` ``(n_rows, n_actions)`` (or ``(n_rows, n_actions, len_list)``);
    ``estimated_rewards`` of the same shape, required.

    References: Beygelzimer & Langford, KDD 2009. Open Bandit Pipeline: ``obp.ope.DirectMethod``.
    """

    estimator_name: ClassVar[str] = "dm"
    requires_reward_model: ClassVar[bool] = True

    def _value(self, terms: BanditTerms, counts: _Array | None) -> float:
        return weighted_mean(_model(terms)[1], counts)


@dataclass(frozen=True)
class DoublyRobust(BaseBanditEstimator):
    """Doubly robust (DR): the direct method plus an importance-weighted correction of its error.

    ```text
    V_DR = (1/n) sum_i [ v(x_i) + min(w_i, clip) (r_i - q(x_i, a_i)) ]
    ```

    Unbiased (``clip = inf``) when either the propensities are right (under common support) or the
    reward model is right, hence "doubly robust"; with true propensities its variance is lower
    than IPS's the better the model. Clipping the weights trades bias for variance. Fit the model
    on other rows than it corrects (cross-fitting) to keep the correction unbiased.

    Inputs: ``data`` a :class:`~recoworld.estimators.BanditLog` of ``n_rows`` rounds;
    ``action_dist`` ``(n_rows, n_actions)`` (or ``(n_rows, n_actions, len_list)``);
    ``estimated_rewards`` of the same shape, required.

    References: Dudik, Langford & Li, "Doubly Robust Policy Evaluation and Learning", ICML 2011.
    Open Bandit Pipeline: ``obp.ope.DoublyRobust``.
    """

    clip: float = float("inf")
    """Upper bound on importance weights in the correction term (> 0); ``inf``: unbiased DR."""
    estimator_name: ClassVar[str] = "dr"
    requires_reward_model: ClassVar[bool] = True

    def __post_init__(self) -> None:
        require_range("clip", self.clip, 0, low_open=True, allow_inf=True, error=EstimatorInputError)

    def _value(self, terms: BanditTerms, counts: _Array | None) -> float:
        q, v = _model(terms)
        return weighted_mean(v + _clipped(terms.weight, self.clip) * (terms.reward - q), counts)


@dataclass(frozen=True)
class SelfNormalizedDoublyRobust(BaseBanditEstimator):
    """Self-normalised doubly robust (SNDR): DR whose correction is normalised by the weights.

    ```text
    V_SNDR = (1/n) sum_i v(x_i) + sum_i w_i (r_i - q(x_i, a_i)) / sum_i w_i
    ```

    Biased for finite ``n`` (``O(1/n)``, as SNIPS), consistent when the propensities or the model
    are right; stable when a few weights are very large. Like SNIPS, undefined (an
    :class:`~recoworld.errors.EstimatorInputError`) when ``sum(w) = 0``.

    Inputs: ``data`` a :class:`~recoworld.estimators.BanditLog` of ``n_rows`` rounds;
    ``action_dist`` ``(n_rows, n_actions)`` (or ``(n_rows, n_actions, len_list)``);
    ``estimated_rewards`` of the same shape, required.

    References: Kallus & Uehara, "Intrinsically Efficient, Stable, and Bounded Off-Policy
    Evaluation for Reinforcement Learning", NeurIPS 2019. Open Bandit Pipeline:
    ``obp.ope.SelfNormalizedDoublyRobust``.
    """

    estimator_name: ClassVar[str] = "sndr"
    requires_reward_model: ClassVar[bool] = True

    def _value(self, terms: BanditTerms, counts: _Array | None) -> float:
        q, v = _model(terms)
        correction = terms.weight * (terms.reward - q)
        if counts is None:
            return float(v.mean()) + self_normalized(
                float(correction.sum()), float(terms.weight.sum()), counts, "SNDR"
            )
        return float((counts @ v) / counts.sum()) + self_normalized(
            float(counts @ correction), float(counts @ terms.weight), counts, "SNDR"
        )


@dataclass(frozen=True)
class SwitchDoublyRobust(BaseBanditEstimator):
    """Switch-DR: DR on rounds with a moderate weight, the direct method where ``w_i > tau``.

    ```text
    V_SwitchDR = (1/n) sum_i [ v(x_i) + 1{w_i <= tau} w_i (r_i - q(x_i, a_i)) ]
    ```

    This is the Open Bandit Pipeline's form; it needs only the logged propensity. ``tau = inf``
    is DR (unbiased as DR), ``tau = 0`` is DM; in between it is biased unless the model is right
    on the rounds it switches off, and its variance is bounded by ``tau``.

    Inputs: ``data`` a :class:`~recoworld.estimators.BanditLog` of ``n_rows`` rounds;
    ``action_dist`` ``(n_rows, n_actions)`` (or ``(n_rows, n_actions, len_list)``);
    ``estimated_rewards`` of the same shape, required.

    References: Wang, Agarwal & Dudik, "Optimal and Adaptive Off-policy Evaluation in Contextual
    Bandits", ICML 2017. Open Bandit Pipeline: ``obp.ope.SwitchDoublyRobust``.
    """

    tau: float = 1.0
    """Switching threshold on the importance weight (>= 0)."""
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
    """DR with optimistic shrinkage (DRos): DR with each weight shrunk towards zero.

    ```text
    V_DRos = (1/n) sum_i [ v(x_i) + w~_i (r_i - q(x_i, a_i)) ],   w~_i = lambda w_i / (w_i^2 + lambda)
    ```

    ``shrinkage`` is ``lambda``: ``inf`` is DR (unbiased as DR), ``0`` is DM; in between the
    estimate is biased, with the bias-variance trade-off that minimises a bound on the MSE.

    Inputs: ``data`` a :class:`~recoworld.estimators.BanditLog` of ``n_rows`` rounds;
    ``action_dist`` ``(n_rows, n_actions)`` (or ``(n_rows, n_actions, len_list)``);
    ``estimated_rewards`` of the same shape, required.

    References: Su, Dimakopoulou, Krishnamurthy & Dudik, "Doubly Robust Off-Policy Evaluation
    with Shrinkage", ICML 2020. Open Bandit Pipeline: ``obp.ope.DoublyRobustWithShrinkage``.
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
