"""``InstructionObservation``: the feed user's latest reflective instruction, embedded, in the obs.

Feed users that write instructions (:class:`recoworld.users.llm.feed.LLMFeedUser`,
:class:`recoworld.users.llm.feed.HybridFeedUser`) report them in the step info as text
(``instruction``, ``new_instruction``). This wrapper adds their sentence embedding to the
observation so that agents can follow them.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from recoworld.errors import ConfigError
from recoworld.users.llm.embedding import SentenceEmbedder

__all__ = ["InstructionObservation"]

Obs = dict[str, NDArray[np.generic]]


class InstructionObservation(gym.Wrapper[Obs, Any, Obs, Any]):
    """Add ``"instruction"``: the embedding of the user's latest instruction, to a feed env.

    ## Observation Space
    The wrapped env's ``Dict`` plus:

    | key | space | dtype | meaning |
    |---|---|---|---|
    | ``instruction`` | Box(-1, 1, (384,)) | float32 | all-MiniLM-L6-v2 embedding (unit norm) of the latest instruction; zeros before the first |

    ## Information
    The wrapped env's keys; ``instruction`` (text, "" before the first) is added to ``reset``'s
    info and kept in every step's info.

    ## Arguments
    ```python
    env = InstructionObservation(gym.make("recoworld/ShortVideo-v0", user_model=hybrid_user))
    ```
    ``embedder``: a :class:`SentenceEmbedder` (default: a new one; the model loads once per
    process).
    """

    def __init__(self, env: gym.Env[Obs, Any], embedder: SentenceEmbedder | None = None) -> None:
        super().__init__(env)
        if not isinstance(env.observation_space, spaces.Dict):
            raise ConfigError(
                f"InstructionObservation wraps Dict-observation feed envs, got "
                f"{type(env.observation_space).__name__}"
            )
        self.embedder: SentenceEmbedder = embedder if embedder is not None else SentenceEmbedder()
        box = spaces.Box(-1.0, 1.0, shape=(self.embedder.dim,), dtype=np.float32)
        self.observation_space = spaces.Dict({**env.observation_space.spaces, "instruction": box})
        self._vector: NDArray[np.float32] = np.zeros(self.embedder.dim, dtype=np.float32)
        self._text: str = ""

    def _with_instruction(self, obs: Obs) -> Obs:
        return {**obs, "instruction": self._vector.copy()}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Obs, dict[str, Any]]:
        """Reset the env and forget the previous user's instruction."""
        obs, info = self.env.reset(seed=seed, options=options)
        self._vector = np.zeros(self.embedder.dim, dtype=np.float32)
        self._text = ""
        info["instruction"] = ""
        return self._with_instruction(obs), info

    def step(self, action: Any) -> tuple[Obs, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the env; embed the instruction when the user wrote a new one."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        if bool(info.get("new_instruction", False)):
            self._text = str(info.get("instruction", ""))
            vec = self.embedder.encode([self._text])[0]
            self._vector = np.clip(vec, -1.0, 1.0).astype(np.float32)
        info["instruction"] = self._text
        return self._with_instruction(obs), reward, terminated, truncated, info
