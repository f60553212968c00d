"""EAR (Lei et al., WSDM 2020): Estimation-Action-Reflection.

* Estimation: FM embeddings (:mod:`recoworld.agents.fm`) rank items and give attribute preferences.
* Action: a 2-layer policy network over every question plus "recommend", on the state
  [entropy of each question over the candidates, preference for each question
  (sigmoid of ``e_u.e_a + sum over accepted p of e_p.e_a``), dialogue summary]; pretrained by
  imitating the max-entropy rule, then REINFORCE on ``valid`` sessions.
* Reflection (switchable): after a rejected recommendation, a session-local BPR step on the
  user vector with the rejected items as negatives.

The dialogue summary (turn, questions asked, attributes accepted, failed recommendations, and
the candidate-count bucket, all one-hot) replaces EAR's ordered 15-turn history so that
``predict`` needs only the observation; with exact answers the two carry the same counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from recoworld.agents._policy_gradient import PolicyGradientAgent, validate_settings
from recoworld.agents.fm import FMConfig

__all__ = ["EARAgent", "EARConfig"]


@dataclass(frozen=True)
class EARConfig:
    """Settings of :class:`EARAgent`.

    Attributes:
        pretrain_sessions: ``valid`` sessions of max-entropy demonstrations to imitate.
        imitation_threshold: The imitated rule recommends once at most this many candidates
            remain (and always on the last action).
        episodes: REINFORCE sessions after pretraining.
        batch_episodes: Sessions per gradient step (pretraining and REINFORCE).
        hidden: Width of the policy's hidden layer.
        lr: Adam learning rate of REINFORCE.
        pretrain_lr: Adam learning rate of the imitation.
        gamma: Discount of the returns (EAR uses 0.7).
        entropy_coef: Weight of the policy-entropy bonus.
        reflection: Apply EAR's reflection after each rejected recommendation.
        reflection_lr: Step size of the reflection update.
        mask_unreachable: Mask questions no candidate can answer differently (zero entropy or
            held by no candidate) besides those already asked; off = mask asked ones only (EAR).
        prune_rejected: Drop the candidates holding a declined attribute (exact answers only).
        exclude_seen: Never recommend the user's training items (a session's target is new).
        holdout_fraction: Part of ``valid`` kept for model selection.
        eval_every: REINFORCE sessions between model-selection evaluations.
        eval_sessions: Held-out sessions per model-selection evaluation.
        rec_size: Items per recommendation.
        max_turns: Horizon, the user's opening counted as turn 1.
        fm: Settings of the FM embeddings trained when none are given.

    """

    pretrain_sessions: int = 1000
    imitation_threshold: int = 10
    episodes: int = 3000
    batch_episodes: int = 16
    hidden: int = 64
    lr: float = 1e-3
    pretrain_lr: float = 3e-3
    gamma: float = 0.7
    entropy_coef: float = 0.01
    reflection: bool = True
    reflection_lr: float = 0.01
    mask_unreachable: bool = True
    exclude_seen: bool = False
    prune_rejected: bool = False
    holdout_fraction: float = 0.1
    eval_every: int = 500
    eval_sessions: int = 500
    rec_size: int = 10
    max_turns: int = 15
    fm: FMConfig = field(default_factory=FMConfig)

    def __post_init__(self) -> None:
        validate_settings(self)


class EARAgent(PolicyGradientAgent):
    """EAR: FM estimation, a policy network over questions + recommend, reflection.

    Args:
        world: The world the agent converses in.
        config: Settings (default :class:`EARConfig`).
        seed: Seeds every random draw of training.
        embeddings: FM embeddings; ``None`` = train them in :meth:`learn`.

    """

    name = "ear"
    config_class = EARConfig

    def _extra_state_dim(self) -> int:
        return 2 * self.world.n_questions

    def _extra_state(
        self, obs: dict[str, Any], entropy: npt.NDArray[np.float64], query: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        emb = self._emb()
        pref = 1.0 / (1.0 + np.exp(-np.clip(emb.attribute @ query, -30, 30)))
        if self.world.question_mode == "enumerated":
            assert self.world.parent_children is not None
            pref = np.asarray(self.world.parent_children.astype(np.float64) @ pref).ravel()
        return np.concatenate([entropy, pref]).astype(np.float32)
