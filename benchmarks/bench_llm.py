"""LLM-user speed on the local llama.cpp server (SmolLM2-135M-Instruct) and replay speed.

Usage:
    .venv/bin/python benchmarks/bench_llm.py [--turns 16] [--concurrency 4] [--repeats 3]
        [--threads 2] [--json OUT]

Starts ``LocalLLMServer`` on a free loopback port, then, side by side in one run, per repeat:

1. sequential: ``turns`` conversational user turns (binary answers of an LLMConversationalUser on
   a small world, JSON-schema constrained), one request at a time;
2. concurrent: the same number of turns sent as one batch (``decide_many``) with
   ``max_concurrency = concurrency`` -- what a vector environment does;
3. feed: ``turns`` feed reviews, sequential (1 slot) against concurrent (``concurrency`` slots);
4. replay: the recorded conversational turns replayed from the SQLite cache with no server.

One untimed warm-up request per schema comes first (the server compiles a schema's grammar on
first use, about 20 s on a loaded 2-core machine).

Different seeds per repeat and mode keep the server from answering from its own prompt cache.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from llm_server import tiny_world

from recoworld.datasets.feed_world import synthetic_feed_world
from recoworld.outputs import dumps_json
from recoworld.users.llm.cache import ResponseCache
from recoworld.users.llm.client import LLMClient, LLMClientConfig
from recoworld.users.llm.conversational import LLMConversationalUser
from recoworld.users.llm.decision import DecisionField, DecisionSchema
from recoworld.users.llm.feed import LLMFeedUser
from recoworld.users.llm.serve import LocalLLMServer


def _conv_requests(seed0: int, turns: int) -> list[tuple[list[dict[str, str]], DecisionSchema, int]]:
    """The exact requests an LLMConversationalUser sends for ``turns`` binary questions."""
    world = tiny_world()
    schema = DecisionSchema(
        (DecisionField("answer", "enum", ("yes", "no")), DecisionField("utterance", "text", max_chars=120))
    )

    class _Capture:
        def __init__(self) -> None:
            self.sent: list[Any] = []

        def decide(self, messages: Any, s: Any, *, seed: int) -> Any:
            from recoworld.users.llm.client import Decision

            self.sent.append(messages)
            return Decision({"attribute": "rock", "answer": "no", "utterance": ""}, True, 1, ("",))

    cap = _Capture()
    user = LLMConversationalUser(world, cap)  # type: ignore[arg-type]
    user.start(0, 5, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    for t in range(turns):
        user.answer_binary(t % world.n_attributes, rng)
    return [(m, schema, seed0 + i) for i, m in enumerate(cap.sent[1:])]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=16)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    n, k = args.turns, args.concurrency
    feed_world = synthetic_feed_world(n_users=20, n_items=200, n_categories=6, seed=0)
    rows: dict[str, list[float]] = {m: [] for m in ("seq", "conc", "feed_seq", "feed_conc", "replay")}
    invalid: dict[str, int] = {m: 0 for m in rows}
    tmp = Path(tempfile.mkdtemp())
    with LocalLLMServer(n_threads=args.threads, startup_timeout_s=180) as server:
        # warm-up (not timed): the server compiles each JSON schema into a grammar on first use
        warm_cfg = LLMClientConfig(base_url=server.base_url, timeout_s=300)
        with LLMClient(warm_cfg) as client:
            client.decide_many(_conv_requests(7, 1))
            warm = LLMFeedUser(client)
            warm.bind(feed_world, 1)
            warm.reset(np.arange(1), np.arange(1))
            warm.respond(np.arange(1), np.arange(1), np.full((1, 3), 0.5))
        for r in range(args.repeats):
            base = 1000 * (r + 1)
            cache_path = tmp / f"rec{r}.sqlite"
            reqs = _conv_requests(base, n)
            cfg = LLMClientConfig(base_url=server.base_url, max_concurrency=1, timeout_s=300)
            with LLMClient(cfg, ResponseCache(cache_path)) as client:
                t0 = time.perf_counter()
                out = [client.decide(m, s, seed=sd) for m, s, sd in reqs]
                rows["seq"].append(time.perf_counter() - t0)
                invalid["seq"] += sum(not d.valid for d in out)
            reqs2 = _conv_requests(base + 500, n)
            cfg = LLMClientConfig(base_url=server.base_url, max_concurrency=k, timeout_s=300)
            with LLMClient(cfg) as client:
                t0 = time.perf_counter()
                out = client.decide_many(reqs2)
                rows["conc"].append(time.perf_counter() - t0)
                invalid["conc"] += sum(not d.valid for d in out)
            # feed reviews: 1 slot x n steps against k slots x n/k steps
            for mode, slots in (("feed_seq", 1), ("feed_conc", k)):
                cfg = LLMClientConfig(base_url=server.base_url, max_concurrency=slots, timeout_s=300)
                with LLMClient(cfg) as client:
                    user = LLMFeedUser(client)
                    user.bind(feed_world, slots)
                    idx = np.arange(slots)
                    user.reset(idx, idx)
                    rng = np.random.default_rng(base + slots)
                    t0 = time.perf_counter()
                    for step in range(n // slots):
                        resp = user.respond(idx, idx * 7 + step, rng.random((slots, 3)))
                        assert resp.info is not None
                        invalid[mode] += int(np.sum(resp.info["invalid_response"]))
                    rows[mode].append(time.perf_counter() - t0)
            dead = LLMClientConfig(base_url="http://127.0.0.1:9/v1")
            with LLMClient(dead, ResponseCache(cache_path, "replay")) as client:
                t0 = time.perf_counter()
                replayed = [client.decide(m, s, seed=sd) for m, s, sd in reqs]
                rows["replay"].append(time.perf_counter() - t0)
                assert client.server_calls == 0 and len(replayed) == n
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": platform.machine(),
        "turns": n,
        "concurrency": k,
        "repeats": args.repeats,
        "median_seconds": {m: statistics.median(v) for m, v in rows.items()},
        "all_seconds": rows,
        "turns_per_s": {m: n / statistics.median(v) for m, v in rows.items()},
        "invalid": invalid,
    }
    print(dumps_json(result, indent=2, sort_keys=False))
    if args.json:
        Path(args.json).write_text(dumps_json(result, indent=2, sort_keys=False))


if __name__ == "__main__":
    main()
