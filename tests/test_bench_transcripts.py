"""Transcripts in the benchmark report: the same sessions for every agent, as evaluated."""

from __future__ import annotations

import html
import re

import gymnasium
from bench_helpers import small_crs_config
from llm_server import tiny_world

from recoworld.agents.registry import make_agent
from recoworld.bench.fidelity import measure_fidelity
from recoworld.bench.runner import run_suite
from recoworld.bench.suite_crs import TRANSCRIPT_SESSIONS
from recoworld.evaluation import run_session
from recoworld.users.target_item import TargetItemUser


def test_crs_report_shows_every_agent_playing_the_same_sessions(tmp_path):
    config = small_crs_config(seeds=(0, 1), sessions=40, shard=2)  # sessions 0-2 span two blocks
    run_suite(config, tmp_path, progress=False)
    report = (tmp_path / "report.html").read_text()
    agents = config.settings.agents
    for i in range(TRANSCRIPT_SESSIONS):
        texts = {
            a: (tmp_path / f"transcripts/Synthetic-CRS-v0_test-{i}_{a}.txt").read_text()
            for a in agents
        }
        heads = {t.splitlines()[1] for t in texts.values()}  # "[synthetic] user U, looking for ..."
        assert len(heads) == 1 and "looking for item" in heads.pop()
        for text in texts.values():
            body = text.split("\n", 1)[1]  # past the file's "# session: agent" line
            assert f"<pre class='transcript'>{html.escape(body)}</pre>" in report
            assert re.search(r"^end: ", body, re.M)  # the whole session, to its end
    assert not list(tmp_path.glob(f"transcripts/*test-{TRANSCRIPT_SESSIONS}_*"))
    assert report.count("<h3>recoworld/Synthetic-CRS-v0, test session") == TRANSCRIPT_SESSIONS
    # the transcript is the evaluated session itself: block 0 of seed 0 replayed with rendering on
    env = gymnasium.make("recoworld/Synthetic-CRS-v0", render_mode="ansi")
    agent = make_agent("max-entropy", env.unwrapped.world, 0, None)
    run_session(env, agent, {"split": "test", "index": 0}, 0)
    first = (tmp_path / "transcripts/Synthetic-CRS-v0_test-0_max-entropy.txt").read_text()
    assert first.split("\n", 1)[1] == env.unwrapped.render()


def test_fidelity_transcripts_show_the_answers_and_a_wrong_acceptance():
    world = tiny_world()

    class TakesAnything(TargetItemUser):
        def judge(self, items, rng):
            return True

    r = measure_fidelity(world, TakesAnything(world), sessions=2, questions=2, rec_size=4,
                         transcripts=1)
    assert len(r.transcripts) == 1 and "transcripts" not in r.to_json()
    text = r.transcripts[0]
    assert text.count("agent asks") == 2 and "candidates" not in text
    # the list holding the target is accepted at its rank, the other one wrongly
    assert re.search(r"agent recommends 4 items \| user: yes, #[1-4]\n", text)
    assert "agent recommends 4 items | user: yes, but the target is not listed" in text
