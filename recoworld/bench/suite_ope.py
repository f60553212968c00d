"""The ``ope`` suite: every off-policy estimator's bias, std and RMSE against the true value.

Units: one per seed, each a full run of :func:`recoworld.bench.ope_bench.run_ope_bench` at the
configured scale (each seed draws its own synthetic bandit, logs and truth episodes). Rows: one
per (seed, setting, estimator); the table gives each estimator's bias, std and RMSE as mean ± std
over seeds, and one plot per setting shows each estimator's bias with its std as an error bar.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from recoworld.bench.config import BenchConfig, OPESuiteConfig
from recoworld.bench.ope_bench import run_ope_bench
from recoworld.bench.records import Series, SuiteResult
from recoworld.bench.suite_helpers import category_plot, seeds_text, suite_settings
from recoworld.bench.units import Unit

__all__ = ["OPESuite"]

_METRICS = ("bias", "std", "rmse", "truth", "logging_value")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


class OPESuite:
    """Off-policy estimators on the synthetic bandit, the feed and the conversational env."""

    def plan(self, config: BenchConfig) -> list[Unit]:
        """One unit per seed."""
        return [Unit(key=f"seed-{seed}", params={"seed": seed}) for seed in config.seeds]

    def run_unit(self, config: BenchConfig, unit: Unit, run_dir: Path) -> dict[str, Any]:
        """Every setting of the estimator benchmark with this seed."""
        s = suite_settings(config, OPESuiteConfig)
        seed = int(unit.params["seed"])
        results = run_ope_bench(quick=s.scale == "quick", seed=seed)
        return {
            "seed": seed,
            "settings": [
                {
                    "setting": r.setting,
                    "truth": r.truth,
                    "truth_std_error": r.truth_std_error,
                    "logging_value": r.logging_value,
                    "stats": r.stats(),
                }
                for r in results
            ],
        }

    def summarize(
        self, config: BenchConfig, results: dict[str, dict[str, Any]], run_dir: Path
    ) -> SuiteResult:
        """Rows per (seed, setting, estimator); bias ± std plots per setting."""
        rows = []
        for r in results.values():
            for st in r["settings"]:
                for est, m in st["stats"].items():
                    rows.append(
                        {
                            "seed": r["seed"],
                            "setting": st["setting"],
                            "estimator": est,
                            "bias": m["bias"],
                            "std": m["std"],
                            "rmse": m["rmse"],
                            "truth": st["truth"],
                            "truth_std_error": st["truth_std_error"],
                            "logging_value": st["logging_value"],
                        }
                    )
        order = {(r["setting"], r["estimator"]): i for i, r in enumerate(rows)}
        rows.sort(key=lambda r: (order[(r["setting"], r["estimator"])], r["seed"]))
        plots = []
        for setting in dict.fromkeys(r["setting"] for r in rows):
            ests = list(dict.fromkeys(r["estimator"] for r in rows if r["setting"] == setting))
            bias = [
                float(np.mean([r["bias"] for r in rows
                               if r["setting"] == setting and r["estimator"] == e]))
                for e in ests
            ]
            std = [
                float(np.mean([r["std"] for r in rows
                               if r["setting"] == setting and r["estimator"] == e]))
                for e in ests
            ]
            plots.append(
                category_plot(
                    f"estimator_error_{_safe(setting)}",
                    f"Estimator error: {setting}",
                    "estimator",
                    "bias (point) ± std (bar), mean over seeds",
                    ests,
                    [Series("estimate - truth", tuple(map(float, range(len(ests)))), tuple(bias),
                            tuple(std))],
                )
            )
        s = suite_settings(config, OPESuiteConfig)
        notes = [
            f"ope_bench at {s.scale} scale; seeds {seeds_text(config)}.",
            "bias, std and rmse are over replications within a seed; the ± is over seeds.",
        ]
        return SuiteResult(
            rows=tuple(rows),
            group_columns=("setting", "estimator"),
            metric_columns=_METRICS,
            plots=tuple(plots),
            notes=tuple(notes),
        )
