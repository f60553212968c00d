"""Every off-policy estimator against the simulator's exact ground truth (``recoworld bench ope``).

For each setting (an environment, a logging policy and a target policy) the benchmark measures the
target's true value, then repeatedly logs fresh data with the logging policy (a new seed each
replication), estimates the target's value with every estimator, and reports each estimator's
bias, standard deviation and RMSE across replications. A simulator makes this possible: the truth
is an on-policy average over many episodes (its standard error is reported beside it), or exact
for the synthetic bandit. No peer library measures estimators against such ground truth.

Settings:

- ``synthetic-bandit/*``: a finite-context bandit whose policy values are exact sums;
- ``feed-first-step``: the first decision of ``recoworld/ShortVideo-v0`` as a contextual bandit
  (context: the user's features and the candidates' popularity);
- ``crs-first-step``: the same for ``recoworld/Synthetic-CRS-v0``;
- ``feed-episode`` and ``crs-episode``: whole episodes, sequential estimators;
- ``synthetic-embedding/*``: a bandit whose 100 actions fall in 10 categories; MIPS against IPS
  when the reward depends on the action only through its category (MIPS unbiased) and when it
  does not (``direct-effect``: MIPS biased);
- ``synthetic-slate/*``: 3-position slates under three click models (independent, cascade,
  global), exact truth; each slate estimator is unbiased under some of them only;
- ``feed-slate-first-slate``: the first slate of ``recoworld/ShortVideo-Slate-v0`` (3 positions)
  logged by a position-biased policy; the user watches top-down and may leave, a cascade.

Policies mix two agents: on the feed, most-popular with uniform-random; in the conversational env,
max-entropy with random (``MixturePolicy``). Bandit DM/DR use a cross-fitted ridge reward model,
sequential DR a linear fitted-Q evaluation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from recoworld.estimators.collect import (
    MixturePolicy,
    Policy,
    PolicyLike,
    collect,
    true_policy_value,
)
from recoworld.estimators.feed_logs import SlateLog, collect_slate_log
from recoworld.estimators.logged_data import BanditLog, TrajectoryLog
from recoworld.estimators.ope_bandit import (
    BaseBanditEstimator,
    DirectMethod,
    DoublyRobust,
    DoublyRobustWithShrinkage,
    InverseProbabilityWeighting,
    SelfNormalizedDoublyRobust,
    SelfNormalizedInverseProbabilityWeighting,
    SwitchDoublyRobust,
)
from recoworld.estimators.ope_embed import MarginalizedInverseProbabilityWeighting
from recoworld.estimators.ope_sequential import (
    BaseSequentialEstimator,
    PerDecisionImportanceSampling,
    SequentialDoublyRobust,
    TrajectoryWiseImportanceSampling,
    WeightedPerDecisionImportanceSampling,
    WeightedTrajectoryWiseImportanceSampling,
)
from recoworld.estimators.ope_slate import (
    BaseSlateEstimator,
    SlateActionDist,
    SlateCascadeDoublyRobust,
    SlateIndependentIPS,
    SlatePseudoInverse,
    SlateRewardInteractionIPS,
    SlateStandardIPS,
)
from recoworld.estimators.reward_models import FittedQEvaluation, LinearRewardModel
from recoworld.estimators.synthetic import SyntheticBandit, SyntheticSlateBandit

__all__ = ["BenchScale", "SettingResult", "bandit_estimators", "run_ope_bench",
           "sequential_estimators"]

_Array = npt.NDArray[np.float64]
FEED_ID = "recoworld/ShortVideo-v0"
SLATE_ID = "recoworld/ShortVideo-Slate-v0"
CRS_ID = "recoworld/Synthetic-CRS-v0"


@dataclass(frozen=True)
class BenchScale:
    """How much work each setting does."""

    replications: int
    """Independent logs per environment setting (the std and RMSE are across them)."""
    bandit_replications: int
    """Independent logs per synthetic-bandit setting (cheap, so more of them)."""
    bandit_rounds: int
    """Logged rounds per replication in the synthetic bandit."""
    env_bandit_episodes: int
    """Logged first decisions per replication on the environments."""
    env_episodes: int
    """Logged episodes per replication in the sequential settings."""
    truth_episodes: int
    """On-policy episodes measuring a true value."""

    @classmethod
    def quick(cls) -> BenchScale:
        """A couple of minutes on two cores."""
        return cls(replications=30, bandit_replications=200, bandit_rounds=1000, env_bandit_episodes=1000,
                   env_episodes=200, truth_episodes=5000)

    @classmethod
    def full(cls) -> BenchScale:
        """Tighter figures: more replications, more data, a more precise truth."""
        return cls(replications=100, bandit_replications=500, bandit_rounds=5000, env_bandit_episodes=5000,
                   env_episodes=1000, truth_episodes=40000)


@dataclass(frozen=True)
class SettingResult:
    """One setting's truth and every estimator's error statistics."""

    setting: str
    """Name of the setting."""
    truth: float
    """True value of the target policy."""
    truth_std_error: float
    """Standard error of :attr:`truth` (0 when exact)."""
    logging_value: float
    """True value of the logging policy (what an on-policy average of the log would give)."""
    estimates: dict[str, list[float]]
    """Each estimator's estimate in each replication."""

    def stats(self) -> dict[str, dict[str, float]]:
        """Bias, standard deviation and RMSE of each estimator."""
        out = {}
        for name, vals in self.estimates.items():
            v = np.asarray(vals)
            err = v - self.truth
            out[name] = {"bias": float(err.mean()), "std": float(v.std(ddof=1)),
                         "rmse": float(np.sqrt(np.mean(err**2)))}
        return out


