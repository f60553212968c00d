"""RecoWorld estimators: learn and evaluate from logged, biased feedback.

Modules (import them directly; nothing heavy is imported here):

- :mod:`~recoworld.estimators.logged_data` — ``BanditLog`` and ``TrajectoryLog``, validated
  polars-backed logs with parquet ``save``/``load``;
- :mod:`~recoworld.estimators.collect` — ``collect`` (log any environment with propensities from
  ``action_dist``), ``true_policy_value`` (ground truth by on-policy simulation), ``MixturePolicy``;
- :mod:`~recoworld.estimators.ope_bandit` — IPS, SNIPS, DM, DR, SNDR, switch-DR, DR-os;
- :mod:`~recoworld.estimators.ope_sequential` — trajectory-wise and per-decision IS, their
  weighted versions, doubly robust for MDPs;
- :mod:`~recoworld.estimators.base` — the bootstrap confidence interval shared by all of them;
- :mod:`~recoworld.estimators.reward_models` — pluggable reward / Q models for DM and DR;
- :mod:`~recoworld.estimators.synthetic` — a bandit with exactly known policy values;
- :mod:`~recoworld.estimators.mnar` — Rel-MF losses, propensities, MF trainer, ranking metrics;
- :mod:`~recoworld.estimators.rating_error` — naive / IPS / SNIPS / DR rating-error estimators and
  propensity models (naive Bayes, logistic regression).
"""
