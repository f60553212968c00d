"""Off-policy estimators for episodes: importance sampling and doubly robust for MDPs.

Setting and notation. A logging policy ``pi_b`` played episodes ``i = 1 .. n``; at step ``t`` of
episode ``i`` it took action ``a_t`` in state ``s_t`` with the logged probability
``pi_b(a_t | s_t)`` and received ``r_t``. The estimand is the target policy's expected
discounted return from the start distribution::

    V(pi_e) = E_{pi_e} [ sum_t gamma^t r_t ]

The per-step ratio, the cumulative weight and the return::

    rho_t = pi_e(a_t | s_t) / pi_b(a_t | s_t)      w_t = rho_0 * rho_1 * ... * rho_t   (w_{-1} = 1)
    G_i = sum_t gamma^t r_t

Episodes of different lengths are padded with ``rho = 1`` and ``r = 0``, which changes none of the
estimates. Inputs of ``estimate_policy_value(data, action_dist, estimated_q=None) -> float`` (and
of ``estimate_interval``, whose bootstrap resamples whole episodes):

| argument | type, shape | meaning |
|---|---|---|
| ``data`` | :class:`~recoworld.estimators.TrajectoryLog`, ``n_rows`` steps of ``n_episodes`` episodes | ``episode``, ``step``, ``action``, ``reward``, ``pscore = pi_b(a_t | s_t)``, ``done`` |
| ``action_dist`` | float ``(n_rows, n_actions)`` | ``pi_e(a | s_t)`` at every logged step; rows sum to 1 |
| ``estimated_q`` | float ``(n_rows, n_actions)`` | a Q-model of the *target* policy, ``q(s_t, a)``; required by DR |

Unbiasedness (for TIS, PDIS and DR) needs common support (``pi_b(a | s) > 0`` wherever
``pi_e(a | s) > 0``) and the true logged propensities; the weighted (self-normalised) variants
trade a bias that vanishes as ``n`` grows for a much lower variance.

References: Precup, Sutton & Singh, "Eligibility Traces for Off-Policy Policy Evaluation", ICML
2000 (trajectory-wise and per-decision IS and their weighted forms); Jiang & Li, "Doubly Robust
Off-policy Value Evaluation for Reinforcement Learning", ICML 2016; Thomas & Brunskill, ICML 2016;
Voloshin, Le, Jiang & Yue, "Empirical Study of Off-Policy Policy Evaluation for Reinforcement
Learning", NeurIPS 2021 Datasets and Benchmarks (the same definitions).
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
from recoworld.estimators.logged_data import TrajectoryLog, check_action_dist

__all__ = [
    "BaseSequentialEstimator",
    "PerDecisionImportanceSampling",
    "SequentialDoublyRobust",
    "TrajectoryTerms",
    "TrajectoryWiseImportanceSampling",
    "WeightedPerDecisionImportanceSampling",
    "WeightedTrajectoryWiseImportanceSampling",
]

_Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class TrajectoryTerms:
    """Episode-by-step matrices, shape ``(n_episodes, horizon)``, padded after each episode."""

    cum_weight: _Array
    """``w_t``, the product of the ratios up to and including step ``t``."""
    discounted_reward: _Array
    """``gamma^t r_t``."""
    discount: _Array
    """``gamma^t`` (zero on padding)."""
    q_logged: _Array | None
    """``q(s_t, a_t)``; ``None`` without a Q-model."""
    v_target: _Array | None
    """``v(s_t)``; ``None`` without a Q-model."""


def _trajectory_terms(data: TrajectoryLog, action_dist: npt.ArrayLike, gamma: float,
                      estimated_q: npt.ArrayLike | None, need_model: bool) -> TrajectoryTerms:
    if not isinstance(data, TrajectoryLog):
        raise EstimatorInputError(f"`data` must be a TrajectoryLog, got {type(data).__name__}")
    n, n_actions = data.n_rows, data.n_actions
    dist = check_action_dist(np.asarray(action_dist, dtype=np.float64), n, n_actions)
    if dist.ndim != 2:
        raise EstimatorInputError(f"`action_dist` must have shape (n_rows, n_actions) = "
                                  f"({n}, {n_actions}), got {dist.shape}")
    ep = data.column("episode").astype(np.int64)
    st = data.column("step").astype(np.int64)
    action = data.column("action").astype(np.int64)
    rows = np.arange(n)
    shape = (data.n_episodes, int(st.max()) + 1)
    ratio = np.ones(shape)
    ratio[ep, st] = dist[rows, action] / data.column("pscore").astype(np.float64)
    disc = np.zeros(shape)
    disc[ep, st] = gamma ** st.astype(np.float64)
    rew = np.zeros(shape)
    rew[ep, st] = data.column("reward").astype(np.float64)
    q_logged = v_target = None
    if estimated_q is None:
        if need_model:
            raise EstimatorInputError(
                "`estimated_q` is required by this estimator (a Q-model's q(s_t, a) at every "
                "row, shape (n_rows, n_actions)), got None")
    else:
        q = np.asarray(estimated_q, dtype=np.float64)
        if q.shape != dist.shape:
            raise EstimatorInputError(f"`estimated_q` must have shape {dist.shape}, got {q.shape}")
        q_logged = np.zeros(shape)
        q_logged[ep, st] = q[rows, action]
        v_target = np.zeros(shape)
        v_target[ep, st] = np.einsum("ij,ij->i", dist, q)
    cum_weight = np.cumprod(ratio, axis=1).astype(np.float64)
    return TrajectoryTerms(cum_weight, disc * rew, disc, q_logged, v_target)


class BaseSequentialEstimator(BaseEstimator[TrajectoryTerms]):
    """An episode-level off-policy estimator: settings only (the discount ``gamma``)."""

    estimator_name: ClassVar[str]
    """Short name used in tables."""
    requires_q_model: ClassVar[bool] = False
    """Whether ``estimated_q`` must be passed."""
    gamma: float

    def __post_init__(self) -> None:
        require_range("gamma", self.gamma, 0, 1, error=EstimatorInputError)

    @abstractmethod
    def _value(self, terms: TrajectoryTerms, counts: _Array | None) -> float:
        """Return the estimate with episode ``i`` counted ``counts[i]`` times."""

    def estimate_policy_value(self, data: TrajectoryLog, action_dist: npt.ArrayLike,
                              estimated_q: npt.ArrayLike | None = None) -> float:
        """Estimate the target policy's expected discounted return per episode.

        Args:
            data: the logged episodes (``n_rows`` steps).
            action_dist: ``pi_e(a | s_t)`` at every logged step, shape ``(n_rows, n_actions)``.
            estimated_q: a Q-model of the target policy, ``q(s_t, a)``, shape
                ``(n_rows, n_actions)`` (required by :class:`SequentialDoublyRobust`).

        Returns:
            The estimate of ``V(pi_e)``.

        Raises:
            EstimatorInputError: a shape, a distribution or a Q-model that does not fit the log.

        """
        return self._value(_trajectory_terms(data, action_dist, self.gamma, estimated_q,
                                             self.requires_q_model), None)

    def estimate_interval(self, data: TrajectoryLog, action_dist: npt.ArrayLike,
                          estimated_q: npt.ArrayLike | None = None, *, alpha: float = 0.05,
                          n_bootstrap: int = 200, seed: int = 0) -> ConfidenceInterval:
        """Point estimate and percentile-bootstrap interval (episodes resampled with replacement).

        Takes the arguments of :meth:`estimate_policy_value`, plus ``alpha`` (one minus the
        nominal coverage), ``n_bootstrap`` resamples and the ``seed`` of the resampling.
        """
        terms = _trajectory_terms(data, action_dist, self.gamma, estimated_q,
                                  self.requires_q_model)
        return self._bootstrap(terms, data.n_episodes, alpha=alpha, n_bootstrap=n_bootstrap,
                               seed=seed)


@dataclass(frozen=True)
class TrajectoryWiseImportanceSampling(BaseSequentialEstimator):
    """Trajectory-wise importance sampling (TIS): each return weighted by its whole trajectory.

    ```text
    V_TIS = (1/n) sum_i w_{T_i} G_i
    ```

    Unbiased under common support and true propensities; its variance grows exponentially with
    the horizon, since ``w_T`` is a product of ``T`` ratios.

    Inputs: ``data`` a :class:`~recoworld.estimators.TrajectoryLog` of ``n_rows`` steps;
    ``action_dist`` ``(n_rows, n_actions)``; no Q-model.

    References: Precup, Sutton & Singh, ICML 2000.
    """

    gamma: float = 1.0
    """Discount factor in [0, 1]."""
    estimator_name: ClassVar[str] = "tis"

    def _value(self, terms: TrajectoryTerms, counts: _Array | None) -> float:
        return weighted_mean(terms.cum_weight[:, -1] * terms.discounted_reward.sum(axis=1),
                             counts)


@dataclass(frozen=True)
class WeightedTrajectoryWiseImportanceSampling(BaseSequentialEstimator):
    """Weighted trajectory-wise importance sampling (WIS): TIS normalised by the weights.

    ```text
    V_WIS = sum_i w_{T_i} G_i / sum_i w_{T_i}
    ```

    Biased for finite ``n`` (the bias vanishes as ``n`` grows), consistent under common support;
    bounded by the range of the returns and of much lower variance than TIS.

    Inputs: ``data`` a :class:`~recoworld.estimators.TrajectoryLog` of ``n_rows`` steps;
    ``action_dist`` ``(n_rows, n_actions)``; no Q-model.

    References: Precup, Sutton & Singh, ICML 2000.

    Undefined when every trajectory has zero weight (no overlap):
    :class:`~recoworld.errors.EstimatorInputError`.
    """

    gamma: float = 1.0
    """Discount factor in [0, 1]."""
    estimator_name: ClassVar[str] = "wis"

    def _value(self, terms: TrajectoryTerms, counts: _Array | None) -> float:
        w = terms.cum_weight[:, -1]
        ret = terms.discounted_reward.sum(axis=1)
        c = np.ones_like(w) if counts is None else counts
        return self_normalized(float((c * w) @ ret), float(c @ w), counts, "weighted IS")


@dataclass(frozen=True)
class PerDecisionImportanceSampling(BaseSequentialEstimator):
    """Per-decision importance sampling (PDIS): each reward weighted by the ratios up to its step.

    ```text
    V_PDIS = (1/n) sum_i sum_t gamma^t w_t r_t
    ```

    Unbiased under common support and true propensities (a reward cannot depend on later
    actions), with lower variance than TIS.

    Inputs: ``data`` a :class:`~recoworld.estimators.TrajectoryLog` of ``n_rows`` steps;
    ``action_dist`` ``(n_rows, n_actions)``; no Q-model.

    References: Precup, Sutton & Singh, ICML 2000.
    """

    gamma: float = 1.0
    """Discount factor in [0, 1]."""
    estimator_name: ClassVar[str] = "pdis"

    def _value(self, terms: TrajectoryTerms, counts: _Array | None) -> float:
        return weighted_mean((terms.cum_weight * terms.discounted_reward).sum(axis=1), counts)


@dataclass(frozen=True)
class WeightedPerDecisionImportanceSampling(BaseSequentialEstimator):
    """Weighted per-decision importance sampling (WPDIS): each step normalised by its weights.

    ```text
    V_WPDIS = sum_t gamma^t ( sum_i w_t r_t / sum_i w_t )
    ```

    (a step where every episode's weight is zero adds nothing). Biased for finite ``n``,
    consistent under common support; usually the lowest-variance of the four IS estimators.

    Inputs: ``data`` a :class:`~recoworld.estimators.TrajectoryLog` of ``n_rows`` steps;
    ``action_dist`` ``(n_rows, n_actions)``; no Q-model.

    References: Precup, Sutton & Singh, ICML 2000.

    With no weight at any step (no overlap) the estimate is undefined:
    :class:`~recoworld.errors.EstimatorInputError`.
    """

    gamma: float = 1.0
    """Discount factor in [0, 1]."""
    estimator_name: ClassVar[str] = "wpdis"

    def _value(self, terms: TrajectoryTerms, counts: _Array | None) -> float:
        c = np.ones(terms.cum_weight.shape[0]) if counts is None else counts
        num = c @ (terms.cum_weight * terms.discounted_reward)
        den = c @ terms.cum_weight
        if not np.any(den > 0):  # no trajectory has weight at any step: no overlap at all
            return self_normalized(0.0, 0.0, counts, "weighted per-decision IS")
        # A later step where every trajectory has zero weight carries no information: it adds 0.
        return float(np.sum(np.divide(num, den, out=np.zeros_like(num), where=den > 0)))


@dataclass(frozen=True)
class SequentialDoublyRobust(BaseSequentialEstimator):
    """Doubly robust for MDPs (DR-MDP): per-decision IS with a Q-model as a control variate.

    ```text
    V_DR = (1/n) sum_i sum_t gamma^t [ w_t r_t - w_t q(s_t, a_t) + w_{t-1} v(s_t) ]
    v(s) = sum_a pi_e(a | s) q(s, a)
    ```

    Unbiased under common support and true propensities whatever the Q-model (as long as it is
    not fitted on the same episodes' rewards it corrects); the closer ``q`` is to the target's
    true ``Q^pi_e``, the lower the variance, down to zero for a deterministic MDP with an exact
    model. ``estimated_q`` comes from any model, e.g.
    :class:`~recoworld.estimators.FittedQEvaluation`.

    Inputs: ``data`` a :class:`~recoworld.estimators.TrajectoryLog` of ``n_rows`` steps;
    ``action_dist`` ``(n_rows, n_actions)``; ``estimated_q`` ``(n_rows, n_actions)``, required.

    References: Jiang & Li, "Doubly Robust Off-policy Value Evaluation for Reinforcement
    Learning", ICML 2016; Thomas & Brunskill, "Data-Efficient Off-Policy Policy Evaluation for
    Reinforcement Learning", ICML 2016.
    """

    gamma: float = 1.0
    """Discount factor in [0, 1]."""
    estimator_name: ClassVar[str] = "dr-mdp"
    requires_q_model: ClassVar[bool] = True

    def _value(self, terms: TrajectoryTerms, counts: _Array | None) -> float:
        assert terms.q_logged is not None and terms.v_target is not None
        w = terms.cum_weight
        w_prev = np.hstack([np.ones((w.shape[0], 1)), w[:, :-1]])
        per_step = (w * terms.discounted_reward
                    + terms.discount * (w_prev * terms.v_target - w * terms.q_logged))
        return weighted_mean(per_step.sum(axis=1), counts)
