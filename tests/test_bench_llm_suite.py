"""The llm suite end to end against a scripted OpenAI-protocol endpoint, then replayed offline."""

from __future__ import annotations

import html
import json

import pytest
from llm_server import fake_endpoint, oracle_reply

from recoworld.bench.config import BenchConfig, LLMSuiteConfig
from recoworld.bench.runner import run_suite
from recoworld.errors import ConfigError


def _cfg(base_url: str, cache_dir: str, mode: str = "record") -> BenchConfig:
    return BenchConfig(
        suite="llm",
        seeds=(0, 1),
        settings=LLMSuiteConfig(
            envs=("recoworld/Synthetic-CRS-v0",),
            users=("llm", "statistical"),
            sessions=2,
            questions=2,
            base_url=base_url,
            cache_dir=cache_dir,
            cache_mode=mode,
        ),
    )


def test_llm_suite_scores_a_perfect_user_and_replays_without_a_server(tmp_path):
    cache = str(tmp_path / "cache")
    with fake_endpoint(oracle_reply) as ep:
        run_suite(_cfg(ep.base_url, cache), tmp_path / "live", progress=False)
        calls = len(ep.requests)
    rows = json.loads((tmp_path / "live/results.json").read_text())["rows"]
    assert [(r["user"], r["seed"]) for r in rows] == [
        ("llm", 0), ("llm", 1), ("statistical", 0), ("statistical", 1)]
    for r in rows:  # the scripted user is perfect, and the ground truth agrees with itself
        assert r["answer_accuracy"] == r["acceptance_accuracy"] == r["opening_accuracy"] == 1.0
        assert r["invalid_rate"] == 0.0 and r["sessions"] == 2
    # 2 seeds x 2 sessions x (opening + 2 answers + the first asked again + 2 judgements)
    assert calls == 2 * 2 * 6
    assert len(list((tmp_path / "cache").glob("*.sqlite"))) == 2  # one cache per llm unit
    # replay-only: no server at all ("serve" starts none in replay mode), same rows
    run_suite(_cfg("serve", cache, "replay"), tmp_path / "replay", progress=False)
    assert (tmp_path / "replay/results.json").read_bytes() == (
        tmp_path / "live/results.json").read_bytes()
    assert (tmp_path / "replay/figures/fidelity_Synthetic-CRS-v0.png").is_file()
    # seed 0's first two sessions, as text, each user beside the other; utterances quoted
    report = (tmp_path / "live/report.html").read_text()
    for i in (0, 1):
        llm = (tmp_path / f"live/transcripts/Synthetic-CRS-v0_test-{i}_llm.txt").read_text()
        stat = (tmp_path / f"live/transcripts/Synthetic-CRS-v0_test-{i}_statistical.txt").read_text()
        assert llm.splitlines()[1] == stat.splitlines()[1]  # the same user and target
        assert 'user says: "I want ' in llm and "user says" not in stat
        for text in (llm, stat):
            assert html.escape(text.split("\n", 1)[1]) in report
    assert not list((tmp_path / "live/transcripts").glob("*test-2*"))
    assert all("transcripts" not in r for r in rows)


def test_llm_suite_config_errors():
    with pytest.raises(ConfigError, match=r"`llm.users` must hold llm or statistical, got 'llms'; did you mean 'llm'"):
        LLMSuiteConfig(users=("llms",))
    with pytest.raises(ConfigError, match=r"`llm.cache_mode` must be one of record, replay, off, got 'rw'"):
        LLMSuiteConfig(cache_mode="rw")
