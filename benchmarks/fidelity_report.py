"""Score recorded fidelity caches by replay and draw fidelity against model size.

For each model's cache (``benchmarks/results/llm_fidelity/<model>.sqlite``): find the test sessions
it holds completely (a replay of one session raises no cache miss), replay those sessions for each
calibration of the scored method with no server (``recoworld fidelity --indices ... --cache-mode
replay``), and write ``benchmarks/results/llm_fidelity/summary.json`` and the curve
``benchmarks/figures/llm_fidelity_vs_size.png``.

    .venv/bin/python benchmarks/fidelity_report.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from recoworld.users.llm.models import LOCAL_MODELS

RESULTS = Path("benchmarks/results/llm_fidelity")


def fidelity(cache: Path, model: str, calibration: str, indices: str, data_dir: str) -> dict:
    cmd = [sys.executable, "-m", "recoworld.cli", "fidelity", "--env", "recoworld/LastFM-CRS-v0",
           "--user", "llm", "--method", "scored", "--calibration", calibration,
           "--indices", indices, "--cache", str(cache), "--cache-mode", "replay",
           "--model", model, "--data-dir", data_dir, "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        return {}
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def complete_sessions(cache: Path, model: str, n: int, data_dir: str) -> list[int]:
    """The sessions among the first ``n`` that replay from ``cache`` without a miss."""
    from recoworld.bench.fidelity import measure_fidelity
    from recoworld.datasets.registry import load_world
    from recoworld.errors import LLMCacheMissError
    from recoworld.users.llm.cache import ResponseCache
    from recoworld.users.llm.client import LLMClient, LLMClientConfig
    from recoworld.users.llm.scored import ScoredConversationalUser

    world = load_world("lastfm", data_dir)
    out = []
    with LLMClient(LLMClientConfig(model=model), ResponseCache(cache, "replay")) as client:
        user = ScoredConversationalUser(world, client)
        for i in range(n):
            try:
                measure_fidelity(world, user, 1, indices=[i])
            except LLMCacheMissError:
                continue
            out.append(i)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--max-sessions", type=int, default=200)
    args = p.parse_args()
    summary = []
    for name, model in LOCAL_MODELS.items():
        cache = RESULTS / f"{name}.sqlite"
        if not cache.is_file():
            continue
        complete = complete_sessions(cache, name, args.max_sessions, args.data_dir)
        if not complete:
            continue
        indices = ",".join(map(str, complete))
        for calibration in ("contextual", "fitted", "none"):
            r = fidelity(cache, name, calibration, indices, args.data_dir)
            if r:
                r.update(model_name=name, parameters=model.parameters, indices=complete)
                summary.append(r)
                print(name, calibration, len(complete), r["answer_accuracy"],
                      r["acceptance_accuracy"], flush=True)
    (RESULTS / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for calibration, style in (("contextual", "-o"), ("fitted", "-.^"), ("none", "--s")):
        rows = sorted((r for r in summary if r["calibration"] == calibration),
                      key=lambda r: r["parameters"])
        if not rows:
            continue
        x = [r["parameters"] / 1e6 for r in rows]
        ax.plot(x, [r["answer_accuracy"] for r in rows], style, label=f"answer, {calibration}")
        ax.plot(x, [r["acceptance_accuracy"] for r in rows], style, alpha=0.5,
                label=f"acceptance, {calibration}")
        for xi, r in zip(x, rows, strict=False):
            ax.annotate(f"n={r['sessions']}", (xi, r["answer_accuracy"]), fontsize=7)
    ax.axhline(0.8, color="grey", lw=0.8, ls=":", label="aim .80")
    ax.axhline(0.5, color="black", lw=0.8, ls=":", label="chance")
    ax.set_xscale("log")
    ax.set_xlabel("model parameters (millions)")
    ax.set_ylabel("accuracy (LastFM test sessions)")
    ax.set_title("Scored LLM user: fidelity against model size")
    ax.legend(fontsize=7)
    fig.tight_layout()
    Path("benchmarks/figures").mkdir(parents=True, exist_ok=True)
    fig.savefig("benchmarks/figures/llm_fidelity_vs_size.png", dpi=120)


if __name__ == "__main__":
    main()
