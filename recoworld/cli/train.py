"""``recoworld train``: train a learned conversational agent, resumably.

``recoworld train --env ID --agent NAME --seed S --out DIR`` writes into ``DIR``:

* ``config.json``: the run's settings: env, agent, seed, the user it trains against and its
  settings (``--user``, ``--user-config``), the candidate protocol (``--reject-filter``) and every
  agent setting (``agent_config``, defaults included);
* ``checkpoint.pt``: the full training state, saved periodically; rerunning the same command
  resumes from it after an interruption;
* ``agent.pt``: the trained agent (what ``recoworld evaluate --checkpoint DIR`` loads);
* ``train.json``: training time and the model-selection history, written last (a folder holding
  it is a finished run).

``DIR`` is created and checked for writing before anything is computed; every file is written
atomically.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from recoworld.cli._common import (
    Runner,
    SubParsers,
    add_user_arguments,
    data_kwargs,
    env_help,
    nonnegative_int,
    positive_int,
    print_json,
)

__all__ = ["add"]

_DESCRIPTION = """\
Train a learned conversational agent: FM embeddings on the train split, RL on the valid split's
sessions, model selection on a held-out part of valid. Writes config.json, checkpoint.pt (rerun
the same command to resume), agent.pt and train.json into --out.

example:
  recoworld train --env recoworld/LastFM-CRS-v0 --agent scpr --seed 0 --out runs/scpr
  recoworld evaluate --env recoworld/LastFM-CRS-v0 --agent scpr --checkpoint runs/scpr"""


def add(sub: SubParsers) -> Runner:
    """Declare ``train``."""
    from recoworld.registration import (
        CONVERSATIONAL_IDS,
        CRS_TRAINABLE_AGENTS,
        canonical_agent_name,
    )

    p = sub.add_parser(
        "train",
        help=f"train a conversational agent ({', '.join(CRS_TRAINABLE_AGENTS)}); resumable",
        description=_DESCRIPTION,
    )
    p.add_argument(
        "--env", required=True, choices=tuple(CONVERSATIONAL_IDS), metavar="ID",
        help=f"environment id; {env_help('conversational')}",
    )
    p.add_argument(
        "--agent", required=True, type=canonical_agent_name, choices=CRS_TRAINABLE_AGENTS,
        help="agent to train",
    )
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of every random draw")
    p.add_argument("--out", required=True, help="output folder (checkpoints, config, logs)")
    p.add_argument(
        "--episodes", type=positive_int, default=None, metavar="N",
        help="training sessions (default: the agent's own)",
    )
    p.add_argument("--config", default=None, help="JSON file of agent settings")
    p.add_argument(
        "--fm-embeddings", default=None, metavar="PKL",
        help="SCPR's released FM pickle instead of training FM",
    )
    p.add_argument(
        "--checkpoint-every", type=positive_int, default=500, metavar="N",
        help="sessions between checkpoints",
    )
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    p.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--data-dir", default=None, help="dataset root (default: $RECOWORLD_DATA)")
    add_user_arguments(p)
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    return run


# Settings of an LLM user that may change between a run and its resumption (transport only).
_TRANSPORT = ("base_url", "cache", "cache_mode", "timeout_s", "max_retries", "backoff_s",
              "max_concurrency")


def _same_user(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return {k: v for k, v in a.items() if k not in _TRANSPORT} == {
        k: v for k, v in b.items() if k not in _TRANSPORT
    }


def run(args: argparse.Namespace) -> int:
    """``recoworld train``: train (or resume) one agent and write its files into ``--out``."""
    from recoworld.outputs import prepare_output_dir

    out = prepare_output_dir(args.out)  # before anything is loaded or computed

    import gymnasium
    import torch

    from recoworld.agents.fm import FMEmbeddings
    from recoworld.agents.learner import LearnedCRSAgent
    from recoworld.agents.registry import _classes, make_trainable_agent, read_agent_config
    from recoworld.agents.unicorn import UNICORNAgent
    from recoworld.datasets.world import AttributeGraphWorld
    from recoworld.outputs import atomic_write_json
    from recoworld.users.registry import open_conversational_user, read_user_config, user_spec

    torch.set_num_threads(max(1, int(args.threads)))
    probe = gymnasium.make(args.env, **data_kwargs(args))
    world: AttributeGraphWorld = probe.unwrapped.world  # type: ignore[attr-defined]
    spec = user_spec(args.user, read_user_config(args.user_config), args.base_url)
    protocol = "reject-filter" if args.reject_filter else "published"
    ckpt = out / "checkpoint.pt"
    agent_cls, _ = _classes(args.agent)
    overrides: dict[str, Any] = {}
    if args.episodes is not None:
        overrides["episodes"] = args.episodes
    if ckpt.is_file() and not args.restart:
        _check_resume(out, spec.to_json(), protocol)
        agent = agent_cls.load(ckpt, world)
        if args.episodes is not None:
            # A larger budget extends the run (exploration schedules follow the new total).
            agent.config = dataclasses.replace(agent.config, episodes=args.episodes)
        print(f"resuming from {ckpt} at {agent.episodes_done} sessions", file=sys.stderr)
    else:
        config = read_agent_config(args.agent, args.config, overrides)
        emb = None
        if args.fm_embeddings is not None:
            emb = FMEmbeddings.from_scpr_release(args.fm_embeddings, world)
        agent = make_trainable_agent(args.agent, world, config, args.seed, emb)
    run_config = {
        "env": args.env,
        "agent": args.agent,
        "seed": agent.seed,
        "user": spec.to_json(),
        "protocol": protocol,
        "agent_config": dataclasses.asdict(agent.config),
    }
    # This run is not finished until these two are written again (at the end).
    (out / "train.json").unlink(missing_ok=True)
    (out / "agent.pt").unlink(missing_ok=True)
    atomic_write_json(out / "config.json", run_config)
    start = time.perf_counter()
    with open_conversational_user(spec, world) as user:
        env = gymnasium.make(
            args.env, world=world, user=user, split="valid", max_turns=agent.config.max_turns,
            rec_size=agent.config.rec_size, reject_filter=args.reject_filter,
        )
        agent.learn(
            env, progress=not args.quiet, checkpoint_path=ckpt,
            checkpoint_every=args.checkpoint_every,
        )
        llm = getattr(user, "client", None)
        calls = None if llm is None else {"server_calls": llm.server_calls,
                                          "cache_hits": llm.cache_hits}
    wall = time.perf_counter() - start
    if isinstance(agent, LearnedCRSAgent):
        agent.save(out / "agent.pt", lean=True)
    elif isinstance(agent, UNICORNAgent):
        agent.save(out / "agent.pt", replay=False)
    else:
        agent.save(out / "agent.pt")
    summary = {
        "env": args.env,
        "agent": args.agent,
        "seed": agent.seed,
        "user": spec.to_json(),
        "protocol": protocol,
        "synthetic": bool(world.synthetic),
        "train_seconds": agent.train_seconds,
        "wall_seconds_this_run": wall,
        "selection_history": [list(x) for x in agent.selection_history],
        "best_holdout_sr": agent.best_score,
        "checkpoint": str(out / "agent.pt"),
    }
    if calls is not None:
        summary["llm_calls"] = calls
    atomic_write_json(out / "train.json", summary)
    print(
        f"trained {args.agent} on {args.env} against the {args.user} user in "
        f"{agent.train_seconds:.1f} s; best held-out SR {agent.best_score:.4f}; "
        f"wrote {out / 'agent.pt'}"
    )
    if args.json:
        print_json(summary)
    return 0


def _check_resume(out: Path, user: dict[str, Any], protocol: str) -> None:
    """Refuse to resume a run trained against another user or protocol."""
    from recoworld.errors import ConfigError

    path = out / "config.json"
    if not path.is_file():
        return
    try:
        previous = json.loads(path.read_text())
    except json.JSONDecodeError:
        return
    before = previous.get("user")
    if isinstance(before, dict) and not _same_user(before, user):
        raise ConfigError(
            f"{out} was trained against user {before}, not {user}; pass the same --user and "
            "--user-config to resume, or --restart (or another --out) to train anew"
        )
    if previous.get("protocol", protocol) != protocol:
        raise ConfigError(
            f"{out} was trained under the {previous['protocol']!r} protocol, not {protocol!r}; "
            "pass the same --reject-filter setting to resume, or --restart"
        )
