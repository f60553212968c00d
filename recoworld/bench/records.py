"""Records of a benchmark run: results as JSON and parquet, a markdown table, plots, an HTML report.

A suite hands its per-seed rows, the published reference numbers and its plot data to
:func:`write_records` as a :class:`SuiteResult`; everything written here is a pure function of that
result and the config, so two runs with the same seeds write identical ``results.json``,
``results.parquet`` and ``table.md``. Times and dates live only in ``meta.json`` and the report.

Files of a run directory::

    config.toml        the resolved config (reads back with ``--config``)
    meta.json          package version, git commit, platform, backend, timestamps, unit timings
    results.json       per-seed rows and the mean/std summary
    results.parquet    per-seed rows (polars)
    table.md           mean +/- std beside the published reference numbers
    figures/*.png      success by turn, learning curves, estimator error bars, feed timelines
    transcripts/*.txt  a few sessions as text, the same sessions for every agent (or user)
    report.html        one self-contained page: tables, plots (base64), transcripts (side by side
                       per session), config and provenance
    units/**.json      one file per finished unit of work (what a resumed run reuses)
"""

from __future__ import annotations

import base64
import html
import math
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recoworld.outputs import atomic_write_bytes, atomic_write_text, dumps_json

__all__ = [
    "PlotSpec",
    "Series",
    "SuiteResult",
    "Transcript",
    "atomic_write_bytes",
    "atomic_write_text",
    "git_commit",
    "markdown_table",
    "platform_info",
    "render_html",
    "render_plot",
    "summarize_rows",
    "write_records",
]


@dataclass(frozen=True)
class Series:
    """One line (or set of points) of a plot; ``yerr`` draws error bars."""

    label: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    yerr: tuple[float, ...] | None = None
    marks: tuple[int, ...] = ()  # indices of points drawn as a cross (e.g. where the user left)


@dataclass(frozen=True)
class Transcript:
    """One session as text (``render_mode="ansi"``), shown beside the other agents' same session.

    ``name`` is the file stem under ``transcripts/`` (letters, digits, ``._-``); ``session`` names
    the session (transcripts with equal ``session`` sit side by side); ``label`` names the agent or
    user that played it.
    """

    name: str
    session: str
    label: str
    text: str


@dataclass(frozen=True)
class PlotSpec:
    """A plot: ``kind`` is ``"line"``, ``"errorbar"`` or ``"scatter"``.

    ``line``: x numeric; ``errorbar``: x = category positions; ``scatter``: points at numeric x
    with error bars from ``yerr`` and a dashed ``y = x`` diagonal.
    """

    name: str
    title: str
    xlabel: str
    ylabel: str
    series: tuple[Series, ...]
    kind: str = "line"
    xticklabels: tuple[str, ...] = ()


@dataclass(frozen=True)
class SuiteResult:
    """What a suite reports: per-seed rows, what to summarise, references, plots and notes.

    ``rows`` hold one dict per seed and group: ``seed``, every ``group_columns`` key and every
    ``metric_columns`` key (floats), plus any extra columns (lists allowed). ``references`` maps a
    group (a tuple of group values) to published ``{metric: value}``.
    """

    rows: tuple[dict[str, Any], ...]
    group_columns: tuple[str, ...]
    metric_columns: tuple[str, ...]
    references: dict[tuple[str, ...], dict[str, float]] = field(default_factory=dict)
    reference_source: str = ""
    plots: tuple[PlotSpec, ...] = ()
    notes: tuple[str, ...] = ()
    transcripts: tuple[Transcript, ...] = ()


# --- files ----------------------------------------------------------------------------------------


def _dumps(obj: Any) -> str:
    return dumps_json(obj, indent=1) + "\n"


# --- provenance -----------------------------------------------------------------------------------


def git_commit(path: Path | None = None) -> dict[str, Any]:
    """``{"commit", "dirty"}`` of the checkout holding the package (``None`` outside git)."""
    where = path or Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=10
        )
        if commit.returncode != 0:
            return {"commit": None, "dirty": None}
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def platform_info() -> dict[str, Any]:
    """The machine and the versions of the libraries that shape the numbers."""
    from importlib.metadata import PackageNotFoundError, version

    libs: dict[str, str | None] = {}
    for name in ("numpy", "scipy", "gymnasium", "torch", "polars", "stable-baselines3", "ray"):
        try:
            libs[name] = version(name)
        except PackageNotFoundError:
            libs[name] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "libraries": libs,
    }


# --- summaries and tables -------------------------------------------------------------------------


def summarize_rows(result: SuiteResult) -> list[dict[str, Any]]:
    """Per group (in order of first appearance): seeds, and mean/std of every metric.

    The std is the sample standard deviation over seeds (n - 1); 0 with one seed.
    """
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in result.rows:
        groups.setdefault(tuple(str(row[c]) for c in result.group_columns), []).append(row)
    out = []
    for key, rows in groups.items():
        entry: dict[str, Any] = dict(zip(result.group_columns, key, strict=True))
        entry["seeds"] = [int(r["seed"]) for r in rows]
        for m in result.metric_columns:
            # an undefined value is null in a unit's JSON (never NaN): it stays undefined here
            values = np.asarray([math.nan if r[m] is None else float(r[m]) for r in rows])
            entry[f"{m}_mean"] = float(values.mean())
            entry[f"{m}_std"] = float(values.std(ddof=1)) if values.size > 1 else 0.0
        out.append(entry)
    return out


