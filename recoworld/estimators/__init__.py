"""Estimators: learn and evaluate from logged, biased feedback.

- logged data: :class:`BanditLog`, :class:`TrajectoryLog` (validated, polars-backed, parquet),
  :func:`collect` (log any environment with propensities from ``action_dist``),
  :func:`true_policy_value` (ground truth by on-policy simulation);
- off-policy evaluation, one decision: IPS, SNIPS, DM, DR, SNDR, switch-DR, DR with shrinkage;
- off-policy evaluation, sequences: trajectory-wise and per-decision IS, their weighted versions,
  doubly robust for MDPs;
- learning from missing-not-at-random feedback: Rel-MF losses, propensities, MF trainers,
  ranking metrics;
- rating-error estimators: naive, IPS, SNIPS, DR and their propensity models.
"""

from recoworld.estimators.base import ConfidenceInterval
from recoworld.estimators.collect import MixturePolicy, PolicyValue, collect, true_policy_value
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
from recoworld.estimators.ope_sequential import (
    PerDecisionImportanceSampling,
    SequentialDoublyRobust,
    TrajectoryWiseImportanceSampling,
    WeightedPerDecisionImportanceSampling,
    WeightedTrajectoryWiseImportanceSampling,
)
from recoworld.estimators.rating_error import (
    estimate_rating_error,
    logistic_propensity,
    naive_bayes_propensity,
)
from recoworld.estimators.reward_models import FittedQEvaluation, LinearRewardModel
from recoworld.estimators.synthetic import SyntheticBandit

# Short names, as in the Open Bandit Pipeline.
IPS = InverseProbabilityWeighting
SNIPS = SelfNormalizedInverseProbabilityWeighting
DM = DirectMethod
DR = DoublyRobust
SNDR = SelfNormalizedDoublyRobust
SwitchDR = SwitchDoublyRobust
DRos = DoublyRobustWithShrinkage

__all__ = [
    "DM",
    "DR",
    "IPS",
    "SNDR",
    "SNIPS",
    "BanditLog",
    "ConfidenceInterval",
    "DRos",
    "DirectMethod",
    "DoublyRobust",
    "DoublyRobustWithShrinkage",
    "FittedQEvaluation",
    "InverseProbabilityWeighting",
    "LinearRewardModel",
    "MFConfig",
    "MixturePolicy",
    "PerDecisionImportanceSampling",
    "PolicyValue",
    "RankingMetrics",
    "SelfNormalizedDoublyRobust",
    "SelfNormalizedInverseProbabilityWeighting",
    "SequentialDoublyRobust",
    "SwitchDR",
    "SwitchDoublyRobust",
    "SyntheticBandit",
    "TrajectoryLog",
    "TrajectoryWiseImportanceSampling",
    "WeightedPerDecisionImportanceSampling",
    "WeightedTrajectoryWiseImportanceSampling",
    "collect",
    "estimate_rating_error",
    "logistic_propensity",
    "mcar_item_propensity",
    "naive_bayes_propensity",
    "popularity_propensity",
    "ranking_metrics",
    "relevance_loss",
    "train_implicit_mf",
    "train_rating_mf",
    "true_policy_value",
]
