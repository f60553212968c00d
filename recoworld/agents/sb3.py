"""stable-baselines3 PPO and DQN trained on the conversational wrappers.

The model learns on :class:`~recoworld.envs.crs_wrappers.AskOrRecommendWrapper` (SCPR's
``Discrete(2)`` decision, items ranked by the FM score, the question by weighted entropy) or on
:class:`~recoworld.envs.crs_wrappers.AttributeOrRecommendWrapper` (EAR's action set), put around
the environment handed to :meth:`SB3Agent.learn` (by default the ``valid`` sessions of the
published protocol; the held-out model-selection sessions are never trained on).
:class:`SB3Agent` then acts on the *base* environment like every other conversational agent: it
keeps a shadow wrapper whose turn history it rebuilds from successive observations of a session
(a question asked or not, the candidates accepted or not), so the history depends on the
observations only: ``predict``, ``action_dist`` and ``to_action`` may be called any number of
times per observation, in any order.

stable-baselines3 seeds Python's, numpy's and torch's global generators; the agent saves and
restores them around every call into the library so that nothing outside it is disturbed.
Checkpoints hold the policy's tensors (no pickled code); resuming restores the weights and the
optimiser but not a DQN's replay buffer.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import gymnasium
import numpy as np
import numpy.typing as npt
import torch

from recoworld._validate import require_range
from recoworld.agents.base import conversational_env
from recoworld.agents.crs_base import (
    check_world,
    checkpoint_header,
    config_from_dict,
    embeddings_from_payload,
    embeddings_payload,
    learning_sessions,
    load_checkpoint,
    save_checkpoint,
    success_rate,
)
from recoworld.agents.fm import FMConfig, FMEmbeddings, FMScorer, train_fm
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs.conversational import ASK, ConversationalRecEnv
from recoworld.envs.crs_wrappers import AskOrRecommendWrapper, AttributeOrRecommendWrapper
from recoworld.errors import ConfigError, InvalidActionError

__all__ = ["SB3Agent", "SB3Config"]

_ASK_ACCEPTED, _ASK_REJECTED, _REC_REJECTED = 1.0, -1.0, -0.5  # the wrappers' history codes

ActionSet = Literal["ask-or-recommend", "attribute-or-recommend"]


@dataclass(frozen=True)
class SB3Config:
    """Settings of :class:`SB3Agent`.

    Attributes:
        episodes: Training sessions (drawn at random from the training environment's split).
        action_set: ``"ask-or-recommend"`` (SCPR's) or ``"attribute-or-recommend"`` (EAR's).
        weighted_entropy: Weight items by the sigmoid of their FM score in the question entropy.
        learning_rate: Adam learning rate.
        gamma: Discount factor.
        hidden: Width of the two hidden layers of the policy / Q network.
        n_steps: PPO rollout length per update.
        batch_size: Minibatch size (PPO and DQN).
        buffer_size: DQN replay capacity.
        learning_starts: DQN transitions collected before learning.
        exploration_fraction: Fraction of training over which DQN's epsilon decays.
        target_update_interval: DQN environment steps between target-network copies.
        holdout_fraction: Part of ``valid`` kept out of training for the final held-out success
            rate.
        eval_sessions: Held-out sessions scored after training.
        rec_size: Items per recommendation.
        max_turns: Horizon, the user's opening counted as turn 1.
        fm: Settings of the FM embeddings trained when none are given.

    """

    episodes: int = 3000
    action_set: ActionSet = "ask-or-recommend"
    weighted_entropy: bool = True
    learning_rate: float = 3e-4
    gamma: float = 0.99
    hidden: int = 64
    n_steps: int = 512
    batch_size: int = 64
    buffer_size: int = 50_000
    learning_starts: int = 500
    exploration_fraction: float = 0.5
    target_update_interval: int = 250
    holdout_fraction: float = 0.1
    eval_sessions: int = 500
    rec_size: int = 10
    max_turns: int = 15
    fm: FMConfig = field(default_factory=FMConfig)

    def __post_init__(self) -> None:
        for name in ("episodes", "hidden", "n_steps", "batch_size", "buffer_size",
                     "target_update_interval", "rec_size"):
            require_range(name, getattr(self, name), 1)
        if self.action_set not in ("ask-or-recommend", "attribute-or-recommend"):
            raise ConfigError(
                "`action_set` must be 'ask-or-recommend' or 'attribute-or-recommend', got "
                f"{self.action_set!r}"
            )
        require_range("learning_rate", self.learning_rate, 0, low_open=True)


@contextlib.contextmanager
def _global_rng_guard() -> Iterator[None]:
    """Restore Python's, numpy's and torch's global generators after stable-baselines3 ran."""
    py_state = random.getstate()
    np_state = np.random.get_state()  # noqa: NPY002 - saved to be restored, not drawn from
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)  # noqa: NPY002


