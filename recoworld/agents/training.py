"""Training and loading of the learned conversational agents by name (``recoworld train``).

``recoworld train --env ID --agent NAME --seed S --out DIR`` writes into ``DIR``:

* ``config.json``: the resolved settings (every field, defaults included);
* ``checkpoint.pt``: the full training state, saved periodically; rerunning the same command
  resumes from it after an interruption;
* ``agent.pt``: the trained agent (what ``recoworld evaluate --checkpoint`` loads);
* ``train.json``: training time and the model-selection history.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from recoworld.agents.crm import CRMAgent, CRMConfig
from recoworld.agents.crs_base import CRSAgent, config_from_dict
from recoworld.agents.ear import EARAgent, EARConfig
from recoworld.agents.fm import FMConfig, FMEmbeddings
from recoworld.agents.scpr import SCPRAgent, SCPRConfig
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.errors import ConfigError

__all__ = [
    "TRAINABLE_AGENTS",
    "load_trained_agent",
    "make_trainable_agent",
    "run_train_command",
    "train_or_load",
]

TRAINABLE_AGENTS: tuple[str, ...] = ("ear", "scpr", "crm", "sb3-ppo", "sb3-dqn")


def _classes(name: str) -> tuple[Any, type[Any]]:
    if name == "scpr":
        return SCPRAgent, SCPRConfig
    if name == "ear":
        return EARAgent, EARConfig
    if name == "crm":
        return CRMAgent, CRMConfig
    if name in ("sb3-ppo", "sb3-dqn"):
        from recoworld.agents.sb3 import SB3Agent, SB3Config

        return SB3Agent, SB3Config
    raise ConfigError(f"unknown trainable agent {name!r}; known: {list(TRAINABLE_AGENTS)}")


def _read_config(name: str, path: str | None, overrides: dict[str, Any]) -> Any:
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
    return config_from_dict(config_cls, values, {"fm": FMConfig})


def make_trainable_agent(
    name: str,
    world: AttributeGraphWorld,
    config: Any = None,
    seed: int = 0,
    embeddings: FMEmbeddings | None = None,
) -> Any:
    """Build an untrained agent ``name`` (one of :data:`TRAINABLE_AGENTS`)."""
    agent_cls, config_cls = _classes(name)
    cfg = config if config is not None else config_cls()
    if name.startswith("sb3-"):
        return agent_cls(world, cfg, seed=seed, embeddings=embeddings, algorithm=name[4:])
    return agent_cls(world, cfg, seed=seed, embeddings=embeddings)


def load_trained_agent(name: str, path: str | Path, world: AttributeGraphWorld) -> CRSAgent:
    """Load the agent ``name`` saved at ``path`` (``agent.pt`` or ``checkpoint.pt``)."""
    agent_cls, _ = _classes(name)
    agent: CRSAgent = agent_cls.load(path, world)
    return agent


def train_or_load(
    name: str,
    world: AttributeGraphWorld,
    seed: int,
    cache_dir: str | Path,
    config: Any = None,
) -> CRSAgent:
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
    trained: CRSAgent = agent
    return trained


def run_train_command(args: argparse.Namespace) -> int:
    """``recoworld train``: train (or resume) one agent and write its files into ``--out``."""
    import gymnasium
    import torch

    torch.set_num_threads(max(1, int(args.threads)))
    kwargs: dict[str, Any] = {}
    if args.data_dir is not None:
        kwargs["data_dir"] = args.data_dir
    env = gymnasium.make(args.env, **kwargs)
    world: AttributeGraphWorld = env.unwrapped.world  # type: ignore[attr-defined]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoint.pt"
    agent_cls, _ = _classes(args.agent)
    overrides: dict[str, Any] = {}
    if args.episodes is not None:
        overrides["episodes"] = args.episodes
    if ckpt.is_file() and not args.restart:
        agent = agent_cls.load(ckpt, world)
        if args.episodes is not None:
            # A larger budget extends the run (exploration schedules follow the new total).
            agent.config = dataclasses.replace(agent.config, episodes=args.episodes)
        print(f"resuming from {ckpt} at {agent.episodes_done} sessions", file=sys.stderr)
    else:
        config = _read_config(args.agent, args.config, overrides)
        emb = None
        if args.fm_embeddings is not None:
            emb = FMEmbeddings.from_scpr_release(args.fm_embeddings, world)
        agent = make_trainable_agent(args.agent, world, config, args.seed, emb)
    (out / "config.json").write_text(
        json.dumps(dataclasses.asdict(agent.config), indent=2, sort_keys=True) + "\n"
    )
    start = time.perf_counter()
    agent.learn(progress=not args.quiet, checkpoint_path=ckpt, checkpoint_every=args.checkpoint_every)
    wall = time.perf_counter() - start
    if isinstance(agent, SCPRAgent):
        agent.save(out / "agent.pt", replay=False)
    else:
        agent.save(out / "agent.pt")
    summary = {
        "env": args.env,
        "agent": args.agent,
        "seed": agent.seed,
        "train_seconds": agent.train_seconds,
        "wall_seconds_this_run": wall,
        "selection_history": [list(x) for x in agent.selection_history],
        "best_holdout_sr": agent.best_score,
        "checkpoint": str(out / "agent.pt"),
    }
    (out / "train.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    print(
        f"trained {args.agent} on {args.env} in {agent.train_seconds:.1f} s; "
        f"best held-out SR {agent.best_score:.4f}; wrote {out / 'agent.pt'}"
    )
    if args.json:
        sys.stdout.write(json.dumps(summary, sort_keys=True) + "\n")
    return 0
