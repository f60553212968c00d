"""``InstructionFollowingAgent``: re-rank feed candidates by similarity to the user's instruction.

The baseline of RecoWorld's instruction-following setting: each candidate's score is its retrieval
score plus ``weight`` times the cosine similarity between the latest instruction's embedding
(``obs["instruction"]``, from :class:`recoworld.envs.feed_instruction.InstructionObservation`) and
the text representation of the candidate (its category name, embedded with the same model).
Before the first instruction the embedding is zero and the agent follows the retrieval score.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from recoworld._validate import require_range
from recoworld.agents.feed import FeedAgent, Obs
from recoworld.datasets.feed_world import FeedWorld
from recoworld.envs.feed_core import CANDIDATE_COLUMNS
from recoworld.errors import ConfigError
from recoworld.users.llm.embedding import SentenceEmbedder

__all__ = ["InstructionFollowingAgent"]

_RETRIEVAL = CANDIDATE_COLUMNS.index("retrieval_score")


class InstructionFollowingAgent(FeedAgent):
    """Greedy on ``retrieval score + weight * cos(instruction, candidate text)``.

    Args:
        world: The feed world (its category names are the candidates' text).
        embedder: Sentence embedder (the one the observation wrapper uses).
        weight: Weight of the instruction similarity (0 = plain retrieval ranking).
        seed: Seed of the agent's generator (unused by this deterministic policy's choice).

    """

    def __init__(
        self,
        world: FeedWorld,
        embedder: SentenceEmbedder | None = None,
        weight: float = 2.0,
        seed: int | None = 0,
    ) -> None:
        super().__init__(seed)
        require_range("weight", weight, 0)
        self.world = world
        self.weight = weight
        self.embedder = embedder if embedder is not None else SentenceEmbedder()
        names = list(world.catalogue.category_names)
        self.category_embedding = self.embedder.encode(names)  # (C, 384)

    def scores(self, obs: Obs) -> NDArray[np.float64]:
        """Return the ``(N, K)`` scores of a batch of observations (``(K,)`` rows for one)."""
        cand = np.asarray(obs["candidates"])
        if "instruction" not in obs:
            raise ConfigError(
                "the observation has no 'instruction' key; wrap the env in InstructionObservation"
            )
        if cand.ndim == 2:
            cand = cand[None]
        n, k = cand.shape[:2]
        ids = np.asarray(obs["candidate_ids"], dtype=np.int64).reshape(n, k)
        instr = np.asarray(obs["instruction"], dtype=np.float64).reshape(n, -1)
        cats = self.world.catalogue.category[ids]  # (n, K)
        sim = np.einsum("nd,nkd->nk", instr, self.category_embedding[cats].astype(np.float64))
        base = np.asarray(cand[:, :, _RETRIEVAL], dtype=np.float64)
        return np.asarray(base + self.weight * sim, dtype=np.float64)

    def _dist(self, obs: Obs, cand: NDArray[np.float32]) -> NDArray[np.float64]:
        score = self.scores(obs)
        dist = np.zeros_like(score)
        dist[np.arange(score.shape[0]), np.argmax(score, axis=1)] = 1.0
        return dist
