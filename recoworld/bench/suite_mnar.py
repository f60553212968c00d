"""The ``mnar`` suite: learners trained on the feeds' own biased logs, then judged by the users.

Units: one per (seed, environment, logging policy), each a run of
:func:`recoworld.bench.mnar_loop.run_closed_loop`. Rows: one per (seed, env, logging, learner),
plus the logging policy itself; the columns put what users then did (watch time per session, like
rate, return rate, coverage, reward per video) beside what the log said (naive and
inverse-propensity DCG / Recall, off-policy estimates of the reward per video). The notes give,
per (env, logging), Kendall's tau between each offline number's ranking of the learners and their
true online order (watch time per session), and each off-policy estimator's error against the
online reward per video. Plots: online reward per video against each off-policy estimate, one
point per learner; tau per offline number and logging policy.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from recoworld.bench.config import BenchConfig, MNARSuiteConfig
from recoworld.bench.records import PlotSpec, Series, SuiteResult
from recoworld.bench.suite_helpers import (
    category_plot,
    check_env_ids,
    one_torch_thread,
    seeds_text,
    short_id,
    suite_settings,
)
from recoworld.bench.units import Unit
from recoworld.outputs import atomic_write_json

__all__ = ["MNARSuite", "kendall_tau_table"]

_ONLINE = ("watch_time", "like_rate", "return_rate", "coverage", "value_per_video")
_OFFLINE = ("dcg_naive", "dcg_ips", "recall_naive", "recall_ips",
            "ope_ips", "ope_snips", "ope_dr", "ope_switch_dr", "ope_mips")
_OPE = ("ope_ips", "ope_snips", "ope_dr", "ope_switch_dr", "ope_mips")
_LOGGING_ROW = "logging policy"


def _key_part(spec: str) -> str:
    return spec.replace(":", "=")


def _number(value: Any) -> float:
    """A unit's number; ``None`` (how strict JSON writes an undefined value) is NaN again."""
    return math.nan if value is None else float(value)


def _single_video_feed(env_id: str) -> bool:
    from recoworld.registration import is_feed

    return is_feed(env_id) and "Slate" not in env_id


def _tau(x: list[float], y: list[float]) -> float:
    from scipy.stats import kendalltau

    if len(set(x)) < 2 or len(set(y)) < 2:
        return float("nan")
    return float(kendalltau(x, y).statistic)


_OWN_TARGET = {"dcg_naive": "like_rate", "dcg_ips": "like_rate", "recall_naive": "like_rate",
               "recall_ips": "like_rate", **{name: "value_per_video" for name in _OPE}}
"""What each offline number is meant to track online: likes (relevance = like), or the reward
per video (the quantity the off-policy estimates target)."""


def kendall_tau_table(rows: list[dict[str, Any]], learners: tuple[str, ...]) -> list[dict[str, Any]]:
    """Per (env, logging, offline number): Kendall's tau with the online order, per seed.

    ``taus``: against the online watch time per session (the users' verdict); ``taus_own``:
    against what the number is meant to track (like rate for DCG / Recall, reward per video for
    the off-policy estimates). Only learners' rows count (not the logging policy); a tau is NaN
    when either ranking is constant.
    """
    out = []
    keys = dict.fromkeys((r["env"], r["logging"]) for r in rows)
    for env, logging in keys:
        group = [r for r in rows if r["env"] == env and r["logging"] == logging
                 and r["learner"] in learners]
        seeds = sorted({int(r["seed"]) for r in group})
        for metric in _OFFLINE:
            taus, own = [], []
            for seed in seeds:
                rs = [r for r in group if r["seed"] == seed]
                taus.append(_tau([r[metric] for r in rs], [r["watch_time"] for r in rs]))
                own.append(_tau([r[metric] for r in rs], [r[_OWN_TARGET[metric]] for r in rs]))
            out.append({"env": env, "logging": logging, "offline": metric, "taus": taus,
                        "own_target": _OWN_TARGET[metric], "taus_own": own})
    return out


def _mean_std(values: list[float]) -> str:
    vals = np.asarray(values, dtype=float)
    ok = vals[~np.isnan(vals)]
    if ok.size == 0:
        return "nan"
    return f"{ok.mean():+.2f}" + (f" ± {ok.std(ddof=1):.2f}" if ok.size > 1 else "") + (
        f" ({ok.size} of {vals.size} seeds)" if ok.size < vals.size else "")


