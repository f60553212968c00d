"""Estimators: learn and evaluate from logged, biased feedback.

- logged data: :class:`BanditLog`, :class:`TrajectoryLog` (validated, polars-backed, parquet),
  :func:`collect` (log any environment with propensities from ``action_dist``),
  :func:`true_policy_value` (ground truth by on-policy simulation);
- feed logs: :func:`collect_feed_log` / :func:`collect_slate_log` log a feed environment with a
  biased policy's exact propensities (:class:`FeedLog`, :class:`SlateLog`);
- off-policy evaluation, one decision: IPS, SNIPS, DM, DR, SNDR, switch-DR, DR with shrinkage,
  MIPS (marginalised over action embeddings);
- off-policy evaluation, slates: standard, independent and reward-interaction IPS,
  PseudoInverse, cascade-DR;
- off-policy evaluation, sequences: trajectory-wise and per-decision IS, their weighted versions,
  doubly robust for MDPs;
- learning from missing-not-at-random feedback: Rel-MF losses, propensities, MF trainers,
  ranking metrics; on feed logs, naive / IPS / SNIPS / DR / Rel-MF learners
  (:func:`train_feed_learner`, :func:`select_feed_learner`) and logged ranking metrics;
- rating-error estimators: naive, IPS, SNIPS, DR and their propensity models.
"""

from recoworld.estimators.base import ConfidenceInterval
from recoworld.estimators.collect import MixturePolicy, PolicyValue, collect, true_policy_value
from recoworld.estimators.feed_learners import (
    EXPLICIT_LEARNERS,
    FEED_LEARNERS,
    FeedMF,
    FeedMFConfig,
    LoggedRankingMetrics,
    SelectedLearner,
    logged_ranking_metrics,
    select_feed_learner,
    train_feed_learner,
)
from recoworld.estimators.feed_logs import (
    FeedLog,
    SlateLog,
    collect_feed_log,
    collect_slate_log,
    feed_world,
    split_users,
    world_with_users,
)
from recoworld.estimators.logged_data import BanditLog, TrajectoryLog
from recoworld.estimators.mnar import (
    MFConfig,
    RankingMetrics,
    mcar_item_propensity,
    popularity_propensity,
    ranking_metrics,
    relevance_loss,
    train_implicit_mf,
    train_rating_mf,
)
from recoworld.estimators.ope_bandit import (
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
    PerDecisionImportanceSampling,
    SequentialDoublyRobust,
    TrajectoryWiseImportanceSampling,
    WeightedPerDecisionImportanceSampling,
    WeightedTrajectoryWiseImportanceSampling,
)
from recoworld.estimators.ope_slate import (
    SlateActionDist,
    SlateCascadeDoublyRobust,
    SlateIndependentIPS,
    SlatePseudoInverse,
    SlateRewardInteractionIPS,
    SlateStandardIPS,
)
from recoworld.estimators.rating_error import (
    estimate_rating_error,
    logistic_propensity,
    naive_bayes_propensity,
)
from recoworld.estimators.reward_models import FittedQEvaluation, LinearRewardModel
from recoworld.estimators.synthetic import SyntheticBandit, SyntheticSlateBandit

# Short names, as in the Open Bandit Pipeline.
IPS = InverseProbabilityWeighting
SNIPS = SelfNormalizedInverseProbabilityWeighting
DM = DirectMethod
DR = DoublyRobust
SNDR = SelfNormalizedDoublyRobust
SwitchDR = SwitchDoublyRobust
DRos = DoublyRobustWithShrinkage
MIPS = MarginalizedInverseProbabilityWeighting

__all__ = [
    "DM",
    "DR",
    "EXPLICIT_LEARNERS",
    "FEED_LEARNERS",
    "IPS",
    "MIPS",
    "SNDR",
    "SNIPS",
    "BanditLog",
    "ConfidenceInterval",
    "DRos",
    "DirectMethod",
    "DoublyRobust",
    "DoublyRobustWithShrinkage",
    "FeedLog",
    "FeedMF",
    "FeedMFConfig",
    "FittedQEvaluation",
    "InverseProbabilityWeighting",
    "LinearRewardModel",
    "LoggedRankingMetrics",
    "MFConfig",
    "MarginalizedInverseProbabilityWeighting",
    "MixturePolicy",
    "PerDecisionImportanceSampling",
    "PolicyValue",
    "RankingMetrics",
    "SelectedLearner",
    "SelfNormalizedDoublyRobust",
    "SelfNormalizedInverseProbabilityWeighting",
    "SequentialDoublyRobust",
    "SlateActionDist",
    "SlateCascadeDoublyRobust",
    "SlateIndependentIPS",
    "SlateLog",
    "SlatePseudoInverse",
    "SlateRewardInteractionIPS",
    "SlateStandardIPS",
    "SwitchDR",
    "SwitchDoublyRobust",
    "SyntheticBandit",
    "SyntheticSlateBandit",
    "TrajectoryLog",
    "TrajectoryWiseImportanceSampling",
    "WeightedPerDecisionImportanceSampling",
    "WeightedTrajectoryWiseImportanceSampling",
    "collect",
    "collect_feed_log",
    "collect_slate_log",
    "estimate_rating_error",
    "feed_world",
    "logged_ranking_metrics",
    "logistic_propensity",
    "mcar_item_propensity",
    "naive_bayes_propensity",
    "popularity_propensity",
    "ranking_metrics",
    "relevance_loss",
    "select_feed_learner",
    "split_users",
    "train_feed_learner",
    "train_implicit_mf",
    "train_rating_mf",
    "true_policy_value",
    "world_with_users",
]
