"""Marginalised IPS over action embeddings (MIPS), for large action spaces.

Saito & Joachims, "Off-Policy Evaluation for Large Action Spaces via Embeddings", ICML 2022. Each
action ``a`` in context ``x`` has a discrete embedding ``e(x, a)`` (a category, a cluster). MIPS
weights the logged reward by the ratio of the *embedding's* probabilities instead of the action's::

    w(x, e) = sum_{a: e(x,a) = e} pi_e(a|x) / sum_{a: e(x,a) = e} pi_0(a|x),
    V_MIPS = mean_i w(x_i, e(x_i, a_i)) r_i.

It is unbiased when the reward depends on the action only through its embedding (no direct
effect: ``E[r | x, a] = q(x, e(x, a))``) and every embedding the target policy can reach has
logging probability above zero; the weights are bounded by the embeddings' probabilities, not
the actions', so the variance is far lower than IPS's when many actions share an embedding. When
actions with one embedding differ in reward, it is biased by that difference.

Embeddings here are deterministic given the action (the common case: an item's category); a
context-dependent one (the category of the candidate in slot ``a`` of this context's pool) is an
``(n_rows, n_actions)`` array, a global one an ``(n_actions,)`` array.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from recoworld.errors import EstimatorInputError
from recoworld.estimators.base import BaseEstimator, ConfidenceInterval, weighted_mean
from recoworld.estimators.logged_data import BanditLog

__all__ = ["EmbeddingTerms", "MarginalizedInverseProbabilityWeighting"]

_F = npt.NDArray[np.float64]
_BLOCK = 8192
_ATOL = 1e-6


@dataclass(frozen=True)
class EmbeddingTerms:
    """Per-round marginal weight and reward."""

    weight: _F
    """``w(x_i, e_i)``."""
    reward: _F
    """Logged reward."""


def _embedding_terms(data: BanditLog, action_dist: npt.ArrayLike, logging_dist: npt.ArrayLike,
                     action_embedding: npt.ArrayLike) -> EmbeddingTerms:
    if not isinstance(data, BanditLog):
        raise EstimatorInputError(f"`data` must be a BanditLog, got {type(data).__name__}")
    n, n_actions = data.n_rows, data.n_actions
    pe = np.ascontiguousarray(action_dist, dtype=np.float64)
    pb = np.ascontiguousarray(logging_dist, dtype=np.float64)
    for name, arr in (("action_dist", pe), ("logging_dist", pb)):
        if arr.shape != (n, n_actions):
            raise EstimatorInputError(f"`{name}` must have shape (n_rows, n_actions) = ({n}, "
                                      f"{n_actions}), got {arr.shape}")
    emb = np.asarray(action_embedding)
    if emb.shape not in ((n_actions,), (n, n_actions)) or not np.issubdtype(emb.dtype, np.integer):
        raise EstimatorInputError(f"`action_embedding` must be integers of shape ({n_actions},) "
                                  f"or ({n}, {n_actions}), got {emb.dtype} {emb.shape}")
    action = data.action
    rows = np.arange(n)
    logged_emb = emb[action] if emb.ndim == 1 else emb[rows, action]
    num = np.empty(n)
    den = np.empty(n)
    sums = [np.inf, -np.inf, np.inf, -np.inf]
    lowest = np.inf
    for start in range(0, n, _BLOCK):  # one cache-friendly pass over both distributions
        stop = min(start + _BLOCK, n)
        e_blk = emb if emb.ndim == 1 else emb[start:stop]
        mask = e_blk == logged_emb[start:stop, None]
        pe_blk, pb_blk = pe[start:stop], pb[start:stop]
        num[start:stop] = np.einsum("ij,ij->i", pe_blk, mask)
        den[start:stop] = np.einsum("ij,ij->i", pb_blk, mask)
        se, sb = np.einsum("ij->i", pe_blk), np.einsum("ij->i", pb_blk)
        sums = [min(sums[0], se.min()), max(sums[1], se.max()),
                min(sums[2], sb.min()), max(sums[3], sb.max())]
        lowest = min(lowest, pe_blk.min(), pb_blk.min())
    for name, lo, hi in (("action_dist", sums[0], sums[1]), ("logging_dist", sums[2], sums[3])):
        if not (abs(lo - 1.0) <= _ATOL and abs(hi - 1.0) <= _ATOL):
            raise EstimatorInputError(f"`{name}` must sum to one over actions, got sums in "
                                      f"[{lo:g}, {hi:g}]")
    if lowest < 0.0:
        raise EstimatorInputError(f"`action_dist` and `logging_dist` must be non-negative, got "
                                  f"min={lowest:g}")
    logged = pb[rows, action]
    if not np.allclose(logged, data.pscore, rtol=1e-9, atol=1e-12):
        worst = int(np.argmax(np.abs(logged - data.pscore)))
        raise EstimatorInputError(
            f"`logging_dist` must be the logging policy's distribution: at row {worst} it gives "
            f"the logged action {logged[worst]:g}, the log's pscore is {data.pscore[worst]:g}")
    return EmbeddingTerms(num / den, data.reward)


@dataclass(frozen=True)
class MarginalizedInverseProbabilityWeighting(BaseEstimator[EmbeddingTerms]):
    """Marginalised IPS (MIPS): reweight each reward by its action embedding's probability ratio.

    ```text
    w(x, e) = sum_{a: e(x,a) = e} pi_e(a|x) / sum_{a: e(x,a) = e} pi_0(a|x)
    V_MIPS  = (1/n) sum_i w(x_i, e(x_i, a_i)) r_i
    ```

    Unbiased when the reward depends on the action only through its embedding (no direct
    effect) and every embedding the target reaches has positive logging probability; biased by
    the reward differences between actions of one embedding otherwise. ``self_normalized=True``
    divides by ``mean(w)`` (SNMIPS): biased for finite ``n``, consistent, lower variance.

    Inputs: ``data`` a :class:`~recoworld.estimators.BanditLog` of ``n_rows`` rounds;
    ``action_dist`` and ``logging_dist`` ``(n_rows, n_actions)``; ``action_embedding``
    ``(n_actions,)`` or ``(n_rows, n_actions)`` integer categories; no reward model.

    References: Saito & Joachims, "Off-Policy Evaluation for Large Action Spaces via
    Embeddings", ICML 2022. Open Bandit Pipeline:
    ``obp.ope.MarginalizedInverseProbabilityWeighting`` (which also takes stochastic embeddings
    ``p(e|x, a)``; here they are deterministic).
    """

    self_normalized: bool = False
    """Divide by the mean weight."""
    estimator_name: ClassVar[str] = "mips"

    def _value(self, terms: EmbeddingTerms, counts: _F | None) -> float:
        value = weighted_mean(terms.weight * terms.reward, counts)
        if self.self_normalized:
            value /= weighted_mean(terms.weight, counts)
        return value

    def estimate_policy_value(self, data: BanditLog, action_dist: npt.ArrayLike,
                              logging_dist: npt.ArrayLike,
                              action_embedding: npt.ArrayLike) -> float:
        """Estimate the target policy's expected reward per round.

        ``action_dist`` / ``logging_dist``: the target's and the logging policy's distributions
        at every logged context, ``(n_rows, n_actions)`` (the logging one must give the log's
        ``pscore`` at the logged action); ``action_embedding``: each action's discrete
        embedding, ``(n_actions,)`` or per context ``(n_rows, n_actions)``.
        """
        return self._value(_embedding_terms(data, action_dist, logging_dist, action_embedding),
                           None)

    def estimate_interval(self, data: BanditLog, action_dist: npt.ArrayLike,
                          logging_dist: npt.ArrayLike, action_embedding: npt.ArrayLike, *,
                          alpha: float = 0.05, n_bootstrap: int = 200,
                          seed: int = 0) -> ConfidenceInterval:
        """Point estimate and percentile-bootstrap interval (rounds resampled)."""
        terms = _embedding_terms(data, action_dist, logging_dist, action_embedding)
        return self._bootstrap(terms, data.n_rows, alpha=alpha, n_bootstrap=n_bootstrap,
                               seed=seed)
