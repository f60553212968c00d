"""Estimators of a rating predictor's error under missing-not-at-random (MNAR) observation.

Setting (Schnabel et al., ICML 2016). ``U`` users rate ``I`` items; a predictor gives
``Rhat[u, i]`` for every cell, but the true rating ``R[u, i]`` is seen only where the observation
indicator ``O[u, i] = 1``, which happens with propensity ``P[u, i] = P(O[u, i] = 1)``. Users rate
what they like, so ``O`` depends on ``R`` and the average error over the observed cells is biased.
The estimand is the error over the whole matrix::

    E = (1 / (U * I)) sum_{u, i} e[u, i],     e = (Rhat - R)^2  (mse)  or  |Rhat - R|  (mae)

| estimator | formula | unbiased when |
|---|---|---|
| :func:`naive_error` | ``sum_{O=1} e / sum O`` | observation is missing completely at random |
| :func:`ips_error` | ``(1 / (U I)) sum_{O=1} e / P`` | the propensities are right and positive on every cell |
| :func:`snips_error` | ``sum_{O=1} e / P / sum_{O=1} 1 / P`` | never exactly (ratio); consistent as IPS |
| :func:`doubly_robust_error` | ``(1 / (U I)) sum_{u, i} [ ehat + O (e - ehat) / P ]`` | the propensities or the imputed errors ``ehat`` are right |

Inputs are dense ``(n_users, n_items)`` float matrices: ``ratings`` with 0 meaning unobserved,
``predictions``, ``propensities`` (in (0, 1] on the observed cells; other cells are never read)
and, for DR, ``imputed_error``. Propensity models: :func:`naive_bayes_propensity` (from a small
MCAR sample) and :func:`logistic_propensity` (user and item covariates, the model behind Coat's
shipped propensities). Every observed rating must lie on the rating scale (``rating_scale``,
default 1..5, as in Coat and Yahoo! R3), else :class:`~recoworld.errors.EstimatorInputError`
names the values outside it.

References: Schnabel, Swaminathan, Singh, Chandak & Joachims, "Recommendations as Treatments:
Debiasing Learning and Evaluation", ICML 2016; Wang, Zhang, Sun & Qi, "Doubly Robust Joint
Learning for Recommendation on Data Missing Not at Random", ICML 2019.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize

from recoworld._validate import require_range
from recoworld.errors import EstimatorInputError

__all__ = [
    "DEFAULT_RATING_SCALE",
    "ErrorMetric",
    "RatingErrorEstimates",
    "doubly_robust_error",
    "estimate_rating_error",
    "ips_error",
    "logistic_propensity",
    "naive_bayes_propensity",
    "naive_error",
    "snips_error",
]

_Array = npt.NDArray[np.float64]
ErrorMetric = Literal["mse", "mae"]
"""Per-cell error: squared (``mse``) or absolute (``mae``)."""
DEFAULT_RATING_SCALE: tuple[float, float] = (1.0, 5.0)
"""The rating scale of Coat and Yahoo! R3: observed ratings 1..5, 0 = missing."""


def _matrix(name: str, value: npt.ArrayLike, shape: tuple[int, ...] | None = None) -> _Array:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 2:
        raise EstimatorInputError(f"`{name}` must be a (n_users, n_items) matrix, got shape "
                                  f"{arr.shape}")
    if shape is not None and arr.shape != shape:
        raise EstimatorInputError(f"`{name}` must have the shape of `ratings` {shape}, got "
                                  f"{arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise EstimatorInputError(f"`{name}` must be finite, got NaN or inf entries")
    return arr


def _cell_error(predictions: _Array, ratings: _Array, metric: ErrorMetric) -> _Array:
    diff = predictions - ratings
    if metric == "mse":
        return diff * diff
    if metric == "mae":
        return np.abs(diff)
    raise EstimatorInputError(f"`metric` must be 'mse' or 'mae', got {metric!r}")


def _observed(ratings: _Array, rating_scale: tuple[float, float] | None = None) -> npt.NDArray[np.bool_]:
    obs: npt.NDArray[np.bool_] = np.asarray(ratings != 0, dtype=bool)
    if not np.any(obs):
        raise EstimatorInputError("`ratings` holds no observed (non-zero) cell")
    if rating_scale is not None:
        lo, hi = _scale(rating_scale)
        vals = ratings[obs]
        outside = vals[(vals < lo) | (vals > hi)]
        if outside.size:
            raise EstimatorInputError(
                f"`ratings` must lie on the rating scale [{lo:g}, {hi:g}] (0 = missing), got "
                f"{outside.size} observed values outside it, e.g. "
                f"{np.unique(outside)[:5].tolist()}; pass `rating_scale=` for another scale"
            )
    return obs


def _scale(rating_scale: tuple[float, float]) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in rating_scale)
    except (TypeError, ValueError):
        raise EstimatorInputError(
            f"`rating_scale` must be a (lowest, highest) pair of numbers, got {rating_scale!r}"
        ) from None
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
        raise EstimatorInputError(
            f"`rating_scale` must satisfy 0 < lowest < highest (0 marks a missing rating), got "
            f"{rating_scale!r}"
        )
    return lo, hi


def _observed_propensity(propensities: npt.ArrayLike, shape: tuple[int, ...],
                         obs: npt.NDArray[np.bool_]) -> _Array:
    p = _matrix("propensities", propensities, shape)[obs]
    lo, hi = float(p.min()), float(p.max())
    if lo <= 0.0 or hi > 1.0:
        raise EstimatorInputError(f"`propensities` must be in (0, 1] on observed cells, got "
                                  f"min={lo:g}, max={hi:g}")
    return p


def naive_error(predictions: npt.ArrayLike, ratings: npt.ArrayLike,
                metric: ErrorMetric = "mse",
                rating_scale: tuple[float, float] = DEFAULT_RATING_SCALE) -> float:
    """Naive estimate: the average error over the observed cells of ``ratings``.

    ```text
    E_naive = sum_{O=1} e / sum O
    ```

    Unbiased for the full-matrix error only when observation is missing completely at random
    (``P`` constant); under MNAR (users rate what they like) it is biased.

    Args:
        predictions: ``(n_users, n_items)`` predicted ratings.
        ratings: ``(n_users, n_items)`` observed ratings, 0 = unobserved.
        metric: ``"mse"`` or ``"mae"``.
        rating_scale: ``(low, high)``, the scale every observed rating must lie on.

    Returns:
        The estimate.

    """
    r = _matrix("ratings", ratings)
    pred = _matrix("predictions", predictions, r.shape)
    obs = _observed(r, rating_scale)
    return float(_cell_error(pred[obs], r[obs], metric).mean())


def ips_error(predictions: npt.ArrayLike, ratings: npt.ArrayLike, propensities: npt.ArrayLike,
              metric: ErrorMetric = "mse",
              rating_scale: tuple[float, float] = DEFAULT_RATING_SCALE) -> float:
    """Inverse-propensity (IPS) estimate of the error averaged over all ``U * I`` cells.

    ```text
    E_IPS = (1 / (U * I)) sum_{O=1} e / P
    ```

    Unbiased when ``P`` is the true observation propensity and positive on every cell; its
    variance grows with ``1 / P``.

    Args:
        predictions: ``(n_users, n_items)`` predicted ratings.
        ratings: ``(n_users, n_items)`` observed ratings, 0 = unobserved.
        propensities: ``(n_users, n_items)``, in (0, 1] on the observed cells.
        metric: ``"mse"`` or ``"mae"``.
        rating_scale: ``(low, high)``, the scale every observed rating must lie on.

    Returns:
        The estimate.

    """
    r = _matrix("ratings", ratings)
    pred = _matrix("predictions", predictions, r.shape)
    obs = _observed(r, rating_scale)
    p = _observed_propensity(propensities, r.shape, obs)
    return float(np.sum(_cell_error(pred[obs], r[obs], metric) / p) / r.size)


def snips_error(predictions: npt.ArrayLike, ratings: npt.ArrayLike, propensities: npt.ArrayLike,
                metric: ErrorMetric = "mse",
                rating_scale: tuple[float, float] = DEFAULT_RATING_SCALE) -> float:
    """Self-normalised inverse-propensity (SNIPS) estimate of the full-matrix error.

    ```text
    E_SNIPS = sum_{O=1} (e / P) / sum_{O=1} (1 / P)
    ```

    A ratio estimator: biased for a finite matrix, consistent when the propensities are right, and
    of lower variance than IPS (it is also right when the propensities are off by a constant
    factor).

    Args:
        predictions: ``(n_users, n_items)`` predicted ratings.
        ratings: ``(n_users, n_items)`` observed ratings, 0 = unobserved.
        propensities: ``(n_users, n_items)``, in (0, 1] on the observed cells.
        metric: ``"mse"`` or ``"mae"``.
        rating_scale: ``(low, high)``, the scale every observed rating must lie on.

    Returns:
        The estimate.

    """
    r = _matrix("ratings", ratings)
    pred = _matrix("predictions", predictions, r.shape)
    obs = _observed(r, rating_scale)
    p = _observed_propensity(propensities, r.shape, obs)
    return float(np.sum(_cell_error(pred[obs], r[obs], metric) / p) / np.sum(1.0 / p))


def doubly_robust_error(predictions: npt.ArrayLike, ratings: npt.ArrayLike,
                        propensities: npt.ArrayLike, imputed_error: npt.ArrayLike,
                        metric: ErrorMetric = "mse",
                        rating_scale: tuple[float, float] = DEFAULT_RATING_SCALE) -> float:
    """Doubly robust (DR) estimate: the imputed error everywhere, corrected on the observed cells.

    ```text
    E_DR = (1 / (U * I)) sum_{u, i} [ ehat + O (e - ehat) / P ]
    ```

    Unbiased when either the propensities are right or the imputed errors are
    (``ehat = e`` on every cell), so a good imputation model lowers the variance of IPS.

    Args:
        predictions: ``(n_users, n_items)`` predicted ratings.
        ratings: ``(n_users, n_items)`` observed ratings, 0 = unobserved.
        propensities: ``(n_users, n_items)``, in (0, 1] on the observed cells.
        imputed_error: ``(n_users, n_items)`` the imputed per-cell error ``ehat``.
        metric: ``"mse"`` or ``"mae"`` (the error that ``imputed_error`` imputes).
        rating_scale: ``(low, high)``, the scale every observed rating must lie on.

    Returns:
        The estimate.

    """
    r = _matrix("ratings", ratings)
    pred = _matrix("predictions", predictions, r.shape)
    imputed = _matrix("imputed_error", imputed_error, r.shape)
    obs = _observed(r, rating_scale)
    p = _observed_propensity(propensities, r.shape, obs)
    correction = (_cell_error(pred[obs], r[obs], metric) - imputed[obs]) / p
    return float((imputed.sum() + correction.sum()) / r.size)


@dataclass(frozen=True)
class RatingErrorEstimates:
    """All estimates of one predictor's error from one MNAR sample."""

    naive: float
    """Average over observed cells."""
    ips: float
    """Inverse-propensity estimate."""
    snips: float
    """Self-normalised inverse-propensity estimate."""
    doubly_robust: float | None
    """Doubly robust estimate (``None`` without an imputed error)."""


