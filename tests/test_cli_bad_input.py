"""Bad input on the command line: exit code 2, one line on stderr, no traceback (issue 10).

Each case runs ``recoworld.cli.main`` in this process (an exception escaping ``main`` would fail the
test, which is what a traceback is); two cases also run the installed console script in a child
process. The LLM cases talk to a fault-injecting fake OpenAI-protocol server on 127.0.0.1: slow
answers, HTTP 200 bodies that are not JSON, broken JSON, and valid completions whose every reply
is unusable.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from llm_server import fake_endpoint

from recoworld.cli import main

SYN = "recoworld/Synthetic-CRS-v0"


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``recoworld ARGV`` run in this process."""
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, says: str) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("recoworld"), lines[0]
    assert says in lines[0], lines[0]
    return lines[0]


@contextmanager
def _server(kind: str) -> Iterator[str]:
    """A fake OpenAI-protocol server with one fault; yields its base URL."""
    faults: dict[str, dict[str, Any]] = {
        "not-json": {"raw_body": lambda b: b"<html><body>502 Bad Gateway</body></html>"},
        "broken-json": {"raw_body": lambda b: b'{"id": "x", "choices": [{"message": {"content": "'},
        "slow": {"delay_s": 5.0},
        "garbage-replies": {},
    }
    with fake_endpoint(lambda body: "I like turtles", **faults[kind]) as ep:
        yield ep.base_url


def _file(tmp_path: Path) -> Path:
    f = tmp_path / "a-file"
    f.write_text("not a folder")
    return f


# (case id, argv builder from tmp_path, the text the one stderr line must hold)
CASES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("sessions-0",
     lambda t: ["evaluate", "--env", "recoworld/LastFM-CRS-v0", "--agent", "random", "--sessions", "0"],
     "argument --sessions: must be >= 1, got 0"),
    ("sessions-negative",
     lambda t: ["evaluate", "--env", "recoworld/LastFM-CRS-v0", "--agent", "random", "--sessions", "-1"],
     "argument --sessions: must be >= 1, got -1"),
    ("seed-negative",
     lambda t: ["evaluate", "--env", SYN, "--agent", "random", "--seed", "-5"],
     "argument --seed: must be >= 0, got -5"),
    ("seed-not-a-number",
     lambda t: ["evaluate", "--env", SYN, "--agent", "random", "--seed", "abc"],
     "argument --seed: expected an integer, got 'abc'"),
    ("unknown-env",
     lambda t: ["evaluate", "--env", "recoworld/Nope-v0", "--agent", "random"],
     "argument --env: invalid choice: 'recoworld/Nope-v0'"),
    ("unknown-agent",
     lambda t: ["evaluate", "--env", SYN, "--agent", "nope"],
     "unknown agent 'nope' for conversational envs; known: random, max-entropy, abs-greedy"),
    ("feed-agent-on-crs",
     lambda t: ["evaluate", "--env", SYN, "--agent", "most-popular"],
     "agent 'most-popular' is a feed agent"),
    ("feed-ppo-garbage-checkpoint",
     lambda t: ["evaluate", "--env", "recoworld/ShortVideo-v0", "--agent", "ppo",
                "--checkpoint", str(_garbage(t))],
     "is corrupt or not a model saved by FeedPPOAgent.save"),
    ("crs-garbage-checkpoint",
     lambda t: ["evaluate", "--env", SYN, "--agent", "scpr", "--checkpoint", str(_garbage(t))],
     "is corrupt or not a RecoWorld checkpoint"),
    ("checkpoint-folder-unfinished",
     lambda t: ["evaluate", "--env", SYN, "--agent", "scpr", "--checkpoint", str(t)],
     "holds no agent.pt, so its training has not finished"),
    ("bench-out-under-a-file",
     lambda t: ["bench", "crs", "--quick", "--out", str(_file(t) / "run")],
     "cannot be created: "),
    ("train-out-under-a-file",
     lambda t: ["train", "--env", SYN, "--agent", "scpr", "--out", str(_file(t) / "run")],
     "cannot be created: "),
    ("ope-bench-out-under-a-file",
     lambda t: ["ope-bench", "--quick", "--out", str(_file(t) / "run")],
     "cannot be created: "),
    ("bench-ope-out-is-a-file",
     lambda t: ["bench", "ope", "--quick", "--out", str(_file(t))],
     "is a file, not a folder"),
    ("train-out-not-writable",
     lambda t: ["train", "--env", SYN, "--agent", "crm", "--out", "/proc/recoworld-test/run"],
     "`--out` /proc/recoworld-test/run cannot be created"),
    ("bench-timeout-on-a-suite-without-server",
     lambda t: ["bench", "crs", "--quick", "--timeout", "5", "--out", str(t / "run")],
     "`--timeout` is for the llm suite"),
    ("fidelity-timeout-zero",
     lambda t: ["fidelity", "--env", SYN, "--timeout", "0"],
     "argument --timeout: must be a number > 0, got 0"),
]


