"""The committed fidelity figures reproduce exactly from the committed cache, with no server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recoworld.bench.fidelity import measure_fidelity
from recoworld.datasets.registry import load_world
from recoworld.users.llm.cache import ResponseCache
from recoworld.users.llm.client import LLMClient, LLMClientConfig
from recoworld.users.llm.scored import ScoredConversationalUser, ScoredUserConfig

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "llm_fidelity"
SUMMARY = json.loads((RESULTS / "summary.json").read_text())
VOLATILE = {"seconds", "turns_per_second", "cache_hits", "server_calls", "base_url"}


@pytest.mark.parametrize(
    "row", [r for r in SUMMARY if r["model_name"] == "smollm2-135m"],
    ids=lambda r: f"{r['model_name']}-{r['calibration']}",
)  # fmt: skip
def test_summary_replays_exactly(row: dict, shared_data: Path) -> None:
    world = load_world("lastfm", shared_data)
    cache = ResponseCache(RESULTS / f"{row['model_name']}.sqlite", "replay")
    with LLMClient(LLMClientConfig(model=row["model"]), cache) as client:
        user = ScoredConversationalUser(
            world, client, ScoredUserConfig(calibration=row["calibration"], shots=row["shots"])
        )
        report = measure_fidelity(world, user, len(row["indices"]), indices=row["indices"])
        assert client.server_calls == 0
    got = report.to_json()
    for key, value in got.items():
        if key not in VOLATILE:  # exactly, through the same JSON round trip as summary.json
            assert json.dumps(row[key], sort_keys=True) == json.dumps(value, sort_keys=True), key
