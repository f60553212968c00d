"""Stable-Baselines3 agents for the feed: a candidate-scoring PPO policy and its agent wrapper.

A flat MLP over ``K x F`` candidate features has to learn the same scoring function K times. The
:class:`CandidateScoringPolicy` instead scores every candidate with one shared MLP over (candidate
features, user features, pooled history) and uses the scores directly as the action logits
(permutation-equivariant), while the value head reads pooled features. Observations are the
environment's own ``Dict`` of boxes, so any SB3 algorithm with ``MultiInputPolicy`` also works.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from numpy.typing import NDArray
from stable_baselines3 import PPO
from stable_baselines3.common.policies import MultiInputActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from recoworld.errors import ConfigError, DataError, DatasetNotFoundError

__all__ = ["CandidateScorer", "CandidateScoringPolicy", "FeedPPOAgent"]


def _shape(space: gym.Space[Any]) -> tuple[int, ...]:
    if space.shape is None:
        raise ConfigError(f"the feed observation needs fixed-shape boxes, got {space}")
    return tuple(int(x) for x in space.shape)


class CandidateScorer(BaseFeaturesExtractor):
    """Features ``[score_1..score_K, context]``: a shared MLP score per candidate, then pooling."""

    def __init__(self, observation_space: gym.spaces.Dict, hidden: int = 64) -> None:
        k, f = _shape(observation_space["candidates"])
        (u,) = _shape(observation_space["user"])
        _, g = _shape(observation_space["history"])
        self.pool_size = int(k)
        super().__init__(observation_space, features_dim=int(k) + hidden)
        self.history = nn.Sequential(nn.Linear(g, hidden), nn.Tanh())
        self.scorer = nn.Sequential(
            nn.Linear(f + u + hidden, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh()
        )
        self.score = nn.Linear(hidden, 1)
        self.context = nn.Sequential(nn.Linear(hidden + u + hidden, hidden), nn.Tanh())

    def forward(self, obs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-candidate scores followed by a pooled context vector."""
        cand, user, hist = obs["candidates"], obs["user"], obs["history"]
        valid = hist[:, :, :1]
        pooled = (self.history(hist) * valid).sum(1) / valid.sum(1).clamp(min=1.0)
        k = cand.shape[1]
        joint = torch.cat(
            [cand, user[:, None, :].expand(-1, k, -1), pooled[:, None, :].expand(-1, k, -1)], 2
        )
        hidden = self.scorer(joint)
        scores = self.score(hidden).squeeze(-1)
        context = self.context(torch.cat([hidden.mean(1), user, pooled], 1))
        return torch.cat([scores, context], 1)


class _FirstK(nn.Module):
    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, : self.k]


class CandidateScoringPolicy(MultiInputActorCriticPolicy):
    """Actor-critic whose action logits are the :class:`CandidateScorer` scores themselves."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("features_extractor_class", CandidateScorer)
        kwargs.setdefault("net_arch", {"pi": [], "vf": [64]})
        kwargs.setdefault("share_features_extractor", True)
        super().__init__(*args, **kwargs)

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        k = int(getattr(self.action_space, "n", 0))
        self.action_net = _FirstK(k)
        opt: Any = self.optimizer_class
        self.optimizer = opt(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)


class FeedPPOAgent:
    """PPO with the candidate-scoring policy; ``learn``/``predict``/``action_dist``/``save``/``load``."""

    def __init__(
        self,
        env: Any,
        seed: int = 0,
        learning_rate: float = 3e-4,
        n_steps: int = 256,
        batch_size: int = 512,
        n_epochs: int = 4,
        gamma: float = 0.97,
        ent_coef: float = 0.01,
        clip_range: float = 0.2,
        target_kl: float | None = None,
        model: PPO | None = None,
    ) -> None:
        if model is not None:
            self.model = model
            return
        self.model = PPO(
            CandidateScoringPolicy,
            env,
            learning_rate=learning_rate,
            n_steps=n_steps,
            batch_size=batch_size,
            n_epochs=n_epochs,
            gamma=gamma,
            ent_coef=ent_coef,
            clip_range=clip_range,
            target_kl=target_kl,
            seed=seed,
            device="cpu",
            verbose=0,
        )

    def learn(self, total_timesteps: int, callback: Any = None) -> FeedPPOAgent:
        """Train for ``total_timesteps`` environment steps."""
        self.model.learn(total_timesteps=total_timesteps, callback=callback)
        return self

    def _tensor_obs(self, obs: dict[str, NDArray[Any]]) -> tuple[Any, bool]:
        single = np.asarray(obs["candidates"]).ndim == 2
        batch = {k: (np.asarray(v)[None] if single else np.asarray(v)) for k, v in obs.items()}
        tensor, _ = self.model.policy.obs_to_tensor(batch)
        return tensor, single

    def action_dist(self, obs: dict[str, NDArray[Any]]) -> NDArray[np.float64]:
        """Softmax of the policy's logits, ``(K,)`` or ``(N, K)``."""
        tensor, single = self._tensor_obs(obs)
        with torch.no_grad():
            dist: Any = self.model.policy.get_distribution(tensor)
            probs = dist.distribution.probs
        out = np.asarray(probs.cpu().numpy(), dtype=np.float64)
        return out[0] if single else out

    def predict(self, obs: dict[str, NDArray[Any]]) -> Any:
        """Greedy action (highest score): an int, or ``(N,)`` int64 for a batch."""
        tensor, single = self._tensor_obs(obs)
        with torch.no_grad():
            dist: Any = self.model.policy.get_distribution(tensor)
            logits = dist.distribution.logits
        act = logits.argmax(dim=1).cpu().numpy().astype(np.int64)
        return int(act[0]) if single else act

    def update(self, obs: dict[str, NDArray[Any]], action: Any, reward: Any) -> None:
        """No online learning during evaluation (PPO learns in :meth:`learn`)."""

    def save(self, path: str | Path) -> None:
        """Save the SB3 model (a ``.zip``)."""
        self.model.save(str(path))

    @classmethod
    def load(cls, path: str | Path, env: Any = None) -> FeedPPOAgent:
        """Load a model saved by :meth:`save`."""
        file = Path(path)
        if file.is_dir():
            raise DatasetNotFoundError(
                f"PPO checkpoint {file} is a folder; pass the .zip file FeedPPOAgent.save wrote"
            )
        if not file.is_file() and file.with_suffix(".zip").is_file():
            file = file.with_suffix(".zip")
        if not file.is_file():
            raise DatasetNotFoundError(
                f"PPO checkpoint {file} not found; train one with FeedPPOAgent.learn and save it "
                "(or benchmarks/bench_feed.py train)"
            )
        try:
            model = PPO.load(str(file), env=env, device="cpu")
        except Exception as exc:  # SB3 raises several types for a file that is not its zip
            raise DataError(
                f"PPO checkpoint {file} is corrupt or not a model saved by FeedPPOAgent.save "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        return cls(env, model=model)