def _garbage(tmp_path: Path) -> Path:
    f = tmp_path / "garbage.pt"
    f.write_bytes(b"garbage, not a checkpoint\n")
    return f


@pytest.mark.parametrize(("argv", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_command_line_is_one_line_and_exit_2(argv, says, tmp_path, capsys):
    code, out, err = run_cli(argv(tmp_path), capsys)
    assert_one_line_error(code, err, says)
    # nothing that looks like a finished result was written
    assert not list(tmp_path.rglob("results.json")) and not list(tmp_path.rglob("train.json"))


def test_no_output_folder_is_left_behind_by_a_mistake(tmp_path, capsys):
    code, _, err = run_cli(["bench", "crs", "--quick", "--seeds", "-1", "--out", str(tmp_path / "r")],
                           capsys)
    assert_one_line_error(code, err, "argument --seeds: must be >= 0, got -1")
    assert not (tmp_path / "r").exists()


LLM_CASES = [
    ("not-json", "answered HTTP 200 with a body that is not valid JSON"),
    ("broken-json", "answered HTTP 200 with a body that is not valid JSON (Unterminated string"),
    ("slow", "did not answer after 1 attempt within the 1 s deadline of one call"),
    ("garbage-replies", "no reply of the LLM at "),
]


@pytest.mark.parametrize(("fault", "says"), LLM_CASES, ids=[c[0] for c in LLM_CASES])
def test_llm_server_faults_end_in_one_line(fault, says, capsys):
    with _server(fault) as url:
        t0 = time.perf_counter()
        code, out, err = run_cli(
            ["fidelity", "--env", SYN, "--sessions", "1", "--questions", "2", "--base-url", url,
             "--timeout", "1", "--json"],
            capsys,
        )
        elapsed = time.perf_counter() - t0
    line = assert_one_line_error(code, err, says)
    assert url in line
    assert out.strip() == ""  # no JSON line that looks like a result
    if fault == "slow":
        assert elapsed < 4.0, elapsed  # the deadline, not the 5 s answer, decides


def _strict(text: str) -> Any:
    def reject(name: str) -> Any:
        raise AssertionError(f"non-strict JSON constant {name} in {text}")

    return json.loads(text, parse_constant=reject)


def test_fidelity_json_is_strict_when_a_rate_is_undefined(capsys):
    # openings parse, every answer and judgement is garbage: the accuracies over parsed replies
    # have no data, and are written null (never NaN)
    def reply(body: dict[str, Any]) -> str:
        prompt = body["messages"][-1]["content"]
        if '"attribute"' in prompt:
            system = body["messages"][0]["content"]
            wanted = system.split("exactly these features: ", 1)[1].split(".\n", 1)[0]
            return json.dumps({"attribute": wanted.split(",")[0].strip(), "utterance": "hi"})
        return "???"

    with fake_endpoint(reply) as ep:
        code, out, err = run_cli(
            ["fidelity", "--env", SYN, "--sessions", "2", "--questions", "2",
             "--base-url", ep.base_url, "--json"], capsys)
    assert code == 0, err
    row = _strict(out.strip().splitlines()[-1])
    assert row["answer_accuracy_valid"] is None and row["acceptance_accuracy_valid"] is None
    assert row["opening_accuracy"] == 1.0 and row["synthetic"] is True
    assert 0 < row["invalid_rate"] < 1


def test_old_and_new_spellings(capsys, tmp_path):
    base = ["evaluate", "--env", "recoworld/ShortVideo-v0", "--episodes", "8", "--json"]
    code, out, _ = run_cli([*base, "--agent", "most_popular"], capsys)
    old = json.loads(out.strip().splitlines()[-1])
    code2, out2, _ = run_cli([*base, "--agent", "most-popular"], capsys)
    new = json.loads(out2.strip().splitlines()[-1])
    assert code == code2 == 0 and old["agent"] == new["agent"] == "most-popular"
    assert old["watch_time"] == new["watch_time"] and new["synthetic"] is True
    code, out, _ = run_cli(["evaluate", "--env", SYN, "--agent", "max_entropy", "--sessions", "5",
                            "--json"], capsys)
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["agent"] == "max-entropy"


def test_help_lists_choices_and_defaults_and_version(capsys):
    from recoworld import __version__
    from recoworld.registration import (
        CONVERSATIONAL_IDS,
        CRS_RULE_AGENTS,
        CRS_TRAINABLE_AGENTS,
        FEED_AGENTS,
        FEED_IDS,
    )

    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0 and out.strip() == f"recoworld {__version__}"
    code, top, _ = run_cli(["--help"], capsys)
    assert code == 0 and "recoworld evaluate --env" in top and "bench" in top
    for name in (*CONVERSATIONAL_IDS, *FEED_IDS, *CRS_RULE_AGENTS, *CRS_TRAINABLE_AGENTS, *FEED_AGENTS):
        assert name in top, name
    code, ev, _ = run_cli(["evaluate", "--help"], capsys)
    flat = " ".join(ev.split())
    for name in (*CONVERSATIONAL_IDS, *FEED_IDS, *CRS_RULE_AGENTS, *FEED_AGENTS):
        assert name in flat, name
    assert "(default: 0)" in flat and "(default: test)" in flat
    code, tr, _ = run_cli(["train", "--help"], capsys)
    flat = " ".join(tr.split())
    assert all(a in flat for a in CRS_TRAINABLE_AGENTS) and "(default: 500)" in flat
    code, fi, _ = run_cli(["fidelity", "--help"], capsys)
    assert "--timeout SECONDS" in fi and "(default: 60.0)" in " ".join(fi.split())
    code, al, _ = run_cli(["ope-bench", "--help"], capsys)
    assert code == 0 and "recoworld bench ope" in " ".join(al.split())


def test_ope_bench_is_an_alias_of_bench_ope(tmp_path, capsys, monkeypatch):
    from recoworld.bench import ope_bench

    tiny = ope_bench.BenchScale(replications=2, bandit_replications=2, bandit_rounds=100,
                                env_bandit_episodes=20, env_episodes=5, truth_episodes=10)
    monkeypatch.setattr(ope_bench.BenchScale, "quick", classmethod(lambda cls: tiny))
    code, out, err = run_cli(["ope-bench", "--quick", "--seed", "3", "--json", "--out",
                              str(tmp_path / "old")], capsys)
    assert code == 0, err
    old = _strict(out.strip().splitlines()[-1])
    assert old["suite"] == "ope" and old["units_computed"] == 1
    assert {r["estimator"] for r in old["summary"]} >= {"ipw", "snipw", "dr", "tis", "dr-mdp"}
    for name in ("results.json", "table.md", "report.html", "config.toml"):
        assert (tmp_path / "old" / name).is_file()
    assert "seeds = [3]" in (tmp_path / "old" / "config.toml").read_text()


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["evaluate", "--env", SYN, "--agent", "random", "--sessions", "0"],
         "recoworld evaluate: error: argument --sessions: must be >= 1, got 0"),
        (["bench", "crs", "--config", "{garbage}"],
         "recoworld bench: error: "),
    ],
    ids=["argparse", "library"],
)
def test_console_script_prints_one_line(argv, says, tmp_path):
    garbage = _garbage(tmp_path)
    argv = [a.replace("{garbage}", str(garbage)) for a in argv]
    proc = subprocess.run([sys.executable, "-m", "recoworld.cli", *argv],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(says), proc.stderr
    assert proc.stdout == ""


def test_bench_timeout_reaches_the_llm_suite_config(tmp_path):
    from recoworld.bench.config import config_to_toml, load_config, resolve_config

    cfg = resolve_config("llm", None, True, None, timeout_s=5)
    assert cfg.settings.timeout_s == 5.0
    path = tmp_path / "llm.toml"
    path.write_text(config_to_toml(cfg))
    assert load_config(path) == cfg  # a resumed run sees the same deadline
    assert resolve_config("llm", None, True, None).settings.timeout_s == 60.0
