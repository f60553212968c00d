"""Off-policy estimators for slates (ranked lists), each with the reward model it assumes.

Notation: slate ``s = (s_1, ..., s_L)`` in context ``x``, per-position rewards ``r_k``; the logging
policy ``mu`` draws position ``k`` from ``mu_k(.|x)`` independently of the others (a
:class:`recoworld.estimators.SlateLog`); the target ``pi`` is given by its marginals
``pi_k(a|x)`` and by its conditionals ``pi_k(a|x, s_1..s_{k-1})`` on the logged prefix
(:class:`SlateActionDist`). Weights: ``w_k = pi_k(s_k|x) / mu_k(s_k|x)`` (position-wise) and
``w_{1:k} = prod_{j<=k} pi_j(s_j|x, s_{<j}) / mu_j(s_j|x)`` (prefix).

===============================  ====================================  =========================
estimator                        estimate (mean over slates)           unbiased when
===============================  ====================================  =========================
standard IPS (Li et al., 2018)   ``w_{1:L} sum_k r_k``                  always (full support)
independent IPS (Li et al.)      ``sum_k w_k r_k``                      ``r_k`` depends on ``s_k``
                                                                        only
reward-interaction IPS           ``sum_k w_{1:k} r_k``                  cascade: ``r_k`` depends
(McInerney et al., 2020)                                                on ``s_1..s_k`` only
PseudoInverse (Swaminathan       ``(sum_k w_k - L + 1) sum_k r_k``      the slate reward is
et al., NeurIPS 2017)                                                   additive over positions
cascade-DR (Kiyohara et al.,     ``sum_k w_{1:k} (r_k - q_k(s_k))       cascade (any fixed ``q``)
WSDM 2022)                       + w_{1:k-1} sum_a pi_k(a) q_k(a)``
===============================  ====================================  =========================

PseudoInverse's general form is ``r theta_pi' Gamma_mu^+ 1_s``; the closed form above is that
expression when the logging policy fills positions independently (as every :class:`SlateLog`'s
does), checked against the explicit pseudo-inverse in the tests. ``q_k(a)`` in cascade-DR
estimates the expected reward from position ``k`` onward when ``a`` is put at ``k`` after the
logged prefix (and the target fills the rest); fit it on data the estimate does not use.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from recoworld.errors import EstimatorInputError
from recoworld.estimators.base import BaseEstimator, ConfidenceInterval, weighted_mean
from recoworld.estimators.feed_logs import SlateLog
from recoworld.estimators.logged_data import check_action_dist

__all__ = [
    "BaseSlateEstimator",
    "SlateActionDist",
    "SlateCascadeDoublyRobust",
    "SlateIndependentIPS",
    "SlatePseudoInverse",
    "SlateRewardInteractionIPS",
    "SlateStandardIPS",
    "SlateTerms",
]

_F = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SlateActionDist:
    """A target slate policy's probabilities on a log's contexts and logged prefixes.

    Build it with :meth:`independent` (positions drawn independently: conditionals equal the
    marginals) or :meth:`ranking` (a deterministic slate per context).
    """

    marginal: _F
    """``(n, K, L)``: ``P(candidate a at position k | x)``."""
    conditional: _F
    """``(n, L, K)``: ``P(candidate a at position k | x, the logged slate's first k positions)``."""

    def __post_init__(self) -> None:
        if self.marginal.ndim != 3 or self.conditional.shape != (
                self.marginal.shape[0], self.marginal.shape[2], self.marginal.shape[1]):
            raise EstimatorInputError(
                f"`marginal` must be (n, K, L) and `conditional` (n, L, K), got "
                f"{self.marginal.shape} and {self.conditional.shape}")
        n, k, _ = self.marginal.shape
        check_action_dist(self.marginal, n, k, name="marginal")
        check_action_dist(self.conditional.transpose(0, 2, 1), n, k, name="conditional")

    @classmethod
    def independent(cls, marginal: npt.ArrayLike) -> SlateActionDist:
        """A policy drawing each position independently from ``marginal[:, :, k]``."""
        m = np.ascontiguousarray(marginal, dtype=np.float64)
        if m.ndim != 3:
            raise EstimatorInputError(f"`marginal` must be (n, K, L), got shape {m.shape}")
        return cls(m, np.ascontiguousarray(m.transpose(0, 2, 1)))

    @classmethod
    def ranking(cls, slates: npt.ArrayLike, n_candidates: int) -> SlateActionDist:
        """A deterministic policy showing ``slates[i]`` (``(n, L)`` candidate indices) in context i."""
        s = np.asarray(slates, dtype=np.int64)
        if s.ndim != 2 or s.size == 0 or int(s.min()) < 0 or int(s.max()) >= n_candidates:
            raise EstimatorInputError(f"`slates` must be (n, L) indices in [0, {n_candidates}), "
                                      f"got shape {s.shape}")
        n, length = s.shape
        marginal = np.zeros((n, n_candidates, length))
        marginal[np.arange(n)[:, None], s, np.arange(length)[None, :]] = 1.0
        return cls(marginal, np.ascontiguousarray(marginal.transpose(0, 2, 1)))


@dataclass(frozen=True)
class SlateTerms:
    """Per-slate quantities, shape ``(n, L)``; the weights an estimator does not use are ``None``."""

    position_weight: _F | None
    """``w_k``."""
    prefix_weight: _F | None
    """``w_{1:k}``."""
    reward: _F
    """``r_k``."""
    q_logged: _F | None
    """``q_k(s_k)``; ``None`` without a model."""
    q_target: _F | None
    """``sum_a pi_k(a|x, s_{<k}) q_k(a)``; ``None`` without a model."""


def _gather(values: _F, index: npt.NDArray[np.int64]) -> _F:
    """``values.ravel()[index]`` (one flat gather is much faster than broadcast fancy indexing)."""
    return values.reshape(-1).take(index)  # type: ignore[no-any-return]


def _slate_terms(data: SlateLog, action_dist: SlateActionDist, q_hat: npt.ArrayLike | None,
                 need_model: bool, weights: str = "both") -> SlateTerms:
    if not isinstance(data, SlateLog):
        raise EstimatorInputError(f"`data` must be a SlateLog, got {type(data).__name__}")
    if not isinstance(action_dist, SlateActionDist):
        raise EstimatorInputError(f"`action_dist` must be a SlateActionDist (build one with "
                                  f"SlateActionDist.independent or .ranking), got "
                                  f"{type(action_dist).__name__}")
    n, k, length = data.n_slates, data.n_candidates, data.slate_size
    if action_dist.marginal.shape != (n, k, length):
        raise EstimatorInputError(f"`action_dist` must cover the log's (n, K, L) = ({n}, {k}, "
                                  f"{length}), got {action_dist.marginal.shape}")
    rows = np.arange(n, dtype=np.int64)[:, None]
    pos = np.arange(length, dtype=np.int64)[None, :]
    mu = data.pscore_item_position
    cond_index = (rows * length + pos) * k + data.slate  # into (n, L, K)
    pos_w = prefix_w = None
    if weights in ("position", "both"):
        pos_w = _gather(action_dist.marginal, (rows * k + data.slate) * length + pos) / mu
    if weights in ("prefix", "both"):
        prefix_w = np.cumprod(_gather(action_dist.conditional, cond_index) / mu,
                              axis=1).astype(np.float64)
    q_logged = q_target = None
    if q_hat is None:
        if need_model:
            raise EstimatorInputError("`q_hat` is required by this estimator (an (n, L, K) model "
                                      "of the reward from each position on), got None")
    else:
        q = np.ascontiguousarray(q_hat, dtype=np.float64)
        if q.shape != (n, length, k):
            raise EstimatorInputError(f"`q_hat` must have shape (n, L, K) = ({n}, {length}, {k}), "
                                      f"got {q.shape}")
        q_logged = _gather(q, cond_index)
        q_target = np.einsum("nlk,nlk->nl", action_dist.conditional, q)
        if not (np.all(np.isfinite(q_logged)) and np.all(np.isfinite(q_target))):
            raise EstimatorInputError("`q_hat` must be finite, got NaN or inf entries")
    return SlateTerms(pos_w, prefix_w, data.reward, q_logged, q_target)


class BaseSlateEstimator(BaseEstimator[SlateTerms]):
    """A slate estimator: settings only; the unit of the bootstrap is the slate."""

    estimator_name: ClassVar[str]
    """Short name used in tables."""
    requires_reward_model: ClassVar[bool] = False
    """Whether ``q_hat`` must be passed."""
    weights: ClassVar[str] = "prefix"
    """Which weights it reads: ``position`` (``w_k``) or ``prefix`` (``w_{1:k}``)."""

    @abstractmethod
    def _per_slate(self, terms: SlateTerms) -> _F:
        """Each slate's term, ``(n,)``."""

    def _value(self, terms: SlateTerms, counts: _F | None) -> float:
        return weighted_mean(self._per_slate(terms), counts)

    def estimate_policy_value(self, data: SlateLog, action_dist: SlateActionDist,
                              q_hat: npt.ArrayLike | None = None) -> float:
        """Estimate the target's expected slate reward (the sum over positions) per slate."""
        return self._value(_slate_terms(data, action_dist, q_hat, self.requires_reward_model,
                                        self.weights), None)

    def estimate_interval(self, data: SlateLog, action_dist: SlateActionDist,
                          q_hat: npt.ArrayLike | None = None, *, alpha: float = 0.05,
                          n_bootstrap: int = 200, seed: int = 0) -> ConfidenceInterval:
        """Point estimate and percentile-bootstrap interval (slates resampled)."""
        terms = _slate_terms(data, action_dist, q_hat, self.requires_reward_model, self.weights)
        return self._bootstrap(terms, data.n_slates, alpha=alpha, n_bootstrap=n_bootstrap,
                               seed=seed)


@dataclass(frozen=True)
class SlateStandardIPS(BaseSlateEstimator):
    """Standard (slate-level) IPS: the whole slate's weight times the slate reward.

    ```text
    V_SIPS = (1/n) sum_i w_{1:L,i} sum_k r_{k,i}
    ```

    Unbiased for any reward structure when the logging policy gives every slate the target can
    show a positive probability; its weight is a product over the ``L`` positions, so its
    variance grows exponentially with the slate length.

    Inputs: ``data`` a :class:`~recoworld.estimators.SlateLog` of ``n`` slates of length ``L``
    over ``K`` candidates; ``action_dist`` a :class:`SlateActionDist` of the target on the
    log's contexts (the conditionals on the logged prefix are read); no reward model.

    References: Li, Kim & Zitouni, "Offline Evaluation of Ranking Policies with Click Models",
    KDD 2018. Open Bandit Pipeline: ``obp.ope.SlateStandardIPS``.
    """

    estimator_name: ClassVar[str] = "sips"

    def _per_slate(self, terms: SlateTerms) -> _F:
        assert terms.prefix_weight is not None
        return terms.prefix_weight[:, -1] * terms.reward.sum(axis=1)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class SlateIndependentIPS(BaseSlateEstimator):
    """Independent IPS: each position's reward weighted by that position's own weight.

    ```text
    V_IIPS = (1/n) sum_i sum_k w_{k,i} r_{k,i}
    ```

    Unbiased when the reward at position ``k`` depends on the candidate shown there only (no
    interaction between positions) and the logging marginals cover the target's; biased when the
    user's response at ``k`` depends on what was shown above it (a cascade). Its weights are
    per position, so its variance does not grow with ``L`` as the standard IPS's does.

    Inputs: ``data`` a :class:`~recoworld.estimators.SlateLog` of ``n`` slates of length ``L``
    over ``K`` candidates; ``action_dist`` a :class:`SlateActionDist` of the target on the
    log's contexts (the marginals are read); no reward model.

    References: Li, Kim & Zitouni, KDD 2018. Open Bandit Pipeline:
    ``obp.ope.SlateIndependentIPS``.
    """

    estimator_name: ClassVar[str] = "iips"
    weights: ClassVar[str] = "position"

    def _per_slate(self, terms: SlateTerms) -> _F:
        assert terms.position_weight is not None
        return np.einsum("nl,nl->n", terms.position_weight, terms.reward)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class SlateRewardInteractionIPS(BaseSlateEstimator):
    """Reward-interaction IPS (RIPS): each position's reward weighted by its prefix's weight.

    ```text
    V_RIPS = (1/n) sum_i sum_k w_{1:k,i} r_{k,i}
    ```

    Unbiased under the cascade assumption (the reward at position ``k`` depends on the
    candidates at positions ``1 .. k`` only) with full support; between independent IPS and
    standard IPS in variance.

    Inputs: ``data`` a :class:`~recoworld.estimators.SlateLog` of ``n`` slates of length ``L``
    over ``K`` candidates; ``action_dist`` a :class:`SlateActionDist` of the target on the
    log's contexts (the conditionals on the logged prefix are read); no reward model.

    References: McInerney, Brost, Chandar, Mehrotra & Carterette, "Counterfactual Evaluation of
    Slate Recommendations with Sequential Reward Interactions", KDD 2020. Open Bandit Pipeline:
    ``obp.ope.SlateRewardInteractionIPS``.
    """

    estimator_name: ClassVar[str] = "rips"

    def _per_slate(self, terms: SlateTerms) -> _F:
        assert terms.prefix_weight is not None
        return np.einsum("nl,nl->n", terms.prefix_weight, terms.reward)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class SlatePseudoInverse(BaseSlateEstimator):
    """PseudoInverse (PI): the slate reward weighted by the sum of the position weights.

    ```text
    V_PI = (1/n) sum_i (sum_k w_{k,i} - L + 1) sum_k r_{k,i}
    ```

    Unbiased when the slate reward is additive over positions (``E[sum_k r_k | x, s] = sum_k
    phi_k(x, s_k)``) and the logging marginals cover the target's; biased when positions
    interact. The closed form is the general ``r theta_pi' Gamma_mu^+ 1_s`` when the logging
    policy fills positions independently (every :class:`SlateLog`'s does).

    Inputs: ``data`` a :class:`~recoworld.estimators.SlateLog` of ``n`` slates of length ``L``
    over ``K`` candidates; ``action_dist`` a :class:`SlateActionDist` of the target on the
    log's contexts (the marginals are read); no reward model.

    References: Swaminathan, Krishnamurthy, Agarwal, Dudík, Langford, Jose & Zitouni,
    "Off-policy evaluation for slate recommendation", NeurIPS 2017. Not in Open Bandit Pipeline
    0.5.7.
    """

    estimator_name: ClassVar[str] = "pi"
    weights: ClassVar[str] = "position"

    def _per_slate(self, terms: SlateTerms) -> _F:
        assert terms.position_weight is not None
        length = terms.position_weight.shape[1]
        return (terms.position_weight.sum(axis=1) - length + 1.0) * terms.reward.sum(axis=1)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class SlateCascadeDoublyRobust(BaseSlateEstimator):
    """Cascade doubly robust: RIPS with a reward model as a control variate.

    ```text
    V_CDR = (1/n) sum_i sum_k [ w_{1:k,i} (r_{k,i} - q_k(s_{k,i}))
                                + w_{1:k-1,i} sum_a pi_k(a | x_i, s_{<k,i}) q_k(a) ]
    ```

    Unbiased under the cascade assumption for any fixed ``q`` (fit it on data the estimate does
    not use); its variance falls as ``q`` approaches the expected reward from position ``k`` on.

    Inputs: ``data`` a :class:`~recoworld.estimators.SlateLog` of ``n`` slates of length ``L``
    over ``K`` candidates; ``action_dist`` a :class:`SlateActionDist` of the target on the
    log's contexts (the conditionals on the logged prefix are read); ``q_hat`` ``(n, L, K)``, the model's expected reward from position ``k`` onward
    with candidate ``a`` at ``k`` after the logged prefix.

    References: Kiyohara, Saito, Matsuhiro, Narita, Shimizu & Yamamoto, "Doubly Robust
    Off-Policy Evaluation for Ranking Policies under the Cascade Behavior Model", WSDM 2022. Open
    Bandit Pipeline: ``obp.ope.SlateCascadeDoublyRobust``.
    """

    estimator_name: ClassVar[str] = "cascade-dr"
    requires_reward_model: ClassVar[bool] = True

    def _per_slate(self, terms: SlateTerms) -> _F:
        assert terms.q_logged is not None and terms.q_target is not None
        assert terms.prefix_weight is not None
        w = terms.prefix_weight
        w_prev = np.hstack([np.ones((w.shape[0], 1)), w[:, :-1]])
        return (w * (terms.reward - terms.q_logged) + w_prev * terms.q_target).sum(axis=1)  # type: ignore[no-any-return]