def bandit_estimators() -> tuple[BaseBanditEstimator, ...]:
    """The bandit estimators the benchmark compares."""
    return (InverseProbabilityWeighting(), SelfNormalizedInverseProbabilityWeighting(),
            DirectMethod(), DoublyRobust(), SelfNormalizedDoublyRobust(),
            SwitchDoublyRobust(tau=5.0), DoublyRobustWithShrinkage(shrinkage=10.0))


def sequential_estimators() -> tuple[BaseSequentialEstimator, ...]:
    """The sequential estimators the benchmark compares."""
    return (TrajectoryWiseImportanceSampling(), WeightedTrajectoryWiseImportanceSampling(),
            PerDecisionImportanceSampling(), WeightedPerDecisionImportanceSampling(),
            SequentialDoublyRobust())


def _bandit_row(log: BanditLog, target: _Array, seed: int) -> dict[str, float]:
    q = LinearRewardModel(l2=1.0, n_folds=2).fit_predict(log, seed=seed)
    return {e.estimator_name: e.estimate_policy_value(log, target, q)
            for e in bandit_estimators()}


def _sequential_row(log: TrajectoryLog, target: _Array) -> dict[str, float]:
    q = FittedQEvaluation().fit_predict(log, target)
    return {e.estimator_name: e.estimate_policy_value(log, target, q)
            for e in sequential_estimators()}


def _collect_rows(rows: list[dict[str, float]]) -> dict[str, list[float]]:
    return {k: [r[k] for r in rows] for k in rows[0]}


def _synthetic(name: str, logging_beta: float, target_beta: float, scale: BenchScale,
               seed: int) -> SettingResult:
    world = SyntheticBandit.generate(n_contexts=200, n_actions=10, dim=5, seed=seed)
    logging, target = world.softmax_policy(logging_beta), world.softmax_policy(target_beta)
    rows = []
    for rep in range(scale.bandit_replications):
        log, ctx = world.sample(scale.bandit_rounds, logging, np.random.default_rng(seed + rep))
        rows.append(_bandit_row(log, target[ctx], seed + rep))
    return SettingResult(name, world.policy_value(target), 0.0, world.policy_value(logging),
                         _collect_rows(rows))


def slate_estimators() -> tuple[BaseSlateEstimator, ...]:
    """The slate estimators the benchmark compares."""
    return (SlateStandardIPS(), SlateIndependentIPS(), SlateRewardInteractionIPS(),
            SlatePseudoInverse(), SlateCascadeDoublyRobust())


def _embedding(name: str, direct_effect: float, scale: BenchScale, seed: int) -> SettingResult:
    world = SyntheticBandit.generate_with_categories(
        n_contexts=100, n_actions=100, n_categories=10, direct_effect=direct_effect, seed=seed)
    assert world.action_category is not None
    logging = world.softmax_policy(0.0)
    # a target with preferences inside each category as well (not only between categories)
    noise = np.random.default_rng([seed, 7]).normal(size=world.expected_reward.shape)
    z = 6.0 * world.expected_reward + noise
    target = np.exp(z - z.max(axis=1, keepdims=True))
    target /= target.sum(axis=1, keepdims=True)
    rows = []
    for rep in range(scale.bandit_replications):
        log, ctx = world.sample(scale.bandit_rounds, logging, np.random.default_rng(seed + rep))
        pe, pb = target[ctx], logging[ctx]
        rows.append({
            "ipw": InverseProbabilityWeighting().estimate_policy_value(log, pe),
            "snipw": SelfNormalizedInverseProbabilityWeighting().estimate_policy_value(log, pe),
            "mips": MarginalizedInverseProbabilityWeighting().estimate_policy_value(
                log, pe, pb, world.action_category),
            "snmips": MarginalizedInverseProbabilityWeighting(self_normalized=True)
            .estimate_policy_value(log, pe, pb, world.action_category),
        })
    return SettingResult(name, world.policy_value(target), 0.0, world.policy_value(logging),
                         _collect_rows(rows))


