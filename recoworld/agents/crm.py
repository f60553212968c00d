"""CRM (Sun & Zhang, SIGIR 2018), lightweight: a belief tracker plus a policy network.

CRM's belief tracker reads the user's utterances into a belief over facet values; with the
simulated users' structured answers the belief is exact, so the tracker here is the confirmed and
declined attributes (two multi-hot vectors over the questions). A 2-layer policy network over
every question plus "recommend" reads the belief and the dialogue summary; it is pretrained by
imitating the max-entropy rule and refined with REINFORCE (the recipe of
:class:`~recoworld.agents.ear.EARAgent`, without EAR's entropy and preference features and
without reflection). Items are ranked by the FM score.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from recoworld.agents._policy_gradient import PolicyGradientAgent, validate_settings
from recoworld.agents.fm import FMConfig

__all__ = ["CRMAgent", "CRMConfig"]


@dataclass(frozen=True)
class CRMConfig:
    """Settings of :class:`CRMAgent` (fields as in :class:`~recoworld.agents.ear.EARConfig`).

    Attributes:
        pretrain_sessions: ``valid`` sessions of max-entropy demonstrations to imitate.
        imitation_threshold: The imitated rule recommends once at most this many candidates
            remain (and always on the last action).
        episodes: REINFORCE sessions after pretraining.
        batch_episodes: Sessions per gradient step.
        hidden: Width of the policy's hidden layer.
        lr: Adam learning rate of REINFORCE.
        pretrain_lr: Adam learning rate of the imitation.
        gamma: Discount of the returns.
        entropy_coef: Weight of the policy-entropy bonus.
        reflection: Kept off: CRM has no reflection.
        reflection_lr: Unused while ``reflection`` is off.
        mask_unreachable: Mask questions that cannot split the candidates (besides asked ones).
        prune_rejected: Drop the candidates holding a declined attribute (exact answers only).
        exclude_seen: Never recommend the user's training items.
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
    reflection: bool = False
    reflection_lr: float = 0.0
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


class CRMAgent(PolicyGradientAgent):
    """CRM: exact belief tracker (confirmed / declined attributes) and a policy network.

    Args:
        world: The world the agent converses in.
        config: Settings (default :class:`CRMConfig`).
        seed: Seeds every random draw of training.
        embeddings: FM embeddings; ``None`` = train them in :meth:`learn`.

    """

    name = "crm"
    config_class = CRMConfig

    def _extra_state_dim(self) -> int:
        return 2 * self.world.n_questions

    def _extra_state(
        self, obs: dict[str, Any], entropy: npt.NDArray[np.float64], query: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        acc = np.asarray(obs["accepted"], dtype=np.float32)
        rej = np.asarray(obs["rejected"], dtype=np.float32)
        if self.world.question_mode == "enumerated":
            assert self.world.parent_children is not None
            pc = self.world.parent_children.astype(np.float32)
            acc = np.minimum(np.asarray(pc @ acc).ravel(), 1.0)
            rej = np.minimum(np.asarray(pc @ rej).ravel(), 1.0)
        return np.concatenate([acc, rej]).astype(np.float32)
