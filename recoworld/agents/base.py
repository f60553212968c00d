"""The one surface every conversational agent offers, stable-baselines3 style.

An :class:`Agent` is built with a world (and settings), then:

* ``learn(env=None, episodes=None, ...)`` trains in the environment it is handed: any
  :class:`~recoworld.envs.ConversationalRecEnv` (or a Gymnasium wrapper of one) with any
  :class:`~recoworld.users.ConversationalUser` (statistical, noisy, LLM-driven or written by the
  caller), any reward set, any training split and either candidate protocol (``reject_filter``).
  ``env=None`` trains on the world's ``valid`` split with the published protocol, as the papers do.
  Rule agents learn nothing and return at once.
* ``predict(obs)`` returns the environment action for the base environment's observation;
* ``action_dist(obs)`` the probabilities over the flat action set (every question, then
  "recommend") that ``predict`` draws from -- what :func:`recoworld.estimators.collect` logs;
* ``to_action(flat, obs)`` turns a flat index into the environment action, so that a caller
  drawing from ``action_dist`` (the collector) acts exactly as the agent would;
* ``save(path)`` and the class method ``load(path, world)``.

``predict`` and ``action_dist`` read nothing but the observation and what earlier observations
of the same session implied (EAR's reflection, the SB3 adapters' turn history); calling both on
the same observation, in either order and any number of times, gives the same decision.

Model selection (the learned agents keep the weights that score best) always runs on held-out
``valid`` sessions, never on ``test``; when the training split is ``valid`` those sessions are
kept out of training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import gymnasium
import numpy as np
import numpy.typing as npt

from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs.conversational import ConversationalRecEnv, RewardConfig
from recoworld.errors import ConfigError

__all__ = ["Agent", "conversational_env"]


@runtime_checkable
class Agent(Protocol):
    """What every conversational agent offers (rule agents, SCPR, EAR, CRM, the SB3 adapters)."""

    def learn(self, env: gymnasium.Env[Any, Any] | None = None, episodes: int | None = None) -> Any:
        """Train in ``env`` (``None`` = the world's ``valid`` split) up to ``episodes`` sessions."""
        ...

    def predict(self, obs: dict[str, Any]) -> dict[str, Any]:
        """Return the base-environment action to take at ``obs``."""
        ...

    def action_dist(self, obs: dict[str, Any]) -> npt.NDArray[np.float64]:
        """Return probabilities over the flat action set (each question, then "recommend")."""
        ...

    def to_action(self, flat: int, obs: dict[str, Any]) -> dict[str, Any]:
        """Return the base-environment action of flat index ``flat`` at ``obs``."""
        ...

    def save(self, path: str | Path) -> None:
        """Write the agent to ``path`` (read back with the class method ``load(path, world)``)."""
        ...


def conversational_env(
    env: gymnasium.Env[Any, Any] | None,
    world: AttributeGraphWorld,
    rec_size: int,
    max_turns: int | None,
    what: str = "env",
) -> gymnasium.Env[Any, Any]:
    """The environment an agent of ``world`` trains in: ``env`` checked, or the default one.

    ``None`` gives the world's ``valid`` split with SCPR's rewards and the published protocol.
    Otherwise ``env`` must be a :class:`ConversationalRecEnv` or a Gymnasium wrapper of one (it is
    used as given, so reward or observation wrappers apply), over a world of the same shape as the
    agent's, with the agent's ``rec_size`` and ``max_turns`` (``None`` = any horizon; the default
    environment then has the published 15 turns).

    Raises:
        ConfigError: ``env`` is batched, not conversational, or does not fit the agent.

    """
    if env is None:
        return ConversationalRecEnv(
            world, rewards=RewardConfig(), split="valid", max_turns=max_turns or 15,
            rec_size=rec_size,
        )
    if isinstance(env, gymnasium.vector.VectorEnv):
        raise ConfigError(
            f"`{what}` is a batched {type(env).__name__}; learn() takes one ConversationalRecEnv "
            "(or a wrapper of one) for now"
        )
    base = getattr(env, "unwrapped", None)
    if not isinstance(base, ConversationalRecEnv):
        raise ConfigError(
            f"`{what}` must be a ConversationalRecEnv or a wrapper of one, got "
            f"{type(env).__name__} over {type(base).__name__}"
        )
    want, got = world.summary(), base.world.summary()
    if want != got:
        raise ConfigError(
            f"`{what}` converses in world {base.world.name!r} {got}, the agent was built for "
            f"{world.name!r} {want}; build the agent with the env's world"
        )
    for name, mine, theirs in (("rec_size", rec_size, base.rec_size),
                               ("max_turns", max_turns, base.max_turns)):
        if mine is not None and mine != theirs:
            raise ConfigError(
                f"`{what}` has {name}={theirs} but the agent's config has {name}={mine}; "
                f"set the same {name} on both"
            )
    return env
