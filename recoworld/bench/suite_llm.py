"""The ``llm`` suite: how faithfully user simulators answer, against the statistical ground truth.

Units: one per (seed, environment, user), each a run of
:func:`recoworld.bench.fidelity.measure_fidelity` over the first ``sessions`` sessions of the
split. With ``base_url = "serve"`` every unit starts its own local SmolLM2 server
(:class:`recoworld.users.llm.serve.LocalLLMServer`) and stops it after, so on the Ray backend the
units -- and their LLM calls -- fan out across workers, each with its own model. With a
``cache_dir``, each unit records (or replays) its calls in its own SQLite file, so a rerun
replays the same answers without a server. The ``statistical`` user is the ground truth itself
and scores 1 everywhere: a check of the harness.

Transcripts: the units of the first seed keep the first :data:`TRANSCRIPT_SESSIONS` sessions as
text (the questions, the answers, the LLM user's utterances); the report shows each session's
transcripts of every user side by side, the statistical user's answers being the truth.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

from recoworld.bench.config import BenchConfig, LLMSuiteConfig
from recoworld.bench.records import SuiteResult, Transcript
from recoworld.bench.suite_helpers import (
    category_plot,
    check_env_ids,
    seed_series,
    seeds_text,
    short_id,
    suite_settings,
)
from recoworld.bench.units import Unit

__all__ = ["TRANSCRIPT_SESSIONS", "LLMSuite"]

TRANSCRIPT_SESSIONS = 2  # the first sessions of the split, first seed, shown as text per user

_METRICS = (
    "answer_accuracy",
    "acceptance_accuracy",
    "opening_accuracy",
    "invalid_rate",
    "answer_accuracy_valid",
    "acceptance_accuracy_valid",
)
# wall time and call counts depend on the machine and the cache, not on the simulator
_VOLATILE = ("seconds", "turns_per_second")


class LLMSuite:
    """User-simulator fidelity: answer, acceptance and opening accuracy, invalid-reply rate."""

    def plan(self, config: BenchConfig) -> list[Unit]:
        """One unit per (seed, env, user)."""
        from recoworld.registration import is_conversational

        s = suite_settings(config, LLMSuiteConfig)
        check_env_ids("llm.envs", s.envs, is_conversational, "conversational")
        return [
            Unit(
                key=f"seed-{seed}/{short_id(env_id)}/{user}",
                params={"seed": seed, "env": env_id, "user": user},
            )
            for env_id in s.envs
            for user in s.users
            for seed in config.seeds
        ]

    def run_unit(self, config: BenchConfig, unit: Unit, run_dir: Path) -> dict[str, Any]:
        """Score one simulator on one environment with one seed."""
        from recoworld.bench.fidelity import measure_fidelity
        from recoworld.datasets.registry import load_world
        from recoworld.registration import CONVERSATIONAL_IDS
        from recoworld.users.target_item import TargetItemUser

        s = suite_settings(config, LLMSuiteConfig)
        p = unit.params
        world = load_world(CONVERSATIONAL_IDS[p["env"]], s.data_dir or None)
        seed = int(p["seed"])
        shown = TRANSCRIPT_SESSIONS if seed == config.seeds[0] else 0
        if p["user"] == "statistical":
            report = measure_fidelity(
                world, TargetItemUser(world), s.sessions, s.split, s.questions, seed=seed,
                transcripts=shown,
            )
        else:
            from recoworld.users.llm.cache import ResponseCache
            from recoworld.users.llm.client import LLMClient, LLMClientConfig
            from recoworld.users.llm.conversational import LLMConversationalUser

            cache = None
            if s.cache_dir and s.cache_mode != "off":
                name = re.sub(r"[^A-Za-z0-9._-]", "_", unit.key) + ".sqlite"
                cache = ResponseCache(Path(s.cache_dir) / name, s.cache_mode)  # type: ignore[arg-type]
            with contextlib.ExitStack() as stack:
                base_url = s.base_url or None
                if s.base_url == "serve" and s.cache_mode != "replay":
                    from recoworld.users.llm.serve import LocalLLMServer

                    server = stack.enter_context(
                        LocalLLMServer(n_threads=s.server_threads, startup_timeout_s=120)
                    )
                    base_url = server.base_url
                elif s.base_url == "serve":
                    base_url = None  # replay-only: every answer comes from the cache
                client = stack.enter_context(
                    LLMClient(
                        LLMClientConfig(
                            base_url=base_url, model=s.model or None, timeout_s=s.timeout_s
                        ),
                        cache,
                    )
                )
                user = LLMConversationalUser(world, client)
                report = measure_fidelity(
                    world, user, s.sessions, s.split, s.questions, seed=seed, transcripts=shown
                )
        out = {k: v for k, v in report.to_json().items() if k not in _VOLATILE}
        transcripts = {"transcripts": list(report.transcripts)} if report.transcripts else {}
        return {"env": p["env"], "user": p["user"], "seed": seed, **out, **transcripts}

    def summarize(
        self, config: BenchConfig, results: dict[str, dict[str, Any]], run_dir: Path
    ) -> SuiteResult:
        """Rows per (seed, env, user); accuracy error bars per environment."""
        s = suite_settings(config, LLMSuiteConfig)
        rows = [{k: v for k, v in r.items() if k != "transcripts"} for r in results.values()]
        plots = []
        shown = ("answer_accuracy", "acceptance_accuracy", "opening_accuracy", "invalid_rate")
        for env_id in s.envs:
            series = [
                seed_series(user, range(len(shown)), [[r[m] for m in shown] for r in rows
                                                      if r["env"] == env_id and r["user"] == user])
                for user in s.users
            ]
            plots.append(
                category_plot(
                    f"fidelity_{short_id(env_id)}",
                    f"User-simulator fidelity: {env_id}",
                    "measure",
                    "mean ± std over seeds",
                    shown,
                    series,
                )
            )
        notes = [
            f"first {s.sessions} sessions of the {s.split} split, {s.questions} questions each; "
            f"seeds {seeds_text(config)}.",
            "A yes-always (or no-always) user scores 0.5 answer accuracy; the statistical user is "
            "the ground truth and scores 1.",
        ]
        transcripts = [
            Transcript(
                name=f"{short_id(env_id)}_{s.split}-{i}_{user}",
                session=f"{env_id}, {s.split} session {i} (seed {config.seeds[0]})",
                label=f"{user} user",
                text=texts[i],
            )
            for env_id in s.envs
            for i in range(TRANSCRIPT_SESSIONS)
            for user in s.users
            for texts in [
                r["transcripts"] for r in results.values()
                if r["env"] == env_id and r["user"] == user and "transcripts" in r
            ]
            if i < len(texts)
        ]
        if transcripts:
            notes.append(
                "Transcripts: each user's first sessions of the first seed, side by side (the "
                "statistical user's answers are the truth; the LLM user's utterances are quoted)."
            )
        return SuiteResult(
            rows=tuple(rows),
            group_columns=("env", "user"),
            metric_columns=_METRICS,
            plots=tuple(plots),
            notes=tuple(notes),
            transcripts=tuple(transcripts),
        )
