"""Train SCPR against the LLM user and evaluate it, and the statistical SCPR, against both users.

Usage (from the repository root):

    .venv/bin/python benchmarks/train_llm_user.py --data-dir ../shared/data \
        --init runs/agents/lastfm_scpr_reproduction_0_noise0.0_published.pt \
        --sessions 300 --llm-test-sessions 100 --cache runs/llm_user.sqlite \
        --out benchmarks/results/crs_llm_user.json

``--init`` is a statistical SCPR (trained against the exact user on LastFM, e.g. by
``benchmarks/train_crs.py --save-dir``). The script starts SmolLM2-135M-Instruct with llama.cpp
(:class:`~recoworld.users.llm.LocalLLMServer`; or uses ``--base-url``), warm-starts a copy of the
statistical SCPR and trains it ``--sessions`` more sessions on ``valid`` against
:class:`~recoworld.users.llm.LLMConversationalUser` (model selection on ``--select-sessions``
held-out ``valid`` sessions against the same LLM user), every request recorded in the SQLite
cache. Then the 2 x 2 table: each agent (trained against the statistical / the LLM user) against
each user, the statistical one on every test session, the LLM one on the first
``--llm-test-sessions`` (the same sessions for both agents), with wall time and turns per second.
A killed run resumes: training from its checkpoint, the LLM's answers from the cache.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path
from typing import Any

import gymnasium
import torch

from recoworld.agents import SCPRAgent
from recoworld.datasets.registry import load_world
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs import ConversationalRecEnv
from recoworld.evaluation import evaluate
from recoworld.users.llm import (
    LLMClient,
    LLMClientConfig,
    LLMConversationalUser,
    LocalLLMServer,
    ResponseCache,
)


class _Server(LocalLLMServer):
    """The local server with as many prompt-processing threads as generation threads.

    llama-cpp-python defaults ``n_threads_batch`` to every core; on a loaded machine its threads
    then wait on each other and prompt processing slows down several-fold.
    """

    def command(self) -> list[str]:
        """The server's command line with ``--n_threads_batch``."""
        cmd = super().command()
        return cmd if self.n_threads is None else [*cmd, "--n_threads_batch", str(self.n_threads)]


class _StepCounter(gymnasium.Wrapper[Any, Any, Any, Any]):
    """Counts environment steps (each is one LLM call besides the openings)."""

    def __init__(self, env: gymnasium.Env[Any, Any]) -> None:
        super().__init__(env)
        self.steps = 0
        self.resets = 0
        self.invalid = 0

    def reset(self, **kwargs: Any) -> Any:
        """Count a session."""
        self.resets += 1
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> Any:
        """Count a turn."""
        self.steps += 1
        out = self.env.step(action)
        self.invalid += int(bool(out[4].get("user_info", {}).get("invalid_response", False)))
        return out


def _row(
    train_user: str, eval_user: str, agent: SCPRAgent, env: gymnasium.Env[Any, Any],
    sessions: int | None, client: LLMClient | None,
) -> dict[str, Any]:
    calls0 = (client.server_calls, client.cache_hits) if client else (0, 0)
    counted = _StepCounter(env)
    t0 = time.perf_counter()
    m, _ = evaluate(counted, agent, "test", sessions, seed=0)
    wall = time.perf_counter() - t0
    row = {
        "train_user": train_user,
        "eval_user": eval_user,
        "sessions": m.sessions,
        "wall_seconds": wall,
        "turns": m.steps,
        "turns_per_second": m.steps / wall,
        "invalid_responses": counted.invalid,
        **m.to_json(),
    }
    if client is not None:
        row["llm_server_calls"] = client.server_calls - calls0[0]
        row["llm_cache_hits"] = client.cache_hits - calls0[1]
    print(f"train={train_user} eval={eval_user}: SR@15={m.sr15:.4f} AT={m.avg_turns:.2f} "
          f"sessions={m.sessions} {wall:.0f}s {m.steps / wall:.2f} turns/s", flush=True)
    return row


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", default=None)
    p.add_argument("--init", required=True, help="statistical SCPR checkpoint (LastFM)")
    p.add_argument("--sessions", type=int, default=300, help="training sessions against the LLM")
    p.add_argument("--select-sessions", type=int, default=30, help="held-out valid sessions")
    p.add_argument("--select-every", type=int, default=150, help="sessions between selections")
    p.add_argument("--llm-test-sessions", type=int, default=100)
    p.add_argument("--stat-test-sessions", type=int, default=None, help="default: all")
    p.add_argument("--cache", default="runs/llm_user.sqlite")
    p.add_argument("--work", default="runs/llm_user", help="checkpoints of the LLM training")
    p.add_argument("--base-url", default=None, help="default: start SmolLM2 with llama.cpp")
    p.add_argument("--threads", type=int, default=2, help="llama.cpp threads")
    p.add_argument("--out", default="benchmarks/results/crs_llm_user.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    world: AttributeGraphWorld = load_world("lastfm", args.data_dir)
    server = None
    base_url = args.base_url
    if base_url is None:
        server = _Server(n_threads=args.threads)
        base_url = server.start()
        print(f"LLM server at {base_url}", flush=True)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    ckpt = work / "checkpoint.pt"
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": platform.machine(),
        "init": str(args.init),
        "base_url": base_url,
        "rows": [],
    }
    try:
        cache = ResponseCache(args.cache, "record")
        with LLMClient(LLMClientConfig(base_url=base_url, timeout_s=300.0), cache) as client:
            llm_user = LLMConversationalUser(world, client)
            statistical = SCPRAgent.load(args.init, world)
            if ckpt.is_file():
                llm_agent = SCPRAgent.load(ckpt, world)
                print(f"resuming at {llm_agent.episodes_done} sessions", flush=True)
            else:
                llm_agent = SCPRAgent.load(args.init, world)
                llm_agent.forget_selection()
                llm_agent.config = dataclasses.replace(
                    llm_agent.config, eval_every=args.select_every,
                    eval_sessions=args.select_sessions,
                )
                result["warm_start_sessions"] = llm_agent.episodes_done
            start_sessions = SCPRAgent.load(args.init, world).episodes_done
            total = start_sessions + args.sessions
            train_env = _StepCounter(ConversationalRecEnv(world, user=llm_user, split="valid"))
            calls0 = client.server_calls
            t0 = time.perf_counter()
            llm_agent.learn(train_env, episodes=total, checkpoint_path=ckpt, checkpoint_every=25,
                            progress=True)
            wall = time.perf_counter() - t0
            result["training"] = {
                "sessions_against_llm": llm_agent.episodes_done - start_sessions,
                "wall_seconds_this_run": wall,
                "env_steps_this_run": train_env.steps,
                "resets_this_run": train_env.resets,
                "invalid_responses_this_run": train_env.invalid,
                "turns_per_second": train_env.steps / wall if wall > 0 else None,
                "llm_server_calls_this_run": client.server_calls - calls0,
                "selection_history": [list(x) for x in llm_agent.selection_history],
                "train_seconds_total": llm_agent.train_seconds,
            }
            print(json.dumps(result["training"]), flush=True)
            stat_test = ConversationalRecEnv(world, split="test")
            llm_test = ConversationalRecEnv(world, user=llm_user, split="test")
            n = args.llm_test_sessions
            for name, agent in (("statistical", statistical), ("llm", llm_agent)):
                result["rows"].append(
                    _row(name, "statistical", agent, stat_test, args.stat_test_sessions, None)
                )
                result["rows"].append(_row(name, "llm", agent, llm_test, n, client))
                Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    finally:
        if server is not None:
            server.stop()
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
