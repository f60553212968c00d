"""The ``crs`` suite: conversational agents on the MCR environments, beside the published table.

Units: one per (seed, environment, agent, block of sessions). A block starting at session 0 seeds
the environment and the agent with the seed itself (so an unsharded unit reproduces
``recoworld evaluate --seed S`` exactly); a later block at session ``start`` uses
``SeedSequence([seed, start])``, so every block is independent of the others and of the order
and place (process, Ray worker) in which it runs. Each block stores its sessions' success turn,
rank and step count; the metrics are computed once, over all blocks, by
:func:`recoworld.evaluation.metrics_from_outcomes`.

Learned agents (SCPR, EAR, CRM, SB3) get a training unit per (seed, environment) in stage 0:
:func:`recoworld.agents.registry.train_or_load` trains on the ``valid`` split (model selection on
a held-out part of it, never on test) into ``checkpoints/`` of the run directory, resuming a
partial training after a kill. Their evaluation blocks (stage 1) load that file, so every block
starts from the same trained agent. Torch runs on one thread inside a unit so that the trained
weights do not depend on the process they were trained in. The model-selection history (held-out
success rate against training sessions) is the learning curve.

Transcripts: the blocks of the first seed record the dialogue of the split's first
:data:`TRANSCRIPT_SESSIONS` sessions (``render_mode="ansi"``, switched on for those sessions only)
as they are evaluated, so every agent's transcript is of the same user and target, and the report
shows them side by side.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from recoworld.bench.config import BenchConfig, CRSSuiteConfig, parse_toml
from recoworld.bench.records import PlotSpec, SuiteResult, Transcript
from recoworld.bench.suite_helpers import (
    check_env_ids,
    check_known,
    one_torch_thread,
    seed_series,
    seeds_text,
    short_id,
    suite_settings,
)
from recoworld.bench.units import Unit

__all__ = ["TRANSCRIPT_SESSIONS", "CRSSuite", "crs_references", "unit_seed"]

_METRICS = ("sr@5", "sr@10", "sr@15", "avg_turns", "hdcg")
TRANSCRIPT_SESSIONS = 3  # the first sessions of the split, first seed, shown as text per agent


def unit_seed(seed: int, start: int) -> int:
    """The seed of a block of sessions starting at ``start`` (``seed`` itself at 0)."""
    if start == 0:
        return seed
    return int(np.random.SeedSequence([seed, start]).generate_state(1)[0])


@functools.lru_cache(maxsize=1)
def crs_references() -> tuple[str, dict[tuple[str, str], dict[str, float]]]:
    """Published ``(source, {(env id, agent): {metric: value}})`` (package data)."""
    text = resources.files("recoworld.bench").joinpath("references", "crs.toml").read_text("utf-8")
    data = parse_toml(text, "references/crs.toml")
    table = {
        (r["env"], r["agent"]): {k: float(v) for k, v in r.items() if k in _METRICS}
        for r in data["row"]
    }
    return str(data["source"]), table


@functools.lru_cache(maxsize=8)
def _env(env_id: str, data_dir: str) -> Any:
    # One environment per (id, data) per process: loading LastFM takes seconds, and every unit
    # reseeds it at its first session, so reuse across units cannot change a result.
    import gymnasium

    import recoworld  # noqa: F401  (registers the ids in a fresh Ray worker)
    from recoworld.registration import is_conversational

    check_env_ids("crs.envs", [env_id], is_conversational, "conversational")
    kwargs: dict[str, Any] = {"data_dir": data_dir} if data_dir else {}
    return gymnasium.make(env_id, **kwargs)


@contextlib.contextmanager
def _rendering(env: Any, on: bool) -> Iterator[None]:
    """Record the turns (``render_mode="ansi"``) while the block plays a transcript session.

    Recording only reads the environment's state, so the session plays as it would without it.
    """
    base = env.unwrapped
    before = base.render_mode
    base.render_mode = "ansi" if on else before
    try:
        yield
    finally:
        base.render_mode = before


def _trainable() -> tuple[str, ...]:
    from recoworld.agents.registry import TRAINABLE_AGENTS

    return TRAINABLE_AGENTS


def _trained_agent(s: CRSSuiteConfig, env_id: str, name: str, seed: int, run_dir: Path) -> Any:
    """Train (first call) or load (later calls) learned agent ``name`` for ``seed`` on ``env_id``."""
    from recoworld.agents.registry import make_trainable_agent, train_or_load

    world = _env(env_id, s.data_dir).unwrapped.world
    config = None
    if s.train_episodes:
        default = make_trainable_agent(name, world, None, seed).config
        changes: dict[str, Any] = {"episodes": s.train_episodes}
        if hasattr(default, "eval_every"):
            changes["eval_every"] = max(1, min(default.eval_every, s.train_episodes // 4))
        config = dataclasses.replace(default, **changes)
    with one_torch_thread():
        return train_or_load(name, world, seed, run_dir / "checkpoints" / short_id(env_id), config)


class CRSSuite:
    """Conversational agents: SR@5/10/15, AT, hDCG, success by turn, over seeds."""

    def plan(self, config: BenchConfig) -> list[Unit]:
        """Training units (stage 0) for learned agents; blocks of sessions (stage 1) for all."""
        from recoworld.agents.rules import _RULES

        s = suite_settings(config, CRSSuiteConfig)
        known = (*sorted(_RULES), *_trainable())
        check_known("crs.agents", s.agents, known, ", which this suite cannot run")
        units = []
        for env_id in s.envs:
            n_split = len(_env(env_id, s.data_dir).unwrapped.world.split(s.split))
            n = n_split if s.sessions == 0 else min(s.sessions, n_split)
            step = n if s.shard_sessions == 0 else s.shard_sessions
            blocks = [(a, min(a + step, n)) for a in range(0, n, step)]
            for seed in config.seeds:
                for agent in s.agents:
                    base = {"seed": seed, "env": env_id, "agent": agent}
                    learned = agent in _trainable()
                    if learned:
                        units.append(
                            Unit(
                                key=f"seed-{seed}/{short_id(env_id)}/{agent}/train",
                                stage=0,
                                params={**base, "train": True},
                            )
                        )
                    for a, b in blocks:
                        units.append(
                            Unit(
                                key=f"seed-{seed}/{short_id(env_id)}/{agent}/{a:06d}-{b:06d}",
                                stage=1,
                                params={**base, "start": a, "end": b, "learned": learned},
                            )
                        )
        return units

    def run_unit(self, config: BenchConfig, unit: Unit, run_dir: Path) -> dict[str, Any]:
        """Train a learned agent, or play sessions ``start..end`` of the split."""
        from recoworld.agents.registry import make_agent
        from recoworld.evaluation import run_session

        s = suite_settings(config, CRSSuiteConfig)
        p = unit.params
        env = _env(p["env"], s.data_dir)
        if p.get("train"):
            trained = _trained_agent(s, p["env"], p["agent"], int(p["seed"]), run_dir)
            history = getattr(trained, "selection_history", [])
            return {
                "env": p["env"],
                "agent": p["agent"],
                "seed": p["seed"],
                "selection_history": [[int(a), float(b)] for a, b in history],
            }
        useed = unit_seed(int(p["seed"]), int(p["start"]))
        if p["learned"]:
            agent = _trained_agent(s, p["env"], p["agent"], int(p["seed"]), run_dir)
        else:
            agent = make_agent(p["agent"], env.unwrapped.world, useed, None)
        shown = int(p["seed"]) == config.seeds[0]
        outcomes, transcripts = [], []
        with one_torch_thread():
            for i in range(p["start"], p["end"]):
                recorded = shown and i < TRANSCRIPT_SESSIONS
                with _rendering(env, recorded):
                    outcomes.append(
                        run_session(
                            env, agent, {"split": s.split, "index": i},
                            useed if i == p["start"] else None,
                        )
                    )
                    if recorded:
                        transcripts.append([i, env.unwrapped.render()])
        return {
            "env": p["env"],
            "agent": p["agent"],
            "seed": p["seed"],
            "start": p["start"],
            "end": p["end"],
            "max_turns": int(env.unwrapped.max_turns),
            "turn": [o.turn for o in outcomes],
            "rank": [o.rank for o in outcomes],
            "steps": [o.steps for o in outcomes],
            "transcripts": transcripts,
        }

    def summarize(
        self, config: BenchConfig, results: dict[str, dict[str, Any]], run_dir: Path
    ) -> SuiteResult:
        """One row per (seed, env, agent); success-by-turn plots per env."""
        from recoworld.evaluation import SessionOutcome, metrics_from_outcomes

        s = suite_settings(config, CRSSuiteConfig)
        groups: dict[tuple[int, str, str], list[dict[str, Any]]] = {}
        curves: dict[tuple[str, str], list[list[list[float]]]] = {}
        for r in results.values():  # plan order: blocks in session order
            if "selection_history" in r:
                curves.setdefault((r["env"], r["agent"]), []).append(r["selection_history"])
                continue
            groups.setdefault((r["seed"], r["env"], r["agent"]), []).append(r)
        synthetic = {e: bool(_env(e, s.data_dir).unwrapped.world.synthetic) for e in s.envs}
        rows = []
        for env_id in s.envs:
            for agent in s.agents:
                for seed in config.seeds:
                    blocks = groups[(seed, env_id, agent)]
                    outcomes = [
                        SessionOutcome(-1, -1, t, k, n)
                        for b in blocks
                        for t, k, n in zip(b["turn"], b["rank"], b["steps"], strict=True)
                    ]
                    m = metrics_from_outcomes(outcomes, int(blocks[0]["max_turns"])).to_json()
                    rows.append(
                        {"seed": seed, "env": env_id, "agent": agent, "synthetic": synthetic[env_id], **m}
                    )
        source, refs = crs_references()
        plots = []
        for env_id in s.envs:
            series = []
            for agent in s.agents:
                by_turn = np.asarray(
                    [r["success_by_turn"] for r in rows if r["env"] == env_id and r["agent"] == agent]
                )  # seeds x turns
                series.append(seed_series(agent, range(1, by_turn.shape[1] + 1), by_turn))
            plots.append(
                PlotSpec(
                    name=f"success_by_turn_{short_id(env_id)}",
                    title=f"Success by turn: {env_id} ({s.split})",
                    xlabel="turn (the user's opening is turn 1)",
                    ylabel="SR@t (mean over seeds, band = std)",
                    series=tuple(series),
                )
            )
            learned = [(a, curves[(env_id, a)]) for a in s.agents if (env_id, a) in curves]
            if learned:
                plots.append(_learning_curve(env_id, learned))
        notes = [
            f"{s.split} split, "
            + ("every session" if s.sessions == 0 else f"first {s.sessions} sessions")
            + f"; seeds {seeds_text(config)}.",
            "AT counts a failed session as 15 turns; hDCG is hDCG@(15,10).",
        ]
        trained = [a for a in s.agents if a in _trainable()]
        if trained:
            notes.append(
                f"Learned agents ({', '.join(trained)}) trained per seed on the valid split"
                + (f" for {s.train_episodes} sessions" if s.train_episodes else "")
                + "; model selection on a held-out part of valid, never on test."
            )
        published = {k[0] for k in refs}
        for e in s.envs:
            if synthetic[e] and e in published:
                notes.append(
                    f"{e} ran on a SYNTHETIC world (the release's items and interactions are "
                    "absent; generated at the published scale on the real taxonomy): its rows "
                    "measure that world, not the published dataset beside them."
                )
        if any(e not in published for e in s.envs):
            notes.append("No published numbers exist for the synthetic world.")
        transcripts = _transcripts(config, s, groups)
        if transcripts:
            notes.append(
                f"Transcripts: the first {TRANSCRIPT_SESSIONS} {s.split} sessions of seed "
                f"{config.seeds[0]}, as each agent played them in the evaluation."
            )
        return SuiteResult(
            rows=tuple(rows),
            group_columns=("env", "agent"),
            metric_columns=_METRICS,
            references={k: v for k, v in refs.items() if k[0] in s.envs},
            reference_source=source,
            plots=tuple(plots),
            notes=tuple(notes),
            transcripts=tuple(transcripts),
        )


def _transcripts(
    config: BenchConfig, s: CRSSuiteConfig, groups: dict[tuple[int, str, str], list[dict[str, Any]]]
) -> list[Transcript]:
    """The recorded sessions, ordered by env, session, then agent (the report's columns)."""
    seed = config.seeds[0]
    out = []
    for env_id in s.envs:
        by_agent = {
            agent: dict(
                (int(i), str(text))
                for b in groups[(seed, env_id, agent)]
                for i, text in b.get("transcripts", [])
            )
            for agent in s.agents
        }
        for i in sorted({i for texts in by_agent.values() for i in texts}):
            out += [
                Transcript(
                    name=f"{short_id(env_id)}_{s.split}-{i}_{agent}",
                    session=f"{env_id}, {s.split} session {i} (seed {seed})",
                    label=agent,
                    text=texts[i],
                )
                for agent, texts in by_agent.items()
                if i in texts
            ]
    return out


def _learning_curve(env_id: str, learned: list[tuple[str, list[list[list[float]]]]]) -> PlotSpec:
    """Held-out success rate against training sessions, mean over seeds, per learned agent."""
    series = []
    for agent, per_seed in learned:
        # a selection round without a score is null in the unit JSON
        points = [[p for p in h if p[1] is not None and np.isfinite(p[1])] for h in per_seed]
        n = min(len(p) for p in points)
        if n == 0:
            continue
        arr = np.asarray([p[:n] for p in points], dtype=float)  # seeds x points x 2
        series.append(seed_series(agent, arr[0, :, 0], arr[:, :, 1]))
    return PlotSpec(
        name=f"learning_curve_{short_id(env_id)}",
        title=f"Learning curves: {env_id}",
        xlabel="training sessions (valid split)",
        ylabel="held-out success rate (mean over seeds, band = std)",
        series=tuple(series),
    )
