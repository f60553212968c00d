"""Log any RecoWorld environment with a stochastic policy, and measure policies' true values.

A policy here is anything with ``action_dist(obs) -> probabilities over a flat action set``
(every RecoWorld agent has it). The logged action is drawn from that distribution with the
generator seeded by ``seed``, so the logged propensity is exactly the probability used: the
condition under which the importance-sampling estimators are unbiased holds by construction
(common support is the logging policy's to give: a policy with zeros in its distribution cannot
evaluate a target that takes those actions). If the policy also has ``to_action(flat, obs)`` (the
conversational agents) the flat index is turned into the environment's action with it; otherwise
the flat index is the action. A policy may also be given as a factory ``env -> policy`` (for
agents that need the environment's world).

:func:`true_policy_value` is the ground truth of off-policy evaluation, which a simulator (and no
logged data set) can give: the policy's mean return over many on-policy episodes, with its
standard error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import gymnasium
import numpy as np
import numpy.typing as npt

import recoworld  # noqa: F401  (registers the environment ids)
from recoworld._validate import require_range
from recoworld.errors import ConfigError, EstimatorInputError
from recoworld.estimators.logged_data import TrajectoryLog

__all__ = [
    "MixturePolicy",
    "Policy",
    "PolicyLike",
    "PolicyValue",
    "collect",
    "true_policy_value",
]

_Array = npt.NDArray[np.float64]


@runtime_checkable
class Policy(Protocol):
    """What the collector needs of a policy."""

    def action_dist(self, obs: Any) -> _Array:
        """Probabilities over the flat action set at ``obs``."""
        ...


PolicyLike = Policy | Callable[[gymnasium.Env[Any, Any]], Policy]
"""A policy, or a factory building one from the (unwrapped) environment."""


@dataclass(frozen=True)
class MixturePolicy:
    """A mixture of policies: e.g. epsilon-greedy from two agents.

    ```text
    pi(a | obs) = sum_k weights[k] * pi_k(a | obs)
    ```

    ``to_action`` is delegated to the first component that has one. Mixing a target policy with a
    uniform one is the usual way to give a logging policy common support with it.
    """

    policies: Sequence[Policy]
    """Component policies (same flat action set)."""
    weights: Sequence[float]
    """Mixture weights, non-negative, summing to one."""

    def __post_init__(self) -> None:
        w = np.asarray(self.weights, dtype=np.float64)
        if len(self.policies) == 0 or w.shape != (len(self.policies),):
            raise ConfigError(f"`weights` must have one entry per policy ({len(self.policies)}), "
                              f"got {list(self.weights)}")
        if np.any(w < 0) or abs(float(w.sum()) - 1.0) > 1e-9:
            raise ConfigError(f"`weights` must be non-negative and sum to one, got "
                              f"{list(self.weights)}")

    def action_dist(self, obs: Any) -> _Array:
        """The weighted average of the components' distributions."""
        out = np.zeros(0)
        for pol, w in zip(self.policies, self.weights, strict=True):
            p = np.asarray(pol.action_dist(obs), dtype=np.float64) * w
            out = p if out.size == 0 else out + p
        return out

    def to_action(self, flat: int, obs: Any) -> Any:
        """The environment action for flat index ``flat``."""
        for pol in self.policies:
            to_action = getattr(pol, "to_action", None)
            if to_action is not None:
                return to_action(flat, obs)
        return flat


@dataclass(frozen=True)
class PolicyValue:
    """A policy's value measured by on-policy simulation."""

    mean: float
    """Mean discounted return per episode."""
    std_error: float
    """Standard error of :attr:`mean` (sample std / sqrt(episodes))."""
    episodes: int
    """Number of episodes simulated."""


def _resolve(policy: PolicyLike, env: gymnasium.Env[Any, Any]) -> Policy:
    if hasattr(policy, "action_dist"):
        return policy  # type: ignore[return-value]
    if callable(policy):
        built = policy(env.unwrapped)
        if not hasattr(built, "action_dist"):
            raise ConfigError(f"the policy factory returned {type(built).__name__}, which has "
                              "no action_dist(obs)")
        return built
    raise ConfigError(f"`policy` must have action_dist(obs) or build such a policy from the env, "
                      f"got {type(policy).__name__}")


def _dist(policy: Policy, obs: Any, name: str, n_actions: int | None) -> _Array:
    p = np.asarray(policy.action_dist(obs), dtype=np.float64)
    if p.ndim != 1 or (n_actions is not None and p.size != n_actions):
        raise EstimatorInputError(f"{name}.action_dist(obs) must return a vector of "
                                  f"{n_actions or 'n_actions'} probabilities, got shape {p.shape}")
    if not (abs(float(p.sum()) - 1.0) <= 1e-6 and float(p.min()) >= 0.0):
        raise EstimatorInputError(f"{name}.action_dist(obs) must sum to one and be non-negative, "
                                  f"got sum={float(p.sum()):g}, min={float(p.min()):g}")
    return p


def _draw(p: _Array, rng: np.random.Generator) -> int:
    return int(min(np.searchsorted(np.cumsum(p), rng.random() * p.sum(), side="right"),
                   p.size - 1))


def _env_action(policy: Policy, flat: int, obs: Any) -> Any:
    to_action = getattr(policy, "to_action", None)
    return to_action(flat, obs) if to_action is not None else flat


def _check_common(episodes: int, max_steps: int | None) -> None:
    require_range("episodes", episodes, 1)
    if max_steps is not None:
        require_range("max_steps", max_steps, 1)


