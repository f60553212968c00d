"""What every off-policy estimator shares: the bootstrap confidence interval, written once.

The interval is the percentile bootstrap (Efron, 1979; Efron & Tibshirani, "An Introduction to the
Bootstrap", 1993): resample the independent units (rounds, or episodes) with replacement
``n_bootstrap`` times, recompute the estimate, and take the ``alpha / 2`` and ``1 - alpha / 2``
quantiles. Its coverage is approximate (exact only asymptotically), and poor when a few huge
importance weights dominate the estimate.

An estimator turns the logged data into per-unit *terms* (one unit is a logged round for
bandit estimators, an episode for sequential ones) and defines ``_value(terms, counts)``: its
estimate when unit ``i`` is counted ``counts[i]`` times. The plain estimate uses ``counts=None``
(every unit once); the non-parametric bootstrap draws the counts of a resample with
replacement. Writing each estimate as a function of the counts makes the bootstrap exact also for
self-normalised estimators (their denominator is resampled with the numerator), and lets it run
without copying the data.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from recoworld._validate import require_range
from recoworld.errors import EstimatorInputError

__all__ = ["BaseEstimator", "ConfidenceInterval", "self_normalized", "weighted_mean"]

TermsT = TypeVar("TermsT")


@dataclass(frozen=True)
class ConfidenceInterval:
    """A point estimate with a percentile-bootstrap interval."""

    mean: float
    """The estimate on the data as logged."""
    lower: float
    """Lower bound: the ``alpha / 2`` quantile of the bootstrap estimates."""
    upper: float
    """Upper bound: the ``1 - alpha / 2`` quantile of the bootstrap estimates."""
    alpha: float
    """One minus the nominal coverage."""


def weighted_mean(values: npt.NDArray[np.float64], counts: npt.NDArray[np.float64] | None) -> float:
    """Mean of ``values`` with unit ``i`` counted ``counts[i]`` times (plain mean if ``None``)."""
    if counts is None:
        return float(values.mean(axis=0).sum()) if values.ndim > 1 else float(values.mean())
    return float(counts @ values / counts.sum()) if values.ndim == 1 else float(
        (counts @ values).sum() / counts.sum()
    )


def self_normalized(
    numerator: float, denominator: float, counts: npt.NDArray[np.float64] | None, estimator: str
) -> float:
    """``numerator / denominator`` of a self-normalised estimator (SNIPS, SNDR, WIS, ...).

    The denominator is the total importance weight. It is 0 exactly when the evaluated policy puts
    no probability on any logged action: there is no overlap between the two policies and the
    estimate is undefined. On the data as logged (``counts is None``) that raises
    :class:`EstimatorInputError`; in a bootstrap resample it gives NaN, which the bootstrap leaves
    out (:meth:`BaseEstimator._bootstrap`).
    """
    if denominator > 0.0:
        return float(numerator / denominator)
    if counts is None:
        raise EstimatorInputError(
            f"{estimator} is undefined without overlap: the evaluated policy puts zero probability "
            "on every logged action, so the total importance weight is 0; log with a policy "
            "that covers the evaluated one, or use an estimator with a reward model (DM, DR)"
        )
    return float("nan")


class BaseEstimator(ABC, Generic[TermsT]):
    """Base of every policy-value estimator: the value as a function of unit counts, and its CI."""

    @abstractmethod
    def _value(self, terms: TermsT, counts: npt.NDArray[np.float64] | None) -> float:
        """Return the estimate with unit ``i`` counted ``counts[i]`` times (``None``: once each)."""

    def _bootstrap(
        self, terms: TermsT, n_units: int, *, alpha: float, n_bootstrap: int, seed: int
    ) -> ConfidenceInterval:
        """Percentile-bootstrap interval over the ``n_units`` independent units of ``terms``.

        Resamples where a self-normalised estimate is undefined (no unit with positive weight)
        are left out of the quantiles.
        """
        require_range("alpha", alpha, 0, 1, low_open=True, high_open=True, error=EstimatorInputError)
        require_range("n_bootstrap", n_bootstrap, 2, error=EstimatorInputError)
        rng = np.random.default_rng(seed)
        boot = np.empty(n_bootstrap)
        for b in range(n_bootstrap):
            # Resampling n units with replacement = multinomial counts; bincount of uniform draws
            # is the same law and O(n).
            counts = np.bincount(rng.integers(0, n_units, n_units), minlength=n_units)
            boot[b] = self._value(terms, counts.astype(np.float64))
        point = self._value(terms, None)  # raises where the estimate itself is undefined
        defined = boot[np.isfinite(boot)]  # a self-normalised resample may miss every overlap
        if defined.size < 2:
            raise EstimatorInputError(
                f"only {defined.size} of {n_bootstrap} bootstrap resamples overlap the evaluated "
                "policy, too few for an interval; log more data where the policies overlap"
            )
        lower, upper = np.quantile(defined, [alpha / 2.0, 1.0 - alpha / 2.0])
        return ConfidenceInterval(point, float(lower), float(upper), alpha)
