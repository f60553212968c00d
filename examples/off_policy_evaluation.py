"""Off-policy evaluation against known ground truth, top to bottom.

A synthetic contextual bandit knows every policy's true value. We log data with one policy,
estimate another policy's value with IPS, SNIPS, DM and DR, and compare with the truth.
Run: ``.venv/bin/python examples/off_policy_evaluation.py``.
``RECOWORLD_EXAMPLE_SMOKE=1`` shrinks every budget (what the smoke test does).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from recoworld.estimators import (
    DirectMethod,
    DoublyRobust,
    InverseProbabilityWeighting,
    SelfNormalizedInverseProbabilityWeighting,
    SyntheticBandit,
)

SMOKE = os.environ.get("RECOWORLD_EXAMPLE_SMOKE") == "1"


@dataclass(frozen=True)
class Settings:
    n_rounds: int = 2_000 if SMOKE else 100_000
    repeats: int = 3 if SMOKE else 20
    logging_beta: float = 1.0  # softmax temperature of the logging policy (0 = uniform)
    target_beta: float = 8.0  # the target policy is greedier
    seed: int = 0


cfg = Settings()
bandit = SyntheticBandit.generate(n_contexts=50, n_actions=10, seed=cfg.seed)
logging_policy = bandit.softmax_policy(cfg.logging_beta)
target_policy = bandit.softmax_policy(cfg.target_beta)
truth = bandit.policy_value(target_policy)

estimators = {
    "IPS": InverseProbabilityWeighting(),
    "SNIPS": SelfNormalizedInverseProbabilityWeighting(),
    "DM": DirectMethod(),
    "DR": DoublyRobust(),
}
rng = np.random.default_rng(cfg.seed)
estimates: dict[str, list[float]] = {name: [] for name in estimators}
for _ in range(cfg.repeats):
    log, ctx = bandit.sample(cfg.n_rounds, logging_policy, rng)
    action_dist = target_policy[ctx]
    # a deliberately imperfect reward model: the true means, shrunk towards 0.5
    q_hat = 0.5 + 0.8 * (bandit.expected_reward[ctx] - 0.5)
    for name, est in estimators.items():
        q = q_hat if est.requires_reward_model else None
        estimates[name].append(est.estimate_policy_value(log, action_dist, q))

print(f"true value of the target policy: {truth:.4f}")
print(f"{'estimator':<8} {'mean':>8} {'bias':>8} {'std':>8} {'rmse':>8}")
for name, values in estimates.items():
    v = np.asarray(values)
    rmse = float(np.sqrt(np.mean((v - truth) ** 2)))
    print(f"{name:<8} {v.mean():8.4f} {v.mean() - truth:8.4f} {v.std():8.4f} {rmse:8.4f}")
