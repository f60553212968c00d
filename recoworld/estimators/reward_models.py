"""Pluggable reward models for the direct method and the doubly robust family.

A bandit reward model is anything with ``fit_predict(data, seed) -> q`` where ``q[i, a]`` estimates
``E[r | x_i, a]`` for every logged context and every action (:class:`RewardModel`), shape
``(n_rows, n_actions)``. Its output is passed to an estimator as ``estimated_rewards``. For
sequences, :class:`FittedQEvaluation` estimates ``Q^pi(s_t, a)`` of the target policy at every
logged step, shape ``(n_rows, n_actions)``, for
:class:`~recoworld.estimators.ope_sequential.SequentialDoublyRobust`.

DM is only as good as its model; DR stays unbiased with a wrong model as long as the model's
prediction for a row does not use that row's reward, which cross-fitting ensures.

References: Chernozhukov et al., "Double/Debiased Machine Learning for Treatment and Structural
Parameters", Econometrics Journal 2018 (cross-fitting); Le, Voloshin & Yue, "Batch Policy
Learning under Constraints", ICML 2019 (fitted Q evaluation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from recoworld._validate import require_range
from recoworld.errors import EstimatorInputError
from recoworld.estimators.logged_data import BanditLog, TrajectoryLog, check_action_dist

__all__ = ["FittedQEvaluation", "LinearRewardModel", "RewardModel"]

_Array = npt.NDArray[np.float64]


@runtime_checkable
class RewardModel(Protocol):
    """What DM and DR need: estimates of the mean reward of every action at every logged row."""

    def fit_predict(self, data: BanditLog, seed: int = 0) -> _Array:
        """Fit on ``data`` and return ``q`` of shape ``(n_rows, n_actions)``."""
        ...


def _design(features: _Array | None, n_rows: int) -> _Array:
    ones = np.ones((n_rows, 1))
    return ones if features is None else np.hstack([features, ones])


def _ridge_inverses(x: _Array, action: npt.NDArray[np.int64], n_actions: int,
                    l2: float) -> _Array:
    """``(X_a' X_a + l2 I)^-1`` for every action ``a``, shape ``(n_actions, d, d)``."""
    d = x.shape[1]
    grams = np.empty((n_actions, d, d))
    for a in range(n_actions):  # a loop over actions (few), each a BLAS product over its rows
        xa = x[action == a]
        grams[a] = xa.T @ xa
    inverses: _Array = np.linalg.inv(grams + l2 * np.eye(d)[None]).astype(np.float64)
    return inverses


def _ridge_solve(inverses: _Array, x: _Array, action: npt.NDArray[np.int64],
                 target: _Array) -> _Array:
    """Per-action ridge coefficients ``(n_actions, d)`` given the precomputed inverses."""
    # X_a' y for every action by bincount over the (few) feature columns: single-threaded and
    # cheap, where a BLAS product of this size stalls on a busy machine's thread pool.
    xy = x * target[:, None]
    rhs = np.stack([np.bincount(action, weights=col, minlength=inverses.shape[0])
                    for col in xy.T], axis=1)
    coef: _Array = np.einsum("aij,aj->ai", inverses, rhs)
    return coef


def _predict(x: _Array, coef: _Array) -> _Array:
    q: _Array = np.einsum("nd,ad->na", x, coef)
    return q


def _ridge_per_action(x: _Array, action: npt.NDArray[np.int64], target: _Array, n_actions: int,
                      l2: float) -> _Array:
    """Per-action ridge coefficients, shape ``(n_actions, d)``; the intercept is penalised too."""
    return _ridge_solve(_ridge_inverses(x, action, n_actions, l2), x, action, target)


@dataclass(frozen=True)
class LinearRewardModel:
    """Ridge regression of the reward on ``[context, 1]``, one coefficient vector per action.

    ```text
    beta_a = (X_a' X_a + l2 I)^-1 X_a' r_a,     q(x, a) = [x, 1] . beta_a
    ```

    with ``X_a`` the design rows logged with action ``a`` (the intercept is penalised too). With
    ``n_folds > 1`` the predictions are cross-fitted: each row is predicted by a model that did
    not see it (Chernozhukov et al., 2018), which keeps DR's correction term unbiased. ``q`` is
    right (and DM unbiased) only if the reward is linear in the context for every action.
    """

    l2: float = 1.0
    """Ridge penalty (> 0)."""
    n_folds: int = 1
    """Number of cross-fitting folds; 1 fits and predicts on all rows."""

    def __post_init__(self) -> None:
        require_range("l2", self.l2, 0, low_open=True, error=EstimatorInputError)
        require_range("n_folds", self.n_folds, 1, error=EstimatorInputError)

    def fit_predict(self, data: BanditLog, seed: int = 0) -> _Array:
        """Fit on ``data`` (its ``context``, or an intercept only) and return ``q``.

        Args:
            data: the logged rounds.
            seed: seeds the fold assignment of cross-fitting.

        Returns:
            ``q`` of shape ``(n_rows, n_actions)``.

        """
        x = _design(data.context, data.n_rows)
        if self.n_folds == 1:
            coef = _ridge_per_action(x, data.action, data.reward, data.n_actions, self.l2)
            return _predict(x, coef)
        if data.n_rows < self.n_folds:
            raise EstimatorInputError(f"`n_folds`={self.n_folds} exceeds the {data.n_rows} rows")
        fold = np.random.default_rng(seed).permutation(data.n_rows) % self.n_folds
        q = np.empty((data.n_rows, data.n_actions))
        for k in range(self.n_folds):
            train = fold != k
            coef = _ridge_per_action(x[train], data.action[train], data.reward[train],
                                     data.n_actions, self.l2)
            q[~train] = _predict(x[~train], coef)
        return q


@dataclass(frozen=True)
class FittedQEvaluation:
    """Linear fitted-Q evaluation of a target policy on a :class:`TrajectoryLog`.

    ```text
    Q_{k+1} = ridge fit of  r_t + gamma * (1 - done_t) * V_k(s_{t+1})  on the logged (s_t, a_t)
    V_k(s)  = sum_a pi_e(a | s) Q_k(s, a),      Q_0 = 0
    ```

    Features are ``[step / max_step, observation, 1]`` with one coefficient vector per action.
    With ``n_iterations`` ``None`` it runs as many rounds as the longest episode, the horizon of a
    finite problem. Exact for a target whose ``Q`` is linear in these features; otherwise an
    approximation whose error DR-MDP's correction removes in expectation.
    """

    gamma: float = 1.0
    """Discount factor in [0, 1]."""
    l2: float = 1.0
    """Ridge penalty (> 0)."""
    n_iterations: int | None = None
    """Number of regression rounds; ``None`` means the longest episode's length."""

    def __post_init__(self) -> None:
        require_range("gamma", self.gamma, 0, 1, error=EstimatorInputError)
        require_range("l2", self.l2, 0, low_open=True, error=EstimatorInputError)

    def fit_predict(self, data: TrajectoryLog, action_dist: npt.ArrayLike) -> _Array:
        """Return ``Q(s_t, a)`` for every logged row and action.

        Args:
            data: the logged episodes (``n_rows`` steps).
            action_dist: ``pi_e(a | s_t)`` at every logged step, shape ``(n_rows, n_actions)``.

        Returns:
            ``Q`` of shape ``(n_rows, n_actions)``.

        """
        dist = check_action_dist(np.asarray(action_dist, dtype=np.float64), data.n_rows,
                                 data.n_actions)
        step = data.column("step").astype(np.float64)
        obs = data.column("observation") if "observation" in data.frame.columns else None
        feats = np.hstack([step[:, None] / max(float(step.max()), 1.0)]
                          + ([] if obs is None else [obs]))
        x = _design(feats, data.n_rows)
        action = data.column("action").astype(np.int64)
        reward = data.column("reward").astype(np.float64)
        done = data.column("done").astype(bool)
        n_iter = int(step.max()) + 1 if self.n_iterations is None else self.n_iterations
        q = np.zeros((data.n_rows, data.n_actions))
        inverses = _ridge_inverses(x, action, data.n_actions, self.l2)  # fixed design: once
        for _ in range(n_iter):
            v = np.einsum("ij,ij->i", dist, q)
            v_next = np.append(v[1:], 0.0)
            target = reward + self.gamma * np.where(done, 0.0, v_next)
            q = _predict(x, _ridge_solve(inverses, x, action, target))
        return q
