"""The ``crs`` suite: conversational agents on the MCR environments, beside the published table.

Units: one per (seed, environment, agent, block of sessions). A block starting at session 0 seeds
the environment and the agent with the seed itself (so an unsharded unit reproduces
``recoworld evaluate --seed S`` exactly); a later block at session ``start`` uses
``SeedSequence([seed, start])``, so every block is independent of the others and of the order
and place (process, Ray worker) in which it runs. Each block stores its sessions' success turn,
rank and step count; the metrics are computed once, over all blocks, by
:func:`recoworld.bench.crs_evaluation.metrics_from_outcomes`.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from recoworld.bench.config import BenchConfig, CRSSuiteConfig, parse_toml
from recoworld.bench.records import PlotSpec, Series, SuiteResult
from recoworld.bench.runner import Unit
from recoworld.errors import ConfigError

__all__ = ["CRSSuite", "crs_references", "unit_seed"]

_METRICS = ("sr@5", "sr@10", "sr@15", "avg_turns", "hdcg")


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
    from recoworld.envs.registration import is_conversational

    if not is_conversational(env_id):
        raise ConfigError(f"`crs.envs` holds {env_id!r}, which is not a conversational env id")
    kwargs: dict[str, Any] = {"data_dir": data_dir} if data_dir else {}
    return gymnasium.make(env_id, **kwargs)


def _settings(config: BenchConfig) -> CRSSuiteConfig:
    s = config.settings
    assert isinstance(s, CRSSuiteConfig)
    return s


def _short(env_id: str) -> str:
    return env_id.rsplit("/", 1)[-1]


class CRSSuite:
    """Conversational agents: SR@5/10/15, AT, hDCG, success by turn, over seeds."""

    def plan(self, config: BenchConfig) -> list[Unit]:
        """Blocks of sessions for every (seed, env, agent)."""
        from recoworld.agents.rules import _RULES

        s = _settings(config)
        for agent in s.agents:
            if agent not in _RULES:
                raise ConfigError(
                    f"`crs.agents` holds {agent!r}, which this suite cannot run; known: "
                    f"{', '.join(sorted(_RULES))}"
                )
        units = []
        for env_id in s.envs:
            n_split = len(_env(env_id, s.data_dir).unwrapped.world.split(s.split))
            n = n_split if s.sessions == 0 else min(s.sessions, n_split)
            step = n if s.shard_sessions == 0 else s.shard_sessions
            blocks = [(a, min(a + step, n)) for a in range(0, n, step)]
            for seed in config.seeds:
                for agent in s.agents:
                    for a, b in blocks:
                        units.append(
                            Unit(
                                key=f"seed-{seed}/{_short(env_id)}/{agent}/{a:06d}-{b:06d}",
                                params={"seed": seed, "env": env_id, "agent": agent,
                                        "start": a, "end": b},
                            )
                        )
        return units

    def run_unit(self, config: BenchConfig, unit: Unit, run_dir: Path) -> dict[str, Any]:
        """Play sessions ``start..end`` of the split with a freshly built agent."""
        from recoworld.bench.crs_evaluation import make_agent, run_session

        s = _settings(config)
        p = unit.params
        env = _env(p["env"], s.data_dir)
        useed = unit_seed(int(p["seed"]), int(p["start"]))
        agent = make_agent(p["agent"], env, useed, None)
        outcomes = [
            run_session(env, agent, {"split": s.split, "index": i}, useed if i == p["start"] else None)
            for i in range(p["start"], p["end"])
        ]
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
        }

    def summarize(
        self, config: BenchConfig, results: dict[str, dict[str, Any]], run_dir: Path
    ) -> SuiteResult:
        """One row per (seed, env, agent); success-by-turn plots per env."""
        from recoworld.bench.crs_evaluation import SessionOutcome, metrics_from_outcomes

        s = _settings(config)
        groups: dict[tuple[int, str, str], list[dict[str, Any]]] = {}
        for r in results.values():  # plan order: blocks in session order
            groups.setdefault((r["seed"], r["env"], r["agent"]), []).append(r)
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
                    rows.append({"seed": seed, "env": env_id, "agent": agent, **m})
        source, refs = crs_references()
        plots = []
        for env_id in s.envs:
            series = []
            for agent in s.agents:
                curves = np.asarray(
                    [r["success_by_turn"] for r in rows if r["env"] == env_id and r["agent"] == agent]
                )
                std = curves.std(axis=0, ddof=1) if len(curves) > 1 else np.zeros(curves.shape[1])
                series.append(
                    Series(
                        agent,
                        tuple(float(t) for t in range(1, curves.shape[1] + 1)),
                        tuple(float(v) for v in curves.mean(axis=0)),
                        tuple(float(v) for v in std),
                    )
                )
            plots.append(
                PlotSpec(
                    name=f"success_by_turn_{_short(env_id)}",
                    title=f"Success by turn: {env_id} ({s.split})",
                    xlabel="turn (the user's opening is turn 1)",
                    ylabel="SR@t (mean over seeds, band = std)",
                    series=tuple(series),
                )
            )
        notes = [
            f"{s.split} split, "
            + ("every session" if s.sessions == 0 else f"first {s.sessions} sessions")
            + f"; seeds {', '.join(map(str, config.seeds))}.",
            "AT counts a failed session as 15 turns; hDCG is hDCG@(15,10).",
        ]
        if any(e not in {k[0] for k in refs} for e in s.envs):
            notes.append("No published numbers exist for the synthetic world.")
        return SuiteResult(
            rows=tuple(rows),
            group_columns=("env", "agent"),
            metric_columns=_METRICS,
            references={k: v for k, v in refs.items() if k[0] in s.envs},
            reference_source=source,
            plots=tuple(plots),
            notes=tuple(notes),
        )