def collect(
    env_id: str,
    policy: PolicyLike,
    episodes: int,
    seed: int,
    *,
    evaluation_policies: Mapping[str, PolicyLike] | None = None,
    observation_features: Callable[[Any], npt.ArrayLike] | None = None,
    max_steps: int | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
) -> TrajectoryLog:
    """Run ``episodes`` episodes of ``policy`` on ``env_id`` and log them with propensities.

    Args:
        env_id: A registered id, e.g. ``"recoworld/ShortVideo-v0"``.
        policy: The logging policy (or a factory ``env -> policy``).
        episodes: Number of episodes.
        seed: Seeds the environment's first reset and the action draws.
        evaluation_policies: Policies whose action distributions are recorded at every logged
            observation (``TrajectoryLog.evaluation_action_dist``) for off-policy estimation.
        observation_features: ``obs -> feature vector`` stored as the ``observation`` column
            (for reward / Q models); ``None`` stores none.
        max_steps: Cut every episode after this many steps (e.g. 1 for a contextual bandit on
            the first decision); the last logged row is marked done.
        env_kwargs: Keyword arguments for ``gymnasium.make``.

    Returns:
        One row per step: ``episode``, ``step``, ``action`` (flat index), ``reward``, ``pscore``
        (the probability the action was drawn with), ``done``, the ``observation`` features and
        the evaluation policies' distributions.

    """
    _check_common(episodes, max_steps)
    env = gymnasium.make(env_id, **dict(env_kwargs or {}))
    rng = np.random.default_rng(seed)
    logger = _resolve(policy, env)
    evals = {name: _resolve(p, env) for name, p in (evaluation_policies or {}).items()}
    cols: dict[str, list[Any]] = {k: [] for k in ("episode", "step", "action", "reward",
                                                  "pscore", "done")}
    feats: list[npt.NDArray[np.float64]] = []
    eval_rows: dict[str, list[_Array]] = {name: [] for name in evals}
    n_actions: int | None = None
    try:
        for ep in range(episodes):
            obs, _ = env.reset(seed=seed if ep == 0 else None)
            t, done = 0, False
            while not done:
                p = _dist(logger, obs, "policy", n_actions)
                n_actions = p.size
                for name, pol in evals.items():
                    eval_rows[name].append(_dist(pol, obs, f"evaluation_policies[{name!r}]",
                                                 n_actions))
                if observation_features is not None:
                    feats.append(np.asarray(observation_features(obs), dtype=np.float64).ravel())
                flat = _draw(p, rng)
                obs, reward, terminated, truncated, _ = env.step(_env_action(logger, flat, obs))
                done = bool(terminated or truncated) or (max_steps is not None
                                                         and t + 1 >= max_steps)
                for key, val in (("episode", ep), ("step", t), ("action", flat),
                                 ("reward", float(reward)), ("pscore", p[flat]), ("done", done)):
                    cols[key].append(val)
                t += 1
    finally:
        env.close()
    assert n_actions is not None
    return TrajectoryLog.from_arrays(
        cols["episode"], cols["step"], cols["action"], cols["reward"], cols["pscore"],
        cols["done"], n_actions,
        observation=np.vstack(feats) if feats else None,
        evaluation_action_dist={k: np.vstack(v) for k, v in eval_rows.items()},
    )


def true_policy_value(
    env_id: str,
    policy: PolicyLike,
    episodes: int,
    seed: int,
    *,
    gamma: float = 1.0,
    max_steps: int | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
) -> PolicyValue:
    """Mean discounted return of ``policy`` over ``episodes`` on-policy episodes.

    ```text
    V = (1/N) sum_i sum_t gamma^t r_t,     std_error = sample std / sqrt(N)
    ```

    An unbiased Monte Carlo estimate of the true value (the reference an off-policy estimate is
    judged against). Actions are drawn from ``policy.action_dist`` exactly as :func:`collect`
    draws them, so the value is that of the same stochastic policy the estimators evaluate.

    Args:
        env_id: A registered id, e.g. ``"recoworld/ShortVideo-v0"``.
        policy: The policy (or a factory ``env -> policy``).
        episodes: Number of episodes ``N`` (>= 1).
        seed: Seeds the environment's first reset and the action draws.
        gamma: Discount factor in [0, 1].
        max_steps: Cut every episode after this many steps, as in :func:`collect`.
        env_kwargs: Keyword arguments for ``gymnasium.make``.

    Returns:
        The mean return, its standard error and the number of episodes.

    """
    _check_common(episodes, max_steps)
    require_range("gamma", gamma, 0, 1)
    env = gymnasium.make(env_id, **dict(env_kwargs or {}))
    rng = np.random.default_rng(seed)
    pol = _resolve(policy, env)
    returns = np.empty(episodes)
    try:
        for ep in range(episodes):
            obs, _ = env.reset(seed=seed if ep == 0 else None)
            t, done, ret = 0, False, 0.0
            while not done:
                p = _dist(pol, obs, "policy", None)
                obs, reward, terminated, truncated, _ = env.step(_env_action(pol, _draw(p, rng),
                                                                             obs))
                ret += gamma**t * float(reward)
                t += 1
                done = bool(terminated or truncated) or (max_steps is not None and t >= max_steps)
            returns[ep] = ret
    finally:
        env.close()
    se = float(returns.std(ddof=1) / np.sqrt(episodes)) if episodes > 1 else float("nan")
    return PolicyValue(float(returns.mean()), se, episodes)
