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

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from recoworld.agents._policy_gradient import PolicyGradientAgent, PolicyGradientConfig

__all__ = ["CRMAgent", "CRMConfig"]


@dataclass(frozen=True)
class CRMConfig(PolicyGradientConfig):
    """Settings of :class:`CRMAgent` (fields as in :class:`~recoworld.agents.ear.EARConfig`).

    CRM has no reflection: ``reflection`` is off by default and ``reflection_lr`` (0) unused.
    """

    reflection: bool = False
    reflection_lr: float = 0.0


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