def _reward_to_go_model(log: SlateLog) -> _Array:
    """A deliberately simple fixed model for cascade-DR: mean reward from position k on."""
    to_go = np.cumsum(log.reward[:, ::-1], axis=1)[:, ::-1]
    return to_go.mean(axis=0)  # type: ignore[no-any-return]


def _slate_row(log: SlateLog, target: SlateActionDist, q_by_position: _Array) -> dict[str, float]:
    q = np.broadcast_to(q_by_position[None, :, None],
                        (log.n_slates, log.slate_size, log.n_candidates))
    return {e.estimator_name: e.estimate_policy_value(
        log, target, q if e.requires_reward_model else None) for e in slate_estimators()}


def _synthetic_slate(name: str, click_model: str, scale: BenchScale,
                     seed: int) -> SettingResult:
    world = SyntheticSlateBandit.generate(n_contexts=50, n_actions=5, slate_size=3,
                                          click_model=click_model, seed=seed)  # type: ignore[arg-type]
    logging, target = world.softmax_policy(1.0, 0.5), world.softmax_policy(4.0)
    rows = []
    for rep in range(scale.bandit_replications):
        rng = np.random.default_rng([seed, rep])
        model_log, _ = world.sample(scale.bandit_rounds, logging, rng)  # fit q apart
        log, ctx = world.sample(scale.bandit_rounds, logging, rng)
        rows.append(_slate_row(log, SlateActionDist.independent(target[ctx]),
                               _reward_to_go_model(model_log)))
    return SettingResult(name, world.policy_value(target), 0.0, world.policy_value(logging),
                         _collect_rows(rows))


def _feed_slate(name: str, scale: BenchScale, seed: int) -> SettingResult:
    from recoworld.agents.feed_policies import PositionBiasedSlateAgent

    size = 3
    kwargs = {"slate_size": size}
    logging = PositionBiasedSlateAgent(size, beta=1.0, decay=0.5)
    target = PositionBiasedSlateAgent(size, beta=3.0, decay=1.0)
    n_truth = scale.truth_episodes * 4
    truth_log = collect_slate_log(SLATE_ID, target, n_truth, seed + 10_000, max_slates=1,
                                  env_kwargs=kwargs)
    logging_log = collect_slate_log(SLATE_ID, logging, n_truth // 4, seed + 20_000,
                                    max_slates=1, env_kwargs=kwargs)
    model_log = collect_slate_log(SLATE_ID, logging, scale.env_bandit_episodes, seed + 30_000,
                                  max_slates=1, env_kwargs=kwargs)
    q = _reward_to_go_model(model_log)
    rows = []
    for rep in range(scale.replications):
        log = collect_slate_log(SLATE_ID, logging, scale.env_bandit_episodes, seed + rep,
                                max_slates=1, env_kwargs=kwargs)
        rows.append(_slate_row(log, SlateActionDist.independent(_target_marginals(target, log)),
                               q))
    truth = truth_log.slate_reward
    return SettingResult(name, float(truth.mean()), float(truth.std(ddof=1) / np.sqrt(truth.size)),
                         float(logging_log.slate_reward.mean()), _collect_rows(rows))


def _target_marginals(policy: Any, log: SlateLog) -> _Array:
    """The target's per-position marginals at each logged context, from the pools' popularity."""
    from recoworld.envs.feed_core import CANDIDATE_COLUMNS
    from recoworld.estimators.feed_logs import feed_world

    world = feed_world(SLATE_ID, {"slate_size": log.slate_size})
    width = len(CANDIDATE_COLUMNS)
    cand = np.zeros((log.n_slates, log.n_candidates, width), dtype=np.float32)
    cand[:, :, CANDIDATE_COLUMNS.index("popularity")] = world.catalogue.popularity[log.candidates]
    return np.asarray(policy.slate_marginals({"candidates": cand}), dtype=np.float64)


def _feed_features(obs: dict[str, Any]) -> _Array:
    from recoworld.envs.feed_core import CANDIDATE_COLUMNS

    pop = np.asarray(obs["candidates"])[:, CANDIDATE_COLUMNS.index("popularity")]
    return np.concatenate([np.asarray(obs["user"], dtype=np.float64), pop])