def _fmt(x: float, like: float | None = None) -> str:
    """3 decimals for values below 100 (judged by ``like``, e.g. the mean beside a std)."""
    if math.isnan(x):
        return "n/a"
    scale = abs(x if like is None else like)
    return f"{x:.3f}" if scale < 100 else f"{x:,.1f}"


def _reference_metrics(result: SuiteResult) -> list[str]:
    refs = {m for r in result.references.values() for m in r}
    return [m for m in result.metric_columns if m in refs]


def _table_cells(result: SuiteResult) -> tuple[list[str], list[list[str]]]:
    summary = summarize_rows(result)
    ref_metrics = _reference_metrics(result)
    header = [*result.group_columns, "seeds", *result.metric_columns]
    header += [f"{m} (published)" for m in ref_metrics]
    body = []
    seen = set()
    for s in summary:
        key = tuple(s[c] for c in result.group_columns)
        seen.add(key)
        cells = [*key, str(len(s["seeds"]))]
        cells += [
            f"{_fmt(s[m + '_mean'])} ± {_fmt(s[m + '_std'], s[m + '_mean'])}"
            for m in result.metric_columns
        ]
        ref = result.references.get(key, {})
        cells += [_fmt(ref[m]) if m in ref else "—" for m in ref_metrics]
        body.append(cells)
    present_first = {k[0] for k in seen} if result.group_columns else set()
    for key, ref in result.references.items():
        # published methods not run here, for the settings (first group column) that were run
        if key in seen or not key or key[0] not in present_first:
            continue
        cells = [*key, "0", *("not run" for _ in result.metric_columns)]
        cells += [_fmt(ref[m]) if m in ref else "—" for m in ref_metrics]
        body.append(cells)
    return header, body


def markdown_table(result: SuiteResult) -> str:
    """Mean ± std over seeds per group, with the published numbers beside them."""
    header, body = _table_cells(result)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    text = "\n".join(lines) + "\n"
    if result.reference_source and result.references:
        text += f"\nPublished: {result.reference_source}\n"
    if result.notes:
        text += "\n" + "\n".join(f"- {n}" for n in result.notes) + "\n"
    return text


# --- plots ----------------------------------------------------------------------------------------


def render_plot(spec: PlotSpec, path: Path) -> None:
    """Draw ``spec`` to a PNG at ``path`` (matplotlib's Agg backend; no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 4.2), dpi=100)
    try:
        n = max(len(spec.series), 1)
        for i, s in enumerate(spec.series):
            if spec.kind == "errorbar":
                # spread the series side by side within each category
                offset = (i - (n - 1) / 2) * (0.6 / n)
                x = np.asarray(s.x, dtype=float) + offset
                ax.errorbar(x, s.y, yerr=s.yerr, fmt="o", capsize=3, label=s.label)
            elif spec.kind == "scatter":
                ax.errorbar(s.x, s.y, yerr=s.yerr, fmt="o", capsize=3, label=s.label)
            else:
                (line,) = ax.plot(s.x, s.y, marker=".", label=s.label)
                if s.marks:
                    ax.plot(
                        [s.x[k] for k in s.marks], [s.y[k] for k in s.marks], linestyle="none",
                        marker="X", markersize=11, color=line.get_color(),
                    )
                if s.yerr is not None:
                    y, e = np.asarray(s.y), np.asarray(s.yerr)
                    ax.fill_between(s.x, y - e, y + e, alpha=0.2)
        if spec.xticklabels:
            ax.set_xticks(range(len(spec.xticklabels)))
            ax.set_xticklabels(spec.xticklabels, rotation=20, ha="right", fontsize=8)
        if spec.kind == "errorbar":
            ax.axhline(0.0, color="grey", linewidth=0.8)
        if spec.kind == "scatter" and spec.series:
            lo, hi = min(ax.get_xlim()[0], ax.get_ylim()[0]), max(ax.get_xlim()[1], ax.get_ylim()[1])
            ax.plot([lo, hi], [lo, hi], linestyle="--", color="grey", linewidth=0.8)
        ax.set_title(spec.title)
        ax.set_xlabel(spec.xlabel)
        ax.set_ylabel(spec.ylabel)
        ax.grid(alpha=0.3)
        if spec.series:
            ax.legend(fontsize=8)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        no_software: dict[str, Any] = {"Software": None}  # no version stamp in the PNG
        fig.savefig(tmp, format="png", metadata=no_software)
        os.replace(tmp, path)
    finally:
        plt.close(fig)


# --- HTML -----------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em auto;max-width:1300px;
color:#1a1a1a;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9em;margin:.6em 0}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right;white-space:nowrap}
th{background:#f2f2f2}td:first-child,td:nth-child(2){text-align:left}
img{max-width:100%;border:1px solid #eee;margin:.4em 0}
pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:.85em}
.side{display:flex;gap:.8em;align-items:flex-start}.side>div{flex:1;min-width:0}
.side h4{margin:.3em 0}pre.transcript{background:#eef4fb;font-size:.75em;white-space:pre}
.meta td{text-align:left}
"""


