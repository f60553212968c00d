"""Record the LLM users' fidelity runs in parallel, then score them by replay from one cache.

For one model and method: ``--workers`` processes each start their own local server
(``recoworld llm serve`` engine: ``scoring`` for the scored method, ``llama-cpp`` for the
structured one, one thread each) and record a slice of the sessions into their own SQLite cache
(``recoworld fidelity --first K --sessions M --cache-mode record``). The slices' caches are merged
into ``--cache``, and the figures come from one replay of every session from that cache with no
server (``recoworld fidelity ... --cache-mode replay``), the command anyone can rerun. The live
rate (turns per second of model time, all workers together) is written beside them.

    .venv/bin/python benchmarks/fidelity_models.py --model smollm2-135m --method scored \\
        --calibration contextual --sessions 100 --workers 3 \\
        --cache benchmarks/results/llm_fidelity/smollm2-135m.sqlite \\
        --out benchmarks/results/llm_fidelity/smollm2-135m_scored_contextual.json
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from recoworld.users.llm.serve import LocalLLMServer

ENV = "recoworld/LastFM-CRS-v0"


def fidelity_cmd(args: argparse.Namespace, first: int, n: int, cache: Path, mode: str,
                 url: str | None, model: str) -> list[str]:
    cmd = [sys.executable, "-m", "recoworld.cli", "fidelity", "--env", ENV, "--user", "llm",
           "--method", args.method, "--calibration", args.calibration, "--shots", str(args.shots),
           "--first", str(first), "--sessions", str(n), "--data-dir", args.data_dir,
           "--cache", str(cache), "--cache-mode", mode, "--model", model, "--json",
           "--timeout", "1800"]
    if url:
        cmd += ["--base-url", url]
    return cmd


def merge(parts: list[Path], target: Path) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(target))
    db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, "
               "request TEXT NOT NULL, response TEXT NOT NULL)")
    for part in parts:
        if part.is_file():
            db.execute("ATTACH DATABASE ? AS part", (str(part),))
            db.execute("INSERT OR IGNORE INTO responses SELECT * FROM part.responses")
            db.commit()
            db.execute("DETACH DATABASE part")
    n = int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])
    db.execute("VACUUM")
    db.close()
    return n


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--method", choices=("scored", "structured"), default="scored")
    p.add_argument("--calibration", default="contextual")
    p.add_argument("--shots", type=int, default=4)
    p.add_argument("--sessions", type=int, default=100)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cache", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--work", default="/tmp/llm_fidelity_work")
    args = p.parse_args()
    work = Path(args.work) / f"{args.model}_{args.method}_{args.calibration}"
    work.mkdir(parents=True, exist_ok=True)
    engine = "scoring" if args.method == "scored" else "llama-cpp"
    sizes = [args.sessions // args.workers + (k < args.sessions % args.workers)
             for k in range(args.workers)]
    starts = [sum(sizes[:k]) for k in range(args.workers)]
    servers = [LocalLLMServer(model=args.model, engine=engine, n_threads=1,
                              startup_timeout_s=900) for _ in range(args.workers)]
    parts = [work / f"part{k}.sqlite" for k in range(args.workers)]
    t0 = time.perf_counter()
    procs = []
    try:
        for srv in servers:
            srv.start()
        model = servers[0].alias
        # seed each worker's cache with what the target cache already holds
        for part in parts:
            if Path(args.cache).is_file() and not part.is_file():
                merge([Path(args.cache)], part)
        for k, srv in enumerate(servers):
            log = (work / f"worker{k}.log").open("w")
            procs.append(subprocess.Popen(
                fidelity_cmd(args, starts[k], sizes[k], parts[k], "record", srv.base_url, model),
                stdout=log, stderr=subprocess.STDOUT))
        codes = [proc.wait() for proc in procs]
    finally:
        for srv in servers:
            srv.stop()
    live_s = time.perf_counter() - t0
    if any(codes):
        raise SystemExit(f"a worker failed ({codes}); see {work}/worker*.log")
    live = [json.loads((work / f"worker{k}.log").read_text().strip().splitlines()[-1])
            for k in range(args.workers)]
    entries = merge(parts, Path(args.cache))
    out = subprocess.run(fidelity_cmd(args, 0, args.sessions, Path(args.cache), "replay", None,
                                      model), capture_output=True, text=True, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    turns = sum(r["turns"] for r in live)
    worker_s = [r["seconds"] for r in live]
    report.update(
        model_name=args.model, workers=args.workers, live_wall_s=live_s,
        live_worker_seconds=worker_s, live_server_calls=sum(r["server_calls"] for r in live),
        live_turns_per_second_per_worker=turns / sum(worker_s),
        cache_entries=entries, date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        load_average=open("/proc/loadavg").read().split()[:3],
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: report[k] for k in ("answer_accuracy", "acceptance_accuracy",
                                             "invalid_rate", "leakage_rate", "consistency")}))


if __name__ == "__main__":
    main()
