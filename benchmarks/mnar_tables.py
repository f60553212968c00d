"""Compact markdown tables of a `recoworld bench mnar` run, for benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/mnar_tables.py RUN_DIR

Reads ``RUN_DIR/results.json`` and ``RUN_DIR/tau.json`` (written by the suite) and prints, per
environment: the online-vs-offline table (mean ± std over seeds), Kendall's tau of every offline
number against the online watch time, each off-policy estimator's error against the online reward
per video, and the paired gains of the debiased learners.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

ONLINE = (("watch_time", "watch time / session (s)", 0), ("like_rate", "like rate", 3),
          ("return_rate", "return rate", 3), ("coverage", "coverage", 3),
          ("value_per_video", "reward / video (min)", 2))
OFFLINE = (("dcg_naive", "DCG@5 naive", 4), ("dcg_ips", "DCG@5 IPS", 3),
           ("recall_naive", "Recall@5 naive", 3), ("recall_ips", "Recall@5 IPS", 3))
OPE = (("ope_ips", "IPS"), ("ope_snips", "SNIPS"), ("ope_dr", "DR"),
       ("ope_switch_dr", "switch-DR"), ("ope_mips", "MIPS"))


def _ms(values: list[float], digits: int) -> str:
    v = np.asarray(values, dtype=float)
    ok = v[~np.isnan(v)]
    if ok.size == 0:
        return "nan"
    std = f" ± {ok.std(ddof=1):.{digits}f}" if ok.size > 1 else ""
    return f"{ok.mean():,.{digits}f}{std}"


def main(run_dir: Path) -> None:
    """Print the tables."""
    rows = json.loads((run_dir / "results.json").read_text())["rows"]
    taus = json.loads((run_dir / "tau.json").read_text())
    envs = list(dict.fromkeys(r["env"] for r in rows))
    loggings = list(dict.fromkeys(r["logging"] for r in rows))
    learners = list(dict.fromkeys(r["learner"] for r in rows))
    for env in envs:
        name = env.split("/")[-1]
        print(f"\n#### {name}: online (held-out users) and offline (test part of the log)\n")
        head = ["logging", "learner", *(h for _, h, _ in ONLINE), *(h for _, h, _ in OFFLINE),
                *(f"OPE {h}" for _, h in OPE)]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for logging in loggings:
            for learner in learners:
                rs = [r for r in rows if r["env"] == env and r["logging"] == logging
                      and r["learner"] == learner]
                if not rs:
                    continue
                cells = [logging, learner]
                cells += [_ms([r[c] for r in rs], d) for c, _, d in (*ONLINE, *OFFLINE)]
                cells += [_ms([r[c] for r in rs], 2) for c, _ in OPE]
                print("| " + " | ".join(cells) + " |")
        print(f"\n#### {name}: Kendall's tau of each offline number's ranking of the six learners "
              "vs their online watch time (mean ± std over seeds)\n")
        print("| offline number | " + " | ".join(loggings) + " |")
        print("|" + "---|" * (len(loggings) + 1))
        for metric in dict.fromkeys(t["offline"] for t in taus):
            cells = [_ms(next(t["taus"] for t in taus if t["env"] == env and t["logging"] == lg
                              and t["offline"] == metric), 2) for lg in loggings]
            print(f"| {metric} | " + " | ".join(cells) + " |")
        print(f"\n#### {name}: off-policy estimate minus online reward per video, mean over the "
              "six learners and seeds (mean |error| in brackets)\n")
        print("| estimator | " + " | ".join(loggings) + " |")
        print("|" + "---|" * (len(loggings) + 1))
        for col, label in OPE:
            cells = []
            for lg in loggings:
                err = [r[col] - r["value_per_video"] for r in rows if r["env"] == env
                       and r["logging"] == lg and r["learner"] not in ("logging policy",)]
                cells.append(f"{np.mean(err):+.2f} ({np.mean(np.abs(err)):.2f})")
            print(f"| {label} | " + " | ".join(cells) + " |")
        print(f"\n#### {name}: paired gains (same seed, same held-out users), mean ± std over "
              "seeds\n")
        pairs = (("ips", "naive", "watch_time", 0), ("snips", "naive", "watch_time", 0),
                 ("dr", "naive", "watch_time", 0), ("rel-mf", "naive-implicit", "like_rate", 3),
                 ("rel-mf", "naive-implicit", "watch_time", 0))
        print("| difference | " + " | ".join(loggings) + " |")
        print("|" + "---|" * (len(loggings) + 1))

        def by_seed(lg: str, learner: str, col: str, env: str = env) -> dict[int, float]:
            return {r["seed"]: r[col] for r in rows if r["env"] == env and r["logging"] == lg
                    and r["learner"] == learner}

        for a, b, col, d in pairs:
            cells = []
            for lg in loggings:
                x, y = by_seed(lg, a, col), by_seed(lg, b, col)
                cells.append(_ms([x[s] - y[s] for s in sorted(set(x) & set(y))], d))
            print(f"| {a} - {b} ({col}) | " + " | ".join(cells) + " |")
        ref = by_seed("uniform", "naive", "watch_time")
        cells = []
        for lg in loggings:
            x = by_seed(lg, "naive", "watch_time")
            cells.append(_ms([x[s] - ref[s] for s in sorted(set(x) & set(ref))], 0))
        print("| naive - reference (naive MF on the uniform log) (watch_time) | "
              + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