def render_html(
    result: SuiteResult,
    config_toml: str,
    meta: dict[str, Any],
    figures: list[tuple[str, Path]],
    title: str,
) -> str:
    """One self-contained page: tables, plots embedded as base64 PNG, config and provenance."""
    esc = html.escape
    header, body = _table_cells(result)
    table = ["<table><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr></thead>"]
    table.append("<tbody>")
    for row in body:
        table.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
    table.append("</tbody></table>")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        "<h2>Results (mean ± std over seeds)</h2>",
        "\n".join(table),
    ]
    if result.reference_source and result.references:
        parts.append(f"<p>Published: {esc(result.reference_source)}</p>")
    if result.notes:
        parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in result.notes) + "</ul>")
    if figures:
        parts.append("<h2>Plots</h2>")
        for caption, path in figures:
            b64 = base64.b64encode(path.read_bytes()).decode("ascii")
            parts.append(
                f'<figure><img alt="{esc(caption)}" src="data:image/png;base64,{b64}">'
                f"<figcaption>{esc(caption)}</figcaption></figure>"
            )
    if result.transcripts:
        parts.append(_transcripts_html(result.transcripts))
    prov = [
        ("recoworld", str(meta.get("recoworld_version"))),
        ("git commit", f"{meta.get('git', {}).get('commit')} (dirty: {meta.get('git', {}).get('dirty')})"),
        ("platform", str(meta.get("platform", {}).get("platform"))),
        ("python", str(meta.get("platform", {}).get("python"))),
        ("backend", str(meta.get("backend"))),
        ("started", str(meta.get("started"))),
        ("finished", str(meta.get("finished"))),
        ("units computed / reused", f"{meta.get('units_computed')} / {meta.get('units_reused')}"),
    ]
    parts.append("<h2>Provenance</h2><table class='meta'>")
    parts += [f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in prov]
    parts.append("</table>")
    parts.append(f"<h2>Resolved config</h2><pre>{esc(config_toml)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _transcripts_html(transcripts: tuple[Transcript, ...]) -> str:
    """Transcripts grouped by session (in order of first appearance), agents side by side."""
    esc = html.escape
    sessions: dict[str, list[Transcript]] = {}
    for t in transcripts:
        sessions.setdefault(t.session, []).append(t)
    parts = ['<h2 id="transcripts">Transcripts</h2>']
    for session, group in sessions.items():
        parts.append(f"<h3>{esc(session)}</h3><div class='side'>")
        parts += [
            f"<div><h4>{esc(t.label)}</h4><pre class='transcript'>{esc(t.text)}</pre></div>"
            for t in group
        ]
        parts.append("</div>")
    return "\n".join(parts)


# --- everything -----------------------------------------------------------------------------------


def _parquet_frame(rows: tuple[dict[str, Any], ...]) -> Any:
    import polars as pl

    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    return pl.DataFrame([{c: r.get(c) for c in columns} for r in rows], infer_schema_length=None)


def write_records(
    run_dir: Path, config_toml: str, result: SuiteResult, meta: dict[str, Any], title: str
) -> dict[str, Path]:
    """Write results, table, plots, report and meta into ``run_dir``; returns the paths."""
    run_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "results_json": run_dir / "results.json",
        "results_parquet": run_dir / "results.parquet",
        "table": run_dir / "table.md",
        "report": run_dir / "report.html",
        "meta": run_dir / "meta.json",
    }
    summary = summarize_rows(result)
    atomic_write_text(
        paths["results_json"],
        _dumps(
            {
                "group_columns": list(result.group_columns),
                "metric_columns": list(result.metric_columns),
                "rows": list(result.rows),
                "summary": summary,
                "references": [
                    {"group": list(k), **v} for k, v in sorted(result.references.items())
                ],
                "reference_source": result.reference_source,
            }
        ),
    )
    frame = _parquet_frame(result.rows)
    tmp = run_dir / ".results.parquet.tmp"
    frame.write_parquet(tmp)
    os.replace(tmp, paths["results_parquet"])
    atomic_write_text(paths["table"], f"# {title}\n\n" + markdown_table(result))
    figures: list[tuple[str, Path]] = []
    for spec in result.plots:
        p = run_dir / "figures" / f"{spec.name}.png"
        render_plot(spec, p)
        figures.append((spec.title, p))
        paths[f"figure_{spec.name}"] = p
    for t in result.transcripts:
        p = run_dir / "transcripts" / f"{t.name}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(p, f"# {t.session}: {t.label}\n{t.text}")
        paths[f"transcript_{t.name}"] = p
    atomic_write_text(paths["meta"], _dumps(meta))
    atomic_write_text(paths["report"], render_html(result, config_toml, meta, figures, title))
    return paths