def _crs_features(obs: dict[str, Any]) -> _Array:
    cand = float(np.asarray(obs["candidates"]).sum())
    return np.array([np.log1p(cand), float(np.sum(obs["accepted"])),
                     float(np.sum(obs["asked"])), float(obs["turn"])])


def _feed_policies(p_logging: float, p_target: float) -> tuple[Policy, Policy]:
    from recoworld.agents.feed import MostPopularFeedAgent, RandomFeedAgent

    pop, rand = MostPopularFeedAgent(seed=0), RandomFeedAgent(seed=0)
    return (MixturePolicy([pop, rand], [p_logging, 1.0 - p_logging]),
            MixturePolicy([pop, rand], [p_target, 1.0 - p_target]))


def _crs_policy(p_maxent: float) -> PolicyLike:
    def build(env: Any) -> Policy:
        from recoworld.agents.rules import MaxEntropyAgent, RandomAgent

        return MixturePolicy([MaxEntropyAgent(env.world), RandomAgent(env.world)],
                             [p_maxent, 1.0 - p_maxent])
    return build


def _env_setting(name: str, env_id: str, logging: PolicyLike, target: PolicyLike,
                 features: Callable[[Any], _Array], first_step: bool, scale: BenchScale,
                 seed: int) -> SettingResult:
    max_steps = 1 if first_step else None
    n_truth = scale.truth_episodes * (4 if first_step else 1)
    truth = true_policy_value(env_id, target, n_truth, seed + 10_000, max_steps=max_steps)
    logging_value = true_policy_value(env_id, logging, max(n_truth // 4, 2), seed + 20_000,
                                      max_steps=max_steps)
    episodes = scale.env_bandit_episodes if first_step else scale.env_episodes
    rows = []
    for rep in range(scale.replications):
        log = collect(env_id, logging, episodes, seed + rep, evaluation_policies={"target": target},
                      observation_features=features, max_steps=max_steps)
        pe = log.evaluation_action_dist["target"]
        if first_step:
            rows.append(_bandit_row(log.first_steps(), pe, seed + rep))
        else:
            rows.append(_sequential_row(log, pe))
    return SettingResult(name, truth.mean, truth.std_error, logging_value.mean,
                         _collect_rows(rows))


def run_ope_bench(quick: bool = True, seed: int = 0,
                  progress: Callable[[str], None] | None = None,
                  scale: BenchScale | None = None) -> list[SettingResult]:
    """Run every setting; ``progress`` receives a line per finished setting.

    ``scale`` overrides the quick / full presets (tests use a tiny one).
    """
    if scale is None:
        scale = BenchScale.quick() if quick else BenchScale.full()
    feed_log, feed_target = _feed_policies(0.5, 0.8)
    jobs: list[tuple[str, Callable[[], SettingResult]]] = [
        ("synthetic-bandit/uniform->greedy",
         lambda: _synthetic("synthetic-bandit/uniform->greedy", 0.0, 10.0, scale, seed)),
        ("synthetic-bandit/adverse->greedy",
         lambda: _synthetic("synthetic-bandit/adverse->greedy", -3.0, 10.0, scale, seed)),
        ("feed-first-step", lambda: _env_setting(
            "feed-first-step", FEED_ID, feed_log, feed_target, _feed_features, True, scale, seed)),
        ("feed-episode", lambda: _env_setting(
            "feed-episode", FEED_ID, *_feed_policies(0.5, 0.6), _feed_features, False, scale,
            seed)),
        ("crs-first-step", lambda: _env_setting(
            "crs-first-step", CRS_ID, _crs_policy(0.5), _crs_policy(0.9), _crs_features, True,
            scale, seed)),
        ("crs-episode", lambda: _env_setting(
            "crs-episode", CRS_ID, _crs_policy(0.5), _crs_policy(0.8), _crs_features, False,
            scale, seed)),
        ("synthetic-embedding/category-only", lambda: _embedding(
            "synthetic-embedding/category-only", 0.0, scale, seed)),
        ("synthetic-embedding/direct-effect", lambda: _embedding(
            "synthetic-embedding/direct-effect", 1.5, scale, seed)),
        *((f"synthetic-slate/{m}", (lambda m=m: _synthetic_slate(
            f"synthetic-slate/{m}", m, scale, seed))) for m in ("independent", "cascade",
                                                                "global")),
        ("feed-slate-first-slate", lambda: _feed_slate("feed-slate-first-slate", scale, seed)),
    ]
    results = []
    for name, job in jobs:
        start = time.perf_counter()
        results.append(job())
        if progress is not None:
            progress(f"{name}: {time.perf_counter() - start:.1f} s")
    return results
