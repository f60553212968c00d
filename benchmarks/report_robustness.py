"""Tables and the plot of issue 12's experiments, from the result files of ``robustness_runs.sh``.

Usage (from the repository root):

    .venv/bin/python benchmarks/report_robustness.py benchmarks/results/crs_robustness_*.json \
        --plot benchmarks/figures/crs_noise_sr15.png

Prints three markdown tables: SR@15 against answer noise (one column per flip probability, seeds
averaged where there are several), the two candidate protocols side by side (exact answers), and
SCPR's ``faithful`` rows beside ``reproduction``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

NOISE = (0.0, 0.05, 0.1, 0.2)
DATASETS = {"lastfm": "LastFM", "lastfm_star": "LastFM*"}
ROWS = (  # (agent, variant, label) in table order
    ("max-entropy", "reproduction", "max-entropy"),
    ("abs-greedy", "reproduction", "abs-greedy"),
    ("ear", "reproduction", "EAR"),
    ("scpr", "reproduction", "SCPR"),
    ("scpr", "pruned", "SCPR pruned (hard filter)"),
    ("scpr", "noise-aware", "SCPR noise-aware"),
)


def _load(paths: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in paths:
        rows.extend(json.loads(Path(path).read_text()))
    return rows


def _pick(rows: list[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        values = {"noise": float(r.get("noise", 0.0)), "protocol": r.get("protocol", "published"),
                  **{k: r[k] for k in ("dataset", "agent", "variant", "seed")}}
        if all(values[k] == v for k, v in match.items()):
            out.append(r)
    return out


def _cell(rs: list[dict[str, Any]], key: str = "sr@15", digits: int = 3) -> str:
    if not rs:
        return "–"
    vals = [float(r[key]) for r in rs]
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{statistics.mean(vals):.{digits}f} ± {statistics.stdev(vals):.{digits}f} ({len(vals)})"


def noise_table(rows: list[dict[str, Any]]) -> str:
    """SR@15 per agent against the answer flip probability (published protocol)."""
    head = "| dataset | agent | " + " | ".join(f"p = {p:g}" for p in NOISE) + " |"
    lines = [head, "|---|---|" + "---|" * len(NOISE)]
    for ds, name in DATASETS.items():
        for agent, variant, label in ROWS:
            cells = []
            for p in NOISE:
                rs = _pick(rows, dataset=ds, agent=agent, variant=variant, noise=p,
                           protocol="published")
                if not rs and variant == "noise-aware" and p == 0.0:
                    cells.append("= pruned")
                    continue
                cells.append(_cell(rs))
            lines.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def protocol_table(rows: list[dict[str, Any]]) -> str:
    """Every agent under both candidate protocols, exact answers: SR@15 / AT / hDCG."""
    lines = ["| dataset | protocol | agent | seeds | SR@5 | SR@10 | SR@15 | AT | hDCG |",
             "|---|---|---|---|---|---|---|---|---|"]
    for ds, name in DATASETS.items():
        for protocol in ("published", "reject-filter"):
            for agent, variant, label in ROWS:
                rs = _pick(rows, dataset=ds, agent=agent, variant=variant, noise=0.0,
                           protocol=protocol)
                if not rs:
                    continue
                seeds = ",".join(str(r["seed"]) for r in rs)
                lines.append(
                    f"| {name} | {protocol} | {label} | {seeds} | {_cell(rs, 'sr@5')} | "
                    f"{_cell(rs, 'sr@10')} | {_cell(rs)} | {_cell(rs, 'avg_turns', 2)} | "
                    f"{_cell(rs, 'hdcg')} |"
                )
    return "\n".join(lines)


def faithful_table(rows: list[dict[str, Any]]) -> str:
    """SCPR ``faithful`` beside ``reproduction`` (published protocol, exact answers)."""
    published = {"lastfm": (0.465, 12.86, 0.139), "lastfm_star": (0.709, 8.43, 0.317)}
    lines = ["| dataset | SCPR config | seeds | SR@15 | AT | hDCG | published SR@15 / AT / hDCG |",
             "|---|---|---|---|---|---|---|"]
    for ds, name in DATASETS.items():
        for variant in ("reproduction", "faithful"):
            rs = _pick(rows, dataset=ds, agent="scpr", variant=variant, noise=0.0,
                       protocol="published")
            if not rs:
                continue
            pub = published[ds]
            lines.append(
                f"| {name} | {variant} | {','.join(str(r['seed']) for r in rs)} | {_cell(rs)} | "
                f"{_cell(rs, 'avg_turns', 2)} | {_cell(rs, 'hdcg')} | "
                f"{pub[0]:.3f} / {pub[1]:.2f} / {pub[2]:.3f} |"
            )
    return "\n".join(lines)


def plot(rows: list[dict[str, Any]], path: str) -> None:
    """SR@15 against the flip probability, one panel per dataset (seed means)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(DATASETS), figsize=(10, 4), sharey=True)
    for ax, (ds, name) in zip(axes, DATASETS.items(), strict=True):
        for k, (agent, variant, label) in enumerate(ROWS):
            xs, ys = [], []
            for p in NOISE:
                rs = _pick(rows, dataset=ds, agent=agent, variant=variant, noise=p,
                           protocol="published")
                if not rs and variant == "noise-aware" and p == 0.0:
                    rs = _pick(rows, dataset=ds, agent="scpr", variant="pruned", noise=0.0,
                               protocol="published")
                if rs:
                    xs.append(p)
                    ys.append(statistics.mean(float(r["sr@15"]) for r in rs))
            if xs:
                ax.plot(xs, ys, marker="o", color=f"C{k}", label=label)  # one colour per row
        ax.set_title(name)
        ax.set_xlabel("answer flip probability")
        ax.set_xticks(NOISE)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("SR@15 (all test sessions)")
    handles = {h.get_label(): h for ax in axes for h in ax.get_lines()}
    axes[-1].legend(handles.values(), handles.keys(), fontsize=8)  # every row, from both panels
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("files", nargs="+")
    p.add_argument("--plot", default=None, help="write the SR@15-against-noise plot here")
    args = p.parse_args()
    rows = _load(args.files)
    print("## SR@15 against answer noise\n")
    print(noise_table(rows))
    print("\n## Both candidate protocols, exact answers\n")
    print(protocol_table(rows))
    print("\n## SCPR faithful beside reproduction\n")
    print(faithful_table(rows))
    if args.plot:
        plot(rows, args.plot)


if __name__ == "__main__":
    main()