def estimate_rating_error(predictions: npt.ArrayLike, ratings: npt.ArrayLike,
                          propensities: npt.ArrayLike, metric: ErrorMetric = "mse",
                          imputed_error: npt.ArrayLike | None = None,
                          rating_scale: tuple[float, float] = DEFAULT_RATING_SCALE,
                          ) -> RatingErrorEstimates:
    """Naive, IPS, SNIPS (and DR with ``imputed_error``) estimates of one predictor's error.

    The arguments are those of the single estimators (every matrix ``(n_users, n_items)``).
    """
    dr = None if imputed_error is None else doubly_robust_error(
        predictions, ratings, propensities, imputed_error, metric, rating_scale)
    return RatingErrorEstimates(
        naive_error(predictions, ratings, metric, rating_scale),
        ips_error(predictions, ratings, propensities, metric, rating_scale),
        snips_error(predictions, ratings, propensities, metric, rating_scale),
        dr,
    )


def naive_bayes_propensity(ratings: npt.ArrayLike, mcar_ratings: npt.ArrayLike,
                           n_levels: int = 5) -> _Array:
    """Propensity ``P(O=1 | R=r)`` of every cell of ``ratings`` from its rating (0 elsewhere).

    ```text
    P(O=1 | R=r) = P(R=r | O=1) P(O=1) / P(R=r)
    ```

    ``P(R=r | O=1)`` and ``P(O=1)`` come from ``ratings`` (the MNAR sample), ``P(R=r)`` from
    ``mcar_ratings`` (a small randomly exposed sample), each with add-one smoothing over the
    ``n_levels`` rating values 1..n_levels. Right when observation depends on the rating value
    only (Schnabel et al., ICML 2016, section 5.2).

    Args:
        ratings: ``(n_users, n_items)`` MNAR ratings, 0 = unobserved.
        mcar_ratings: a randomly exposed sample, any ``(n, m)`` matrix, 0 = unobserved.
        n_levels: rating values 1..n_levels.

    Returns:
        ``(n_users, n_items)`` propensities on the observed cells, 0 elsewhere (never read by
        the estimators, which divide only on observed cells).

    """
    r = _matrix("ratings", ratings)
    mcar = _matrix("mcar_ratings", mcar_ratings)
    obs = _observed(r)
    levels = np.arange(1, n_levels + 1)
    for name, mat in (("ratings", r), ("mcar_ratings", mcar)):
        vals = mat[mat != 0]
        if not np.all(np.isin(vals, levels)):
            raise EstimatorInputError(f"`{name}` must hold ratings 1..{n_levels} (0 = missing), "
                                      f"got values {np.setdiff1d(vals, levels)[:5].tolist()}")
    mcar_vals = mcar[mcar != 0]
    if mcar_vals.size == 0:
        raise EstimatorInputError("`mcar_ratings` holds no observed cell; an MCAR sample is needed")
    counts_obs = np.array([(r[obs] == v).sum() for v in levels], dtype=np.float64) + 1.0
    counts_mcar = np.array([(mcar_vals == v).sum() for v in levels], dtype=np.float64) + 1.0
    p_r_given_o = counts_obs / counts_obs.sum()
    p_r = counts_mcar / counts_mcar.sum()
    p_o = obs.sum() / r.size
    per_level = np.clip(p_r_given_o * p_o / p_r, 1e-6, 1.0)
    out = np.zeros_like(r)
    out[obs] = per_level[r[obs].astype(np.int64) - 1]
    return out


