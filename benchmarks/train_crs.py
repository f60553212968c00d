"""Train the conversational agents on LastFM / LastFM* and evaluate them on full test.

Usage (from the repository root; data under $RECOWORLD_DATA or --data-dir):

    .venv/bin/python benchmarks/train_crs.py --data-dir ../shared/data \
        --runs lastfm:scpr:0 lastfm_star:scpr:0 lastfm:ear:0 --out benchmarks/results/crs_agents.json
    .venv/bin/python benchmarks/train_crs.py --data-dir ../shared/data --noise 0.1 \
        --protocol reject-filter --runs lastfm:max-entropy:0 lastfm:scpr:0 --out ...

Each run = FM embeddings on ``review_dict_train`` + RL in the ``review_dict_valid`` environment
(model selection on a held-out tenth of it) + evaluation on every ``review_dict_test`` session
with the project's evaluator; rule agents (``max-entropy``, ``abs-greedy``, ``random``) are only
evaluated. ``--noise P`` trains and evaluates against a user who flips each answer with probability
``P``; ``--protocol reject-filter`` runs the env option that removes candidates holding a declined
attribute (``published``, the default, removes none). Results are appended to the JSON file as
each run finishes (finished runs are skipped when the command is rerun). The fourth field of a run
names the variant: ``reproduction`` (default, the published method), ``faithful`` (SCPR as close to
the released code as the library allows: :meth:`SCPRConfig.faithful` and, on LastFM, SCPR's
released FM embeddings), ``improved`` (never recommends items the user interacted with in
training), ``pruned`` (``improved`` plus dropping every candidate that holds an attribute the user
declined, which exact answers rule out) or ``noise-aware`` (``improved`` plus the noise-aware
filter at the run's ``--noise``: a candidate loses ``log(p/(1-p))`` of score per declined attribute
it holds and is dropped after ``--max-declined`` of them), or ``batched-50k`` (SCPR's published
method at the released code's budget of 50,000 sessions, collected on a vector env, 64 sessions at
a time: ``BATCHED_50K``). ``train_seconds`` includes the FM embeddings (``fm_seconds``).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

from recoworld.agents import FMEmbeddings, make_agent
from recoworld.agents.crm import CRMConfig
from recoworld.agents.ear import EARConfig
from recoworld.agents.fm import train_fm
from recoworld.agents.registry import RULE_AGENTS, make_trainable_agent
from recoworld.agents.scpr import SCPRConfig
from recoworld.datasets.registry import load_world
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs.conversational import ConversationalRecEnv
from recoworld.evaluation import evaluate
from recoworld.outputs import dumps_json
from recoworld.users import TargetItemUserConfig

PUBLISHED = {  # UNICORN Table 2: SR@15 / AT / hDCG
    ("lastfm", "crm"): (0.325, 13.75, 0.092),
    ("lastfm", "ear"): (0.429, 12.88, 0.136),
    ("lastfm", "scpr"): (0.465, 12.86, 0.139),
    ("lastfm_star", "crm"): (0.580, 10.79, 0.224),
    ("lastfm_star", "ear"): (0.595, 10.51, 0.230),
    ("lastfm_star", "scpr"): (0.709, 8.43, 0.317),
}


VARIANTS = ("reproduction", "faithful", "improved", "pruned", "noise-aware", "batched-50k")
# SCPR at the released code's budget (50,000 sessions), collected 64 conversations at a time:
# a gradient step of 256 transitions per 16 new ones (SCPR: 64 per new one), selection every 5,000.
BATCHED_50K = {
    "episodes": 50_000, "eval_every": 5_000, "num_envs": 64, "transitions_per_update": 16,
    "batch_size": 256,
}
PROTOCOLS = ("published", "reject-filter")


def _config(agent: str, variant: str, noise: float, max_declined: int) -> Any:
    if variant not in VARIANTS:
        raise SystemExit(f"unknown variant {variant}; known: {VARIANTS}")
    unseen = variant in ("improved", "pruned", "noise-aware")
    prune = variant in ("pruned", "noise-aware")
    aware = {"answer_noise": noise, "max_declined": max_declined} if variant == "noise-aware" else {}
    if variant == "noise-aware" and noise <= 0:
        raise SystemExit("the noise-aware variant needs --noise > 0 (at 0 it is `pruned`)")
    if agent == "scpr":
        if variant == "faithful":
            return SCPRConfig.faithful()
        if variant == "batched-50k":
            return SCPRConfig(**BATCHED_50K)
        return SCPRConfig(exclude_seen=unseen, prune_rejected=prune, **aware)
    if variant in ("faithful", "batched-50k"):
        raise SystemExit(f"the {variant} variant exists for SCPR only")
    if agent == "ear":
        return EARConfig(exclude_seen=unseen, prune_rejected=prune, **aware)
    if agent == "crm":
        return CRMConfig(exclude_seen=unseen, prune_rejected=prune, **aware)
    raise SystemExit(f"unknown agent {agent}")


def _embeddings(world: AttributeGraphWorld, variant: str, data_dir: str | None) -> Any:
    """SCPR's released FM embeddings for the faithful variant on LastFM (None elsewhere)."""
    if variant != "faithful" or world.name != "lastfm":
        return None
    from recoworld.datasets.registry import data_root

    root = data_root(data_dir)
    assert root is not None
    return FMEmbeddings.from_scpr_release(
        root / "crs" / "lastfm" / "FM_embeds" / "embeds-epoch-0.pkl", world
    )


