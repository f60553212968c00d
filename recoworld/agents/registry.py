"""Agents by name: the rule and learned conversational agents, for the command line and suites.

:func:`make_agent` builds any conversational agent by name (rule agents directly, learned ones
from a checkpoint); :func:`make_trainable_agent`, :func:`load_trained_agent` and
:func:`train_or_load` build, load and train the learned ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recoworld.agents.base import Agent
from recoworld.agents.crm import CRMAgent, CRMConfig
from recoworld.agents.crs_base import config_from_dict
from recoworld.agents.ear import EARAgent, EARConfig
from recoworld.agents.fm import FMConfig, FMEmbeddings
from recoworld.agents.scpr import SCPRAgent, SCPRConfig
from recoworld.agents.transe import TransEConfig
from recoworld.agents.unicorn import UNICORNAgent, UNICORNConfig
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.errors import ConfigError
from recoworld.registration import CRS_RULE_AGENTS, CRS_TRAINABLE_AGENTS, canonical_agent_name

__all__ = [
    "RULE_AGENTS",
    "TRAINABLE_AGENTS",
    "load_trained_agent",
    "make_agent",
    "make_trainable_agent",
    "read_agent_config",
    "train_or_load",
]

RULE_AGENTS = CRS_RULE_AGENTS
TRAINABLE_AGENTS = CRS_TRAINABLE_AGENTS


def _classes(name: str) -> tuple[Any, type[Any]]:
    name = canonical_agent_name(name)
    if name == "scpr":
        return SCPRAgent, SCPRConfig
    if name == "ear":
        return EARAgent, EARConfig
    if name == "crm":
        return CRMAgent, CRMConfig
    if name == "unicorn":
        return UNICORNAgent, UNICORNConfig
    if name in ("sb3-ppo", "sb3-dqn"):
        from recoworld.agents.sb3 import SB3Agent, SB3Config

        return SB3Agent, SB3Config
    raise ConfigError(f"unknown trainable agent {name!r}; known: {', '.join(TRAINABLE_AGENTS)}")


def read_agent_config(name: str, path: str | None, overrides: dict[str, Any]) -> Any:
    """The config of agent ``name``: the JSON file ``path`` (if any) updated by ``overrides``."""
    _, config_cls = _classes(name)
    values: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"`--config` file {p} does not exist")
        try:
            values = json.loads(p.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(f"`--config` file {p} is not valid JSON: {exc}") from exc
        if not isinstance(values, dict):
            raise ConfigError(f"`--config` file {p} must hold a JSON object")
    values.update(overrides)
    return config_from_dict(config_cls, values, {"fm": FMConfig, "transe": TransEConfig})


def make_trainable_agent(
    name: str,
    world: AttributeGraphWorld,
    config: Any = None,
    seed: int = 0,
    embeddings: FMEmbeddings | None = None,
) -> Any:
    """Build an untrained agent ``name`` (one of :data:`TRAINABLE_AGENTS`)."""
    name = canonical_agent_name(name)
    agent_cls, config_cls = _classes(name)
    cfg = config if config is not None else config_cls()
    if name.startswith("sb3-"):
        return agent_cls(world, cfg, seed=seed, embeddings=embeddings, algorithm=name[4:])
    return agent_cls(world, cfg, seed=seed, embeddings=embeddings)


def load_trained_agent(name: str, path: str | Path, world: AttributeGraphWorld) -> Agent:
    """Load the agent ``name`` saved at ``path``.

    ``path`` is an ``agent.pt`` or ``checkpoint.pt`` file, or the ``recoworld train --out``
    folder (its ``agent.pt`` is read).
    """
    agent_cls, _ = _classes(name)
    agent: Agent = agent_cls.load(path, world)  # load_checkpoint reads a folder's agent.pt
    return agent


def train_or_load(
    name: str,
    world: AttributeGraphWorld,
    seed: int,
    cache_dir: str | Path,
    config: Any = None,
) -> Agent:
    """Return agent ``name`` trained on ``world`` with ``seed``, training it once per cache.

    The trained agent is kept at ``cache_dir/<world>-<name>-seed<seed>.pt``; an interrupted
    training resumes from ``...pt.partial``. Benchmark suites call this from every unit that
    needs the agent, so only the first one trains.
    """
    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{world.name}-{name}-seed{seed}.pt"
    if final.is_file():
        return load_trained_agent(name, final, world)
    partial = final.with_name(final.name + ".partial")
    agent_cls, _ = _classes(name)
    if partial.is_file():
        agent = agent_cls.load(partial, world)
    else:
        agent = make_trainable_agent(name, world, config, seed)
    agent.learn(checkpoint_path=partial)
    agent.save(final)
    partial.unlink(missing_ok=True)
    trained: Agent = agent
    return trained


def make_agent(
    name: str, world: AttributeGraphWorld, seed: int = 0, checkpoint: str | Path | None = None
) -> Agent:
    """Build a conversational agent by name: a rule agent, or a learned one from ``checkpoint``."""
    from recoworld.agents.rules import make_rule_agent

    name = canonical_agent_name(name)
    if name in RULE_AGENTS:
        if checkpoint is not None:
            raise ConfigError(f"rule agent {name!r} takes no checkpoint")
        return make_rule_agent(name, world, seed=seed)
    if name in TRAINABLE_AGENTS:
        if checkpoint is None:
            raise ConfigError(
                f"agent {name!r} is learned: pass --checkpoint PATH (the agent.pt written by "
                f"`recoworld train --agent {name}`)"
            )
        return load_trained_agent(name, checkpoint, world)
    raise ConfigError(
        f"unknown agent {name!r} for conversational envs; known: "
        f"{', '.join([*RULE_AGENTS, *TRAINABLE_AGENTS])}"
    )
