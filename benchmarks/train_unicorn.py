"""UNICORN on LastFM / LastFM* / Yelp*: reproduction, the ablation of the new best, rule baselines.

Usage (from the repository root; data under $RECOWORLD_DATA or --data-dir):

    .venv/bin/python benchmarks/train_unicorn.py --data-dir ../shared/data \
        --runs lastfm:unicorn:0 lastfm:unicorn-dot:0 lastfm:rule-sigmoid:0 \
        --out benchmarks/results/unicorn.json --fm-cache runs/fm_cache
    .venv/bin/python benchmarks/train_unicorn.py --report benchmarks/results/unicorn*.json

A run is ``dataset:method:seed``. Methods:

* ``unicorn`` -- :class:`~recoworld.agents.UNICORNAgent` with its default settings (what
  ``recoworld train --agent unicorn`` trains); ``unicorn-<variant>`` changes the settings named in
  :data:`VARIANTS` (``unicorn-a+b`` merges two of them, ``b`` winning: ``unicorn-unseen+2k``).
* ``rule-<penalty>`` -- no learning: UNICORN's graph and pruned action set, with the fixed policy
  "ask the question of highest weighted entropy; recommend the best-scored items when at most
  ``rec_size`` candidates remain, when no question is left, and on the last turn". ``<penalty>``
  is the declined-attribute term of the item score (``none`` = SCPR's FM score, ``sigmoid`` =
  UNICORN's released code, ``dot``); ``rule-<penalty>-unseen`` also leaves out the user's
  training items, ``rule-<penalty>-pref`` keeps the questions of highest preference score (the
  released code's pruning) instead of weighted entropy.
* ``max-entropy`` -- the project's rule baseline (popularity ranking).

Each run trains on ``review_dict_valid`` (model selection on a held-out tenth of it, never
test) and evaluates every ``review_dict_test`` session; the row is appended to ``--out`` as it
finishes, and finished runs are skipped on a rerun. FM embeddings depend only on the dataset and
the seed: ``--fm-cache`` trains them once per pair (the same tables the agent would train in
``learn``, same seed, same settings) and reuses them. ``--noise P`` flips each answer with
probability ``P`` in training and in evaluation (the rows say so).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recoworld.agents._conversation_graph import ConversationGraph
from recoworld.agents.crs_base import recommend_action
from recoworld.agents.fm import FMConfig, FMEmbeddings, train_fm
from recoworld.agents.rules import MaxEntropyAgent
from recoworld.agents.unicorn import UNICORNAgent, UNICORNConfig
from recoworld.datasets.registry import load_world
from recoworld.datasets.world import AttributeGraphWorld
from recoworld.envs.conversational import ASK, ConversationalRecEnv
from recoworld.evaluation import evaluate
from recoworld.outputs import atomic_write_json
from recoworld.users.target_item import TargetItemUserConfig

PUBLISHED = {  # UNICORN Table 2: SR@15 / AT / hDCG
    ("lastfm", "unicorn"): (0.535, 11.82, 0.175),
    ("lastfm_star", "unicorn"): (0.788, 7.58, 0.349),
    ("yelp_star", "unicorn"): (0.520, 11.31, 0.203),
}

VARIANTS: dict[str, dict[str, Any]] = {
    "": {},
    "transe": {"pretrained": "transe"},
    "dot": {"rejected_penalty": "dot"},
    "nopenalty": {"rejected_penalty": "none"},
    "released": {"question_ranking": "preference"},
    "unseen": {"exclude_seen": True},
    "dot-unseen": {"rejected_penalty": "dot", "exclude_seen": True},
    "2k": {"episodes": 2_000},  # a short budget, for a run that fits ~30 min of a shared core
    "improved": {
        "rejected_penalty": "dot", "exclude_seen": True, "extra_features": True,
        "rec_order": "score",
    },
    "improved-10k": {
        "rejected_penalty": "dot", "exclude_seen": True, "extra_features": True,
        "rec_order": "score", "episodes": 10_000,
    },
}


class PrunedRule:
    """UNICORN's graph and pruned actions with a fixed policy (see the module docstring)."""

    def __init__(self, graph: ConversationGraph, rec_size: int = 10, max_turns: int = 15) -> None:
        self.graph, self.rec_size, self.max_turns = graph, rec_size, max_turns

    def predict(self, obs: dict[str, Any]) -> dict[str, Any]:
        """Ask the top question unless the recommend rule holds."""
        view = self.graph.build(obs)
        k = self.rec_size
        last = int(obs["turn"]) >= self.max_turns - 1
        if view.n_candidates <= k or view.question_actions.size == 0 or last:
            return recommend_action(view.item_actions[:k], k)
        return {"kind": ASK, "question": int(view.question_actions[0]), "items": np.zeros(k, np.int64)}