def _env(world: AttributeGraphWorld, split: str, noise: float, protocol: str) -> ConversationalRecEnv:
    return ConversationalRecEnv(
        world,
        user_config=TargetItemUserConfig(answer_flip_prob=noise),
        split=split,
        reject_filter=protocol == "reject-filter",
    )


def report(paths: list[str]) -> str:
    """Markdown table (mean +/- std over seeds) of the result files, beside published numbers.

    One row per (dataset, protocol, noise, agent, variant); each protocol and noise level in
    its own rows.
    """
    import statistics

    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str, int, str, float, str]] = set()
    for path in paths:
        for r in json.loads(Path(path).read_text()):
            key = _key(r)
            if key not in seen:  # a run repeated in another file (same seed) is counted once
                seen.add(key)
                rows.append(r)
    groups: dict[tuple[str, str, float, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        k = _key(r)
        groups.setdefault((k[0], k[5], k[4], k[1], k[3]), []).append(r)

    def fmt(vals: list[float], digits: int) -> str:
        if len(vals) == 1:
            return f"{vals[0]:.{digits}f}"
        return f"{statistics.mean(vals):.{digits}f} ± {statistics.stdev(vals):.{digits}f}"

    lines = [
        "| dataset | protocol | noise | agent | variant | seeds | SR@5 | SR@10 | SR@15 | AT | hDCG "
        "| train s | published SR@15 / AT / hDCG |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (dataset, protocol, noise, agent, variant), rs in sorted(groups.items()):
        pub = PUBLISHED.get((dataset, agent)) if protocol == "published" and noise == 0 else None
        pub_s = f"{pub[0]:.3f} / {pub[1]:.2f} / {pub[2]:.3f}" if pub else "-"
        variant_s = "-" if agent in RULE_AGENTS else variant
        lines.append(
            f"| {dataset} | {protocol} | {noise:g} | {agent} | {variant_s} | "
            f"{','.join(str(r['seed']) for r in rs)} | "
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
    p.add_argument("--noise", type=float, default=0.0, help="answer flip probability of the user")
    p.add_argument("--protocol", choices=PROTOCOLS, default="published", help="candidate protocol")
    p.add_argument("--max-declined", type=int, default=2, help="noise-aware filter's drop count")
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
    done = {_key(r) for r in results}
    for spec in args.runs:
        parts = spec.split(":")
        dataset, agent, seed = parts[0], parts[1], int(parts[2])
        variant = parts[3] if len(parts) > 3 else "reproduction"
        row_key = (dataset, agent, seed, variant, args.noise, args.protocol)
        if row_key in done:
            print(f"skip {spec} noise={args.noise} {args.protocol} (already in {out})", flush=True)
            continue
        world = load_world(dataset, args.data_dir)
        t0, c0 = time.perf_counter(), time.process_time()
        fm_s = 0.0
        if agent in RULE_AGENTS:
            trained: Any = make_agent(agent, world, seed)
            history: list[Any] = []
        else:
            cfg = _config(agent, variant, args.noise, args.max_declined)
            emb = _embeddings(world, variant, args.data_dir)
            if emb is None:  # what learn() would train, timed on its own
                emb = train_fm(world, cfg.fm, seed=seed)
            fm_s = time.perf_counter() - t0
            trained = make_trainable_agent(agent, world, cfg, seed, emb)
            trained.learn(_env(world, "valid", args.noise, args.protocol))
            history = [list(x) for x in trained.selection_history]
        train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
        if args.save_dir and agent not in RULE_AGENTS:
            name = f"{dataset}_{agent}_{variant}_{seed}_noise{args.noise}_{args.protocol}.pt"
            trained.save(Path(args.save_dir) / name)
        env = _env(world, "test", args.noise, args.protocol)
        t1 = time.perf_counter()
        metrics, _ = evaluate(env, trained, "test", args.test_sessions, seed=seed)
        eval_s = time.perf_counter() - t1
        row = {
            "dataset": dataset,
            "agent": agent,
            "seed": seed,
            "variant": variant,
            "noise": args.noise,
            "protocol": args.protocol,
            "max_declined": args.max_declined if variant == "noise-aware" else None,
            "train_seconds": train_s,
            "train_cpu_seconds": train_cpu,
            "fm_seconds": fm_s,
            "eval_seconds": eval_s,
            "selection_history": history,
            "published": PUBLISHED.get((dataset, agent)),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": platform.machine(),
            **metrics.to_json(),
        }
        results = json.loads(out.read_text()) if out.is_file() else []
        results.append(row)
        out.write_text(dumps_json(results, indent=1, sort_keys=False) + "\n")
        print(
            f"{dataset} {agent} {variant} seed={seed} noise={args.noise} {args.protocol}: "
            f"SR@15={metrics.sr15:.4f} AT={metrics.avg_turns:.2f} hDCG={metrics.hdcg:.4f} "
            f"train={train_s:.0f}s eval={eval_s:.0f}s sessions={metrics.sessions}",
            flush=True,
        )


def _key(r: dict[str, Any]) -> tuple[str, str, int, str, float, str]:
    """A result row's identity (rows of older files: no noise, the published protocol)."""
    return (r["dataset"], r["agent"], r["seed"], r["variant"], float(r.get("noise", 0.0)),
            r.get("protocol", "published"))


if __name__ == "__main__":
    main()