def _same_observation(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two base-environment observations are the same (same session state)."""
    return (
        int(a["user"]) == int(b["user"])
        and int(a["turn"]) == int(b["turn"])
        and all(np.array_equal(a[k], b[k]) for k in ("accepted", "rejected", "asked", "candidates"))
    )


class _TrainingSessions(gymnasium.Wrapper[Any, Any, Any, Any]):
    """Resets draw the session from ``indices`` of ``split`` (the held-out ones left out)."""

    def __init__(
        self, env: gymnasium.Env[Any, Any], split: str, indices: npt.NDArray[np.int64], seed: int
    ) -> None:
        super().__init__(env)
        self._split = split
        self._indices = indices
        self._pick = np.random.default_rng([seed, 2])

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Start a session; without ``options`` it is drawn from the training sessions."""
        if options is None:
            i = int(self._indices[self._pick.integers(self._indices.size)])
            options = {"split": self._split, "index": i}
        return self.env.reset(seed=seed, options=options)


class SB3Agent:
    """PPO or DQN from stable-baselines3 on a conversational wrapper.

    Args:
        world: The world the agent converses in.
        config: Settings (default :class:`SB3Config`).
        seed: Seeds the library's generators, the environment and the session draws.
        embeddings: FM embeddings; ``None`` = train them in :meth:`learn`.
        algorithm: ``"ppo"`` or ``"dqn"``.

    """

    def __init__(
        self,
        world: AttributeGraphWorld,
        config: SB3Config | None = None,
        seed: int = 0,
        embeddings: FMEmbeddings | None = None,
        algorithm: str = "ppo",
    ) -> None:
        if algorithm not in ("ppo", "dqn"):
            raise ConfigError(f"`algorithm` must be 'ppo' or 'dqn', got {algorithm!r}")
        self.world = world
        self.config = config or SB3Config()
        self.seed = seed
        self.algorithm = algorithm
        self.name = f"sb3-{algorithm}"
        if embeddings is not None:
            embeddings.check_world(world)
        self.embeddings = embeddings
        self.model: Any = None
        self.episodes_done = 0
        self.best_score = -1.0
        self.selection_history: list[tuple[int, float]] = []
        self.train_seconds = 0.0
        self._shadow: AskOrRecommendWrapper | AttributeOrRecommendWrapper | None = None
        self._prev: dict[str, Any] | None = None
        self._features: npt.NDArray[np.float32] | None = None

    # ---- environments --------------------------------------------------------------------------
    def _wrap(
        self, base: gymnasium.Env[Any, Any]
    ) -> AskOrRecommendWrapper | AttributeOrRecommendWrapper:
        cfg = self.config
        if self.embeddings is None:
            raise ConfigError(f"{self.name} has no FM embeddings yet: call learn() first")
        scorer = FMScorer(self.embeddings)
        if cfg.action_set == "ask-or-recommend":
            return AskOrRecommendWrapper(base, scorer, weighted_entropy=cfg.weighted_entropy)
        emb = self.embeddings

        def preference(user: int, accepted: npt.NDArray[np.int8]) -> npt.NDArray[np.float64]:
            q = emb.preference_vector(user, np.flatnonzero(accepted))
            pref: npt.NDArray[np.float64] = 1.0 / (
                1.0 + np.exp(-np.clip(emb.attribute @ q, -30, 30).astype(np.float64))
            )
            return pref

        return AttributeOrRecommendWrapper(base, scorer, attribute_preference=preference)

    def _build_model(self, env: Any) -> Any:
        cfg = self.config
        policy_kwargs = {"net_arch": [cfg.hidden, cfg.hidden]}
        with _global_rng_guard():
            if self.algorithm == "ppo":
                from stable_baselines3 import PPO

                return PPO(
                    "MlpPolicy", env, learning_rate=cfg.learning_rate, n_steps=cfg.n_steps,
                    batch_size=cfg.batch_size, gamma=cfg.gamma, seed=self.seed, verbose=0,
                    policy_kwargs=policy_kwargs, device="cpu",
                )
            from stable_baselines3 import DQN

            return DQN(
                "MlpPolicy", env, learning_rate=cfg.learning_rate, buffer_size=cfg.buffer_size,
                learning_starts=cfg.learning_starts, batch_size=cfg.batch_size, gamma=cfg.gamma,
                exploration_fraction=cfg.exploration_fraction,
                target_update_interval=cfg.target_update_interval, seed=self.seed, verbose=0,
                policy_kwargs=policy_kwargs, device="cpu",
            )

    # ---- learning ------------------------------------------------------------------------------
    def learn(
        self,
        env: gymnasium.Env[Any, Any] | None = None,
        episodes: int | None = None,
        *,
        eval_env: gymnasium.Env[Any, Any] | None = None,
        progress: bool = False,
        checkpoint_path: str | Path | None = None,
        checkpoint_every: int = 500,
    ) -> SB3Agent:
        """Train in ``env`` up to ``episodes`` sessions in total (resuming where a checkpoint stopped).

        ``env`` is any :class:`~recoworld.envs.ConversationalRecEnv` (or a wrapper of one);
        ``None`` = the world's ``valid`` split with the published protocol. Training draws the
        sessions of the env's split at random (minus the held-out ones when it is ``valid``);
        after training the greedy policy is scored on the held-out ``valid`` sessions in
        ``eval_env`` (default ``env``).
        """
        from stable_baselines3.common.callbacks import BaseCallback

        cfg = self.config
        total = cfg.episodes if episodes is None else episodes
        train_env = conversational_env(env, self.world, cfg.rec_size, cfg.max_turns)
        select_env = train_env if eval_env is None else conversational_env(
            eval_env, self.world, cfg.rec_size, cfg.max_turns, "eval_env"
        )
        split = str(train_env.unwrapped.split)  # type: ignore[attr-defined]
        train_idx, hold_idx = learning_sessions(
            self.world, split, cfg.holdout_fraction, cfg.eval_sessions, self.seed
        )
        start = time.perf_counter()
        if self.embeddings is None:
            self.embeddings = train_fm(self.world, cfg.fm, seed=self.seed)
        wrapped = self._wrap(_TrainingSessions(train_env, split, train_idx, self.seed))
        if self.model is None:
            self.model = self._build_model(wrapped)
        else:
            with _global_rng_guard():
                self.model.set_env(wrapped)
        agent = self
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=total, initial=self.episodes_done, desc=self.name, unit="ep")

        class _Sessions(BaseCallback):  # type: ignore[misc]
            def _on_step(self) -> bool:
                done = int(np.sum(self.locals["dones"]))
                if done:
                    agent.episodes_done += done
                    if bar is not None:
                        bar.update(done)
                    if checkpoint_path is not None and agent.episodes_done % checkpoint_every < done:
                        agent.save(checkpoint_path)
                return agent.episodes_done < total

        if self.episodes_done < total:
            steps = (total - self.episodes_done) * (cfg.max_turns - 1)
            with _global_rng_guard():
                self.model.learn(total_timesteps=steps, callback=_Sessions(), progress_bar=False)
        if bar is not None:
            bar.close()
        if hold_idx.size:
            self.best_score = success_rate(select_env, self, "valid", hold_idx, seed=self.seed)
        self.selection_history.append((self.episodes_done, self.best_score))
        self.train_seconds += time.perf_counter() - start
        if checkpoint_path is not None:
            self.save(checkpoint_path)
        return self

    # ---- acting on the base environment --------------------------------------------------------
    @property
    def n_actions(self) -> int:
        """Size of the flat action set: every question plus "recommend"."""
        return self.world.n_questions + 1

    def _observe(self, obs: dict[str, Any]) -> npt.NDArray[np.float32]:
        """The wrapper's features at ``obs``, the turn history rebuilt from the observations."""
        if self._shadow is None:
            cfg = self.config
            self._shadow = self._wrap(
                ConversationalRecEnv(self.world, split="valid", max_turns=cfg.max_turns,
                                     rec_size=cfg.rec_size)
            )
        w = self._shadow
        prev = self._prev
        if prev is not None and self._features is not None and _same_observation(prev, obs):
            w._refresh(obs)
            return self._features
        turn = int(obs["turn"])
        if prev is None or int(obs["user"]) != int(prev["user"]) or turn != int(prev["turn"]) + 1:
            w.state.reset()
        elif np.count_nonzero(obs["asked"]) > np.count_nonzero(prev["asked"]):
            grew = np.count_nonzero(obs["accepted"]) > np.count_nonzero(prev["accepted"])
            w.state.record(_ASK_ACCEPTED if grew else _ASK_REJECTED)
        else:
            w.state.record(_REC_REJECTED)
        self._prev = obs
        w._refresh(obs)
        self._features = w._features()
        return self._features

    def _flat_choice(self, obs: dict[str, Any]) -> int:
        if self.model is None:
            raise ConfigError(f"{self.name} is not trained: call learn() or load()")
        feat = self._observe(obs)
        with _global_rng_guard():
            a, _ = self.model.predict(feat, deterministic=True)
        a = int(a)
        w = self._shadow
        assert w is not None
        if isinstance(w, AskOrRecommendWrapper):
            q = w.chosen_question()
            return q if a == ASK and q >= 0 else self.world.n_questions
        if a < self.world.n_questions and w.action_mask()[a]:
            return a
        return self.world.n_questions

    def to_action(self, flat: int, obs: dict[str, Any]) -> dict[str, Any]:
        """Return the base-environment action of flat index ``flat`` at ``obs``."""
        self._observe(obs)
        w = self._shadow
        assert w is not None
        if flat == self.world.n_questions:
            return w._recommend_action()
        if not 0 <= flat < self.world.n_questions:
            raise InvalidActionError(f"`flat` must be in [0, {self.n_actions}), got {flat}")
        return w.base.ask(int(flat))

    def predict(self, obs: dict[str, Any]) -> dict[str, Any]:
        """Return the greedy base-environment action."""
        return self.to_action(self._flat_choice(obs), obs)

    def action_dist(self, obs: dict[str, Any]) -> npt.NDArray[np.float64]:
        """Return the greedy policy's probabilities over the flat action set (one-hot)."""
        p = np.zeros(self.n_actions)
        p[self._flat_choice(obs)] = 1.0
        return p

    # ---- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the policy's tensors, embeddings and settings to ``path``."""
        if self.model is None or self.embeddings is None:
            raise ConfigError(f"{self.name} has nothing to save before learn()")
        emb = self.embeddings
        payload: dict[str, Any] = {
            **checkpoint_header(self.name, self.config, self.seed, self.world),
            "policy": self.model.policy.state_dict(),
            "optimizer": self.model.policy.optimizer.state_dict(),
            "episodes_done": self.episodes_done,
            "best_score": self.best_score,
            "selection_history": [list(x) for x in self.selection_history],
            "train_seconds": self.train_seconds,
            "embeddings": embeddings_payload(emb),
        }
        save_checkpoint(path, payload)

    @classmethod
    def load(cls, path: str | Path, world: AttributeGraphWorld) -> SB3Agent:
        """Rebuild an agent saved by :meth:`save` (PPO or DQN, read from the file)."""
        payload = load_checkpoint(path, ("sb3-ppo", "sb3-dqn"))
        check_world(payload, world, path)
        config = config_from_dict(SB3Config, payload["config"], {"fm": FMConfig})
        emb = embeddings_from_payload(payload["embeddings"])
        agent = cls(world, config, seed=int(payload["seed"]), embeddings=emb,
                    algorithm=str(payload["agent"])[4:])
        cfg = agent.config
        agent.model = agent._build_model(
            agent._wrap(ConversationalRecEnv(world, split="valid", max_turns=cfg.max_turns,
                                             rec_size=cfg.rec_size))
        )
        agent.model.policy.load_state_dict(payload["policy"])
        agent.model.policy.optimizer.load_state_dict(payload["optimizer"])
        agent.episodes_done = int(payload["episodes_done"])
        agent.best_score = float(payload["best_score"])
        agent.selection_history = [(int(a), float(b)) for a, b in payload["selection_history"]]
        agent.train_seconds = float(payload["train_seconds"])
        return agent