def _variant_settings(variant: str) -> dict[str, Any]:
    """The settings of ``unicorn-<variant>``; ``a+b`` merges variants ``a`` and ``b`` (b wins)."""
    settings: dict[str, Any] = {}
    for part in variant.split("+"):
        if part not in VARIANTS:
            raise SystemExit(f"unknown UNICORN variant {part!r}; known: {sorted(VARIANTS)}")
        settings.update(VARIANTS[part])
    return settings


def _fm(world: AttributeGraphWorld, seed: int, cache: Path | None) -> FMEmbeddings:
    if cache is None:
        return train_fm(world, FMConfig(), seed=seed)
    path = cache / f"{world.name}-fm-seed{seed}.npz"
    if path.is_file():
        return FMEmbeddings.load(path)
    emb = train_fm(world, FMConfig(), seed=seed)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    emb.save(tmp)
    tmp.replace(path)  # atomic: a process training the same pair never reads half a file
    return emb


def _run(dataset: str, method: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    world = load_world(dataset, args.data_dir)
    user_config = TargetItemUserConfig(answer_flip_prob=args.noise)
    cache = Path(args.fm_cache) if args.fm_cache else None
    t0 = time.perf_counter()
    c0 = time.process_time()
    extra: dict[str, Any] = {}
    agent: Any
    if method == "max-entropy":
        agent = MaxEntropyAgent(world, seed=seed)
    elif method.startswith("rule-"):
        parts = method.split("-")[1:]
        emb = _fm(world, seed, cache)
        graph = ConversationGraph(
            world, emb, rejected_penalty=parts[0],  # type: ignore[arg-type]
            exclude_seen="unseen" in parts[1:],
            question_ranking="preference" if "pref" in parts[1:] else "entropy",
        )
        agent = PrunedRule(graph)
    elif method == "unicorn" or method.startswith("unicorn-"):
        variant = method[len("unicorn-"):] if method != "unicorn" else ""
        settings = _variant_settings(variant)
        cfg = UNICORNConfig(**settings)
        emb = None if cfg.pretrained == "transe" else _fm(world, seed, cache)
        name = f"{dataset}_{method}_{seed}" + (f"_noise{args.noise:g}" if args.noise > 0 else "")
        ckpt = Path(args.save_dir) / f"{name}.pt" if args.save_dir else None
        if ckpt is not None and ckpt.is_file():
            agent = UNICORNAgent.load(ckpt, world)  # resume an interrupted run
        else:
            agent = UNICORNAgent(world, cfg, seed=seed, embeddings=emb)
        train_env = ConversationalRecEnv(world, split="valid", user_config=user_config)
        agent.learn(train_env, checkpoint_path=ckpt, checkpoint_every=500)
        extra = {
            "selection_history": [list(x) for x in agent.selection_history],
            "agent_train_seconds": agent.train_seconds,
            "config": settings,
        }
    else:
        raise SystemExit(f"unknown method {method!r}")
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    env = ConversationalRecEnv(world, split="test", user_config=user_config)
    t1 = time.perf_counter()
    metrics, _ = evaluate(env, agent, "test", args.test_sessions, seed=seed)
    return {
        "dataset": dataset,
        "agent": method,
        "variant": f"noise{args.noise:g}" if args.noise > 0 else "published-protocol",
        "seed": seed,
        "noise": args.noise,
        "train_seconds": train_s,
        "train_cpu_seconds": train_cpu,
        "eval_seconds": time.perf_counter() - t1,
        "published": PUBLISHED.get((dataset, method.split("-")[0])),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": platform.machine(),
        **extra,
        **metrics.to_json(),
    }


def report(paths: list[str]) -> str:
    """Markdown table (mean +/- std over seeds) of the result files."""
    rows: dict[tuple[str, str, float, int], dict[str, Any]] = {}
    for path in paths:
        for r in json.loads(Path(path).read_text()):
            rows.setdefault((r["dataset"], r["agent"], r.get("noise", 0.0), r["seed"]), r)
    groups: dict[tuple[str, str, float], list[dict[str, Any]]] = {}
    for (dataset, agent, noise, _), r in sorted(rows.items()):
        groups.setdefault((dataset, agent, noise), []).append(r)

    def fmt(vals: list[float], digits: int) -> str:
        if len(vals) == 1:
            return f"{vals[0]:.{digits}f}"
        return f"{statistics.mean(vals):.{digits}f} ± {statistics.stdev(vals):.{digits}f}"

    lines = [
        "| dataset | method | noise | seeds | SR@5 | SR@10 | SR@15 | AT | hDCG | train s (wall / CPU) "
        "| published SR@15 / AT / hDCG |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (dataset, agent, noise), rs in groups.items():
        pub = PUBLISHED.get((dataset, agent.split("-")[0]))
        pub_s = f"{pub[0]:.3f} / {pub[1]:.2f} / {pub[2]:.3f}" if pub else "-"
        lines.append(
            f"| {dataset} | {agent} | {noise:g} | {','.join(str(r['seed']) for r in rs)} | "
            f"{fmt([r['sr@5'] for r in rs], 3)} | {fmt([r['sr@10'] for r in rs], 3)} | "
            f"{fmt([r['sr@15'] for r in rs], 3)} | {fmt([r['avg_turns'] for r in rs], 2)} | "
            f"{fmt([r['hdcg'] for r in rs], 3)} | {fmt([r['train_seconds'] for r in rs], 0)} / "
            f"{fmt([r.get('train_cpu_seconds', float('nan')) for r in rs], 0)} | {pub_s} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", default=None)
    p.add_argument("--report", nargs="+", default=None, help="print the table of these files")
    p.add_argument("--runs", nargs="+", default=[], help="dataset:method:seed")
    p.add_argument("--out", default="benchmarks/results/unicorn.json")
    p.add_argument("--fm-cache", default=None, help="folder of FM embeddings per dataset and seed")
    p.add_argument("--save-dir", default=None, help="checkpoint UNICORN runs here (resumable)")
    p.add_argument("--noise", type=float, default=0.0, help="answer flip probability")
    p.add_argument("--test-sessions", type=int, default=None, help="default: every test session")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    if args.report:
        print(report(args.report))
        return
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = json.loads(out.read_text()) if out.is_file() else []
    done = {(r["dataset"], r["agent"], r["seed"], r.get("noise", 0.0)) for r in results}
    for spec in args.runs:
        dataset, method, seed = spec.split(":")
        if (dataset, method, int(seed), args.noise) in done:
            print(f"skip {spec} (already in {out})", flush=True)
            continue
        row = _run(dataset, method, int(seed), args)
        results = json.loads(out.read_text()) if out.is_file() else []
        results.append(row)
        atomic_write_json(out, results, indent=1)
        print(
            f"{dataset} {method} seed={seed} noise={args.noise:g}: SR@15={row['sr@15']:.4f} "
            f"AT={row['avg_turns']:.2f} hDCG={row['hdcg']:.4f} train={row['train_seconds']:.0f}s "
            f"(cpu {row['train_cpu_seconds']:.0f}s) eval={row['eval_seconds']:.0f}s",
            flush=True,
        )


if __name__ == "__main__":
    main()