class MNARSuite:
    """The closed loop over environments, logging policies and seeds."""

    def plan(self, config: BenchConfig) -> list[Unit]:
        """One unit per (seed, env, logging policy)."""
        s = suite_settings(config, MNARSuiteConfig)
        check_env_ids("mnar.envs", s.envs, _single_video_feed, "single-video feed")
        return [
            Unit(key=f"seed-{seed}/{short_id(env_id)}/{_key_part(logging)}",
                 params={"seed": seed, "env": env_id, "logging": logging})
            for env_id in s.envs for logging in s.loggings for seed in config.seeds
        ]

    def run_unit(self, config: BenchConfig, unit: Unit, run_dir: Path) -> dict[str, Any]:
        """The closed loop for this unit."""
        import recoworld  # noqa: F401  (registers the ids in a fresh Ray worker)
        from recoworld.bench.mnar_loop import run_closed_loop

        s = suite_settings(config, MNARSuiteConfig)
        p = unit.params
        log_path = run_dir / "logs" / f"{unit.key}.parquet" if s.save_logs else None
        with one_torch_thread():
            return run_closed_loop(p["env"], p["logging"], int(p["seed"]), s, log_path)

    def summarize(self, config: BenchConfig, results: dict[str, dict[str, Any]],
                  run_dir: Path) -> SuiteResult:
        """Rows per (seed, env, logging, learner); tau and OPE errors in the notes; plots."""
        s = suite_settings(config, MNARSuiteConfig)
        rows: list[dict[str, Any]] = []
        for r in results.values():
            named = [(k, r["learners"][k]) for k in s.learners]
            for learner, m in [*named, (_LOGGING_ROW, r["logging_policy"])]:
                rows.append({"seed": r["seed"], "env": r["env"], "logging": r["logging"],
                             "learner": learner,
                             **{c: _number(m[c]) for c in (*_ONLINE, *_OFFLINE)},
                             "selected": " ".join(f"{k}={m['selected'][k]}" for k in (
                                 "dim", "l2", "clip")) if "selected" in m else "",
                             "min_pscore": _number(r["log"]["min_pscore"])})
        order = {(e, lg, ln): i for i, (e, lg, ln) in enumerate(
            (e, lg, ln) for e in s.envs for lg in s.loggings
            for ln in (*s.learners, _LOGGING_ROW))}
        rows.sort(key=lambda r: (order[(r["env"], r["logging"], r["learner"])], r["seed"]))
        taus = kendall_tau_table(rows, s.learners)
        notes = [
            f"{s.log_episodes} logged episodes per unit (users not held out); "
            f"{s.online_episodes} online episodes per policy on the held-out "
            f"{s.online_fraction:.0%} of users; seeds {seeds_text(config)}.",
            "Online: watch_time = seconds per session, value_per_video = reward (minutes) per "
            "video. Offline (test part of the log): DCG@k / Recall@k with relevance = like, "
            "naive and inverse-propensity; ope_* = estimates of value_per_video.",
        ]
        for t in taus:
            notes.append(f"Kendall tau vs online watch time: {short_id(t['env'])} / {t['logging']}"
                         f" / {t['offline']}: {_mean_std(t['taus'])}; vs online "
                         f"{t['own_target']}: {_mean_std(t['taus_own'])}")
        for env in s.envs:
            for logging in s.loggings:
                group = [r for r in rows if r["env"] == env and r["logging"] == logging
                         and r["learner"] in s.learners]
                if not group:
                    continue
                errs = ", ".join(
                    f"{name[4:]} {np.mean([r[name] - r['value_per_video'] for r in group]):+.3f}"
                    f" (|err| {np.mean([abs(r[name] - r['value_per_video']) for r in group]):.3f})"
                    for name in _OPE)
                notes.append(f"OPE error vs online reward per video, mean over learners and "
                             f"seeds: {short_id(env)} / {logging}: {errs}")
        notes += self._gains(s, rows)
        atomic_write_json(run_dir / "tau.json", taus, indent=1)
        return SuiteResult(
            rows=tuple(rows),
            group_columns=("env", "logging", "learner"),
            metric_columns=(*_ONLINE, *_OFFLINE),
            plots=tuple(self._plots(s, rows, taus)),
            notes=tuple(notes),
        )

    @staticmethod
    def _gains(s: MNARSuiteConfig, rows: list[dict[str, Any]]) -> list[str]:
        """Did debiasing help the users? Paired (same seed, same held-out users) differences."""

        def by_seed(env: str, logging: str, learner: str, col: str) -> dict[int, float]:
            return {int(r["seed"]): float(r[col]) for r in rows if r["env"] == env
                    and r["logging"] == logging and r["learner"] == learner}

        def paired(a: dict[int, float], b: dict[int, float]) -> str:
            seeds = sorted(set(a) & set(b))
            return _mean_std([a[k] - b[k] for k in seeds]) if seeds else "n/a"

        out = []
        pairs: list[tuple[str, str, str]] = [
            (k, "naive", "watch_time") for k in ("ips", "snips", "dr") if k in s.learners]
        if "rel-mf" in s.learners and "naive-implicit" in s.learners:
            pairs += [("rel-mf", "naive-implicit", "like_rate"),
                      ("rel-mf", "naive-implicit", "watch_time")]
        for env in s.envs:
            for logging in s.loggings:
                parts = [
                    f"{a} - {b} {col} "
                    + paired(by_seed(env, logging, a, col), by_seed(env, logging, b, col))
                    for a, b, col in pairs
                ]
                if "uniform" in s.loggings and logging != "uniform":
                    ref = by_seed(env, "uniform", "naive", "watch_time")
                    parts.append("naive - reference (naive on the uniform log) watch_time "
                                 + paired(by_seed(env, logging, "naive", "watch_time"), ref))
                out.append(f"Paired gains (same seed and held-out users): {short_id(env)} / "
                           f"{logging}: " + "; ".join(parts))
        return out

    @staticmethod
    def _plots(s: MNARSuiteConfig, rows: list[dict[str, Any]],
               taus: list[dict[str, Any]]) -> list[PlotSpec]:
        plots = []
        for env in s.envs:
            for logging in s.loggings:
                series = []
                for name in _OPE:
                    xs, ys, es = [], [], []
                    for learner in s.learners:
                        rs = [r for r in rows if r["env"] == env and r["logging"] == logging
                              and r["learner"] == learner]
                        if not rs:
                            continue
                        xs.append(float(np.mean([r[name] for r in rs])))
                        v = np.asarray([r["value_per_video"] for r in rs])
                        ys.append(float(v.mean()))
                        es.append(float(v.std(ddof=1)) if v.size > 1 else 0.0)
                    if xs:
                        series.append(Series(name[4:], tuple(xs), tuple(ys), tuple(es)))
                if series:
                    plots.append(PlotSpec(
                        name=f"online_vs_ope_{short_id(env)}_{_key_part(logging).replace('=', '_')}",
                        title=f"{short_id(env)}, logging {logging}: online value vs OPE estimate",
                        xlabel="off-policy estimate of reward per video (one point per learner)",
                        ylabel="online reward per video (held-out users)",
                        series=tuple(series), kind="scatter"))
            env_taus = [t for t in taus if t["env"] == env]
            if env_taus:
                series = []
                for logging in s.loggings:
                    ys, es = [], []
                    for metric in _OFFLINE:
                        vals = np.asarray(next(t["taus"] for t in env_taus
                                               if t["logging"] == logging
                                               and t["offline"] == metric), dtype=float)
                        ok = vals[~np.isnan(vals)]
                        ys.append(float(ok.mean()) if ok.size else float("nan"))
                        es.append(float(ok.std(ddof=1)) if ok.size > 1 else 0.0)
                    series.append(Series(logging, tuple(map(float, range(len(_OFFLINE)))),
                                         tuple(ys), tuple(es)))
                plots.append(category_plot(
                    f"kendall_tau_{short_id(env)}",
                    f"{short_id(env)}: offline ranking of learners vs online watch time",
                    "offline number", "Kendall's tau (mean ± std over seeds)", _OFFLINE, series))
        return plots