def logistic_propensity(user_features: npt.ArrayLike, item_features: npt.ArrayLike,
                        observed: npt.ArrayLike, l2: float = 1.0) -> _Array:
    """Observation propensity from logistic regression on user x item covariates.

    ```text
    logit P(O[u, i] = 1) = x_u' W z_i + x_u' b + z_i' c + d
    ```

    over every (user, item) pair, with ``W`` the pairwise interactions (Schnabel et al.'s Coat
    model); ``l2`` penalises ``W``, ``b`` and ``c``. Fitted by L-BFGS on the exact full-matrix
    log-likelihood without materialising the ``U * I`` design matrix. Right when observation
    depends on the covariates only (no unobserved confounding by the rating itself).

    Args:
        user_features: ``(n_users, d_u)`` covariates ``x_u``.
        item_features: ``(n_items, d_i)`` covariates ``z_i``.
        observed: ``(n_users, n_items)``, non-zero where a rating was observed.
        l2: ridge penalty (>= 0).

    Returns:
        The ``(n_users, n_items)`` propensity matrix.

    """
    x = _matrix("user_features", user_features)
    z = _matrix("item_features", item_features)
    o = (_matrix("observed", observed, (x.shape[0], z.shape[0])) != 0).astype(np.float64)
    require_range("l2", l2, 0, error=EstimatorInputError)
    du, di = x.shape[1], z.shape[1]
    n_cells = o.size

    def unpack(theta: _Array) -> tuple[_Array, _Array, _Array, float]:
        w = theta[: du * di].reshape(du, di)
        b = theta[du * di: du * di + du]
        c = theta[du * di + du: du * di + du + di]
        return w, b, c, float(theta[-1])

    def objective(theta: _Array) -> tuple[float, _Array]:
        w, b, c, d = unpack(theta)
        logits = x @ w @ z.T + (x @ b)[:, None] + (z @ c)[None, :] + d
        # Mean negative log-likelihood: log(1 + e^s) - o * s, computed stably.
        nll = float(np.sum(np.logaddexp(0.0, logits) - o * logits)) / n_cells
        g = (1.0 / (1.0 + np.exp(-logits)) - o) / n_cells
        grad_w = x.T @ g @ z + l2 * w / n_cells
        grad_b = x.T @ g.sum(axis=1) + l2 * b / n_cells
        grad_c = z.T @ g.sum(axis=0) + l2 * c / n_cells
        penalty = 0.5 * l2 * (float(np.sum(w * w)) + float(b @ b) + float(c @ c)) / n_cells
        grad = np.concatenate([grad_w.ravel(), grad_b, grad_c, [float(g.sum())]])
        return nll + penalty, grad

    theta0 = np.zeros(du * di + du + di + 1)
    rate = float(np.clip(o.mean(), 1e-6, 1 - 1e-6))
    theta0[-1] = np.log(rate / (1.0 - rate))
    res = minimize(objective, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    w, b, c, d = unpack(res.x)
    logits = x @ w @ z.T + (x @ b)[:, None] + (z @ c)[None, :] + d
    return 1.0 / (1.0 + np.exp(-logits))  # type: ignore[no-any-return]
