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

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from recoworld.agents._policy_gradient import PolicyGradientAgent, PolicyGradientConfig

__all__ = ["EARAgent", "EARConfig"]


@dataclass(frozen=True)
class EARConfig(PolicyGradientConfig):
    """Settings of :class:`EARAgent`.

    The fields and defaults of :class:`~recoworld.agents._policy_gradient.PolicyGradientConfig`
    (EAR's recipe, reflection on).
    """


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
