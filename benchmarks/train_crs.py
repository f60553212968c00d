"""Train the learned conversational agents on LastFM / LastFM* and evaluate them on full test.

Usage (from the repository root; data under $RECOWORLD_DATA or --data-dir):

    .venv/bin/python benchmarks/train_crs.py --data-dir ../shared/data \
        --runs lastfm:scpr:0 lastfm_star:scpr:0 lastfm:ear:0 --out benchmarks/results/crs_agents.json

Each run = FM embeddings on ``review_dict_train`` + RL on ``review_dict_valid`` (model selection
on a held-out tenth of it) + evaluation on every ``review_dict_test`` session with the project's
evaluator. Results are appended to the JSON file as each run finishes (finished runs are skipped
when the command is rerun). The fourth field of a run names the variant: ``reproduction``
(default, the published method), ``improved`` (never recommends items the user interacted with in
training) or ``pruned`` (``improved`` plus dropping every candidate that holds an attribute the user
declined, which exact answers rule out).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

from recoworld.agents.crm import CRMConfig
from recoworld.agents.ear import EARConfig
from recoworld.agents.registry import make_trainable_agent
from recoworld.agents.scpr import SCPRConfig
from recoworld.datasets.registry import load_world
from recoworld.envs.conversational import ConversationalRecEnv
from recoworld.evaluation import evaluate
from recoworld.outputs import dumps_json

PUBLISHED = {  # UNICORN Table 2: SR@15 / AT / hDCG
    ("lastfm", "crm"): (0.325, 13.75, 0.092),
    ("lastfm", "ear"): (0.429, 12.88, 0.136),
    ("lastfm", "scpr"): (0.465, 12.86, 0.139),
    ("lastfm_star", "crm"): (0.580, 10.79, 0.224),
    ("lastfm_star", "ear"): (0.595, 10.51, 0.230),
    ("lastfm_star", "scpr"): (0.709, 8.43, 0.317),
}


VARIANTS = ("reproduction", "improved", "pruned")


def _config(agent: str, variant: str) -> Any:
    if variant not in VARIANTS:
        raise SystemExit(f"unknown variant {variant}; known: {VARIANTS}")
    unseen = variant in ("improved", "pruned")
    prune = variant == "pruned"
    if agent == "scpr":
        return SCPRConfig(exclude_seen=unseen, prune_rejected=prune)
    if agent == "ear":
        return EARConfig(exclude_seen=unseen, prune_rejected=prune)
    if agent == "crm":
        return CRMConfig()
    raise SystemExit(f"unknown agent {agent}")


def report(paths: list[str]) -> str:
    """Markdown table (mean +/- std over seeds) of the result files, beside published numbers."""
    import statistics

    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str, int]] = set()
    for path in paths:
        for r in json.loads(Path(path).read_text()):
            key = (r["dataset"], r["agent"], r["variant"], r["seed"])
            if key not in seen:  # a run repeated in another file (same seed) is counted once
                seen.add(key)
                rows.append(r)
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["agent"], r["variant"]), []).append(r)

    def fmt(vals: list[float], digits: int) -> str:
        if len(vals) == 1:
            return f"{vals[0]:.{digits}f}"
        return f"{statistics.mean(vals):.{digits}f} ± {statistics.stdev(vals):.{digits}f}"

    lines = [
        "| dataset | agent | variant | seeds | SR@5 | SR@10 | SR@15 | AT | hDCG | train s | "
        "published SR@15 / AT / hDCG |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (dataset, agent, variant), rs in sorted(groups.items()):
        pub = PUBLISHED.get((dataset, agent))
        pub_s = f"{pub[0]:.3f} / {pub[1]:.2f} / {pub[2]:.3f}" if pub else "-"
        lines.append(
            f"| {dataset} | {agent} | {variant} | {','.join(str(r['seed']) for r in rs)} | "
            f"{fmt([r['sr@5'] for r in rs], 3)} | {fmt([r['sr@10'] for r in rs], 3)} | "
            f"{fmt([r['sr@15'] for r in rs], 3)} | {fmt([r['avg_turns'] for r in rs], 2)} | "
            f"{fmt([r['hdcg'] for r in rs], 3)} | {fmt([r['train_seconds'] for r in rs], 0)} | "
            f"{pub_s} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", default=None)
    p.add_argument("--report", nargs="+", default=None, help="print the table of these files")
    p.add_argument("--runs", nargs="+", default=[], help="dataset:agent:seed[:variant]")
    p.add_argument("--out", default="benchmarks/results/crs_agents.json")
    p.add_argument("--test-sessions", type=int, default=None, help="default: every test session")
    p.add_argument("--save-dir", default=None, help="also save each trained agent here")
    args = p.parse_args()
    if args.report:
        print(report(args.report))
        return
    torch.set_num_threads(1)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = json.loads(out.read_text()) if out.is_file() else []
    done = {(r["dataset"], r["agent"], r["seed"], r["variant"]) for r in results}
    for spec in args.runs:
        parts = spec.split(":")
        dataset, agent, seed = parts[0], parts[1], int(parts[2])
        variant = parts[3] if len(parts) > 3 else "reproduction"
        if (dataset, agent, seed, variant) in done:
            print(f"skip {spec} (already in {out})", flush=True)
            continue
        world = load_world(dataset, args.data_dir)
        t0 = time.perf_counter()
        trained = make_trainable_agent(agent, world, _config(agent, variant), seed)
        trained.learn()
        train_s = time.perf_counter() - t0
        if args.save_dir:
            trained.save(Path(args.save_dir) / f"{dataset}_{agent}_{variant}_{seed}.pt")
        env = ConversationalRecEnv(world, split="test")
        t1 = time.perf_counter()
        metrics, _ = evaluate(env, trained, "test", args.test_sessions, seed=seed)
        eval_s = time.perf_counter() - t1
        row = {
            "dataset": dataset,
            "agent": agent,
            "seed": seed,
            "variant": variant,
            "train_seconds": train_s,
            "eval_seconds": eval_s,
            "selection_history": [list(x) for x in trained.selection_history],
            "published": PUBLISHED.get((dataset, agent)),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": platform.machine(),
            **metrics.to_json(),
        }
        results.append(row)
        out.write_text(dumps_json(results, indent=1, sort_keys=False) + "\n")
        print(
            f"{dataset} {agent} {variant} seed={seed}: SR@15={metrics.sr15:.4f} "
            f"AT={metrics.avg_turns:.2f} hDCG={metrics.hdcg:.4f} train={train_s:.0f}s "
            f"eval={eval_s:.0f}s sessions={metrics.sessions}",
            flush=True,
        )


if __name__ == "__main__":
    main()
