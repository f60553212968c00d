"""``--user``, ``--user-config``, ``--base-url`` and ``--reject-filter`` on train and evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recoworld.cli import main
from recoworld.errors import ConfigError
from recoworld.users import read_user_config, user_spec

ENV = "recoworld/Synthetic-CRS-v0"
TINY = {
    "scpr": {"episodes": 8, "eval_every": 4, "eval_sessions": 4, "learning_starts": 8,
             "fm": {"epochs": 1, "dim": 8}},
    "ear": {"pretrain_sessions": 4, "episodes": 8, "batch_episodes": 4, "eval_every": 4,
            "eval_sessions": 4, "fm": {"epochs": 1, "dim": 8}},
}


def _last_json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.parametrize("agent", ["scpr", "ear"])
def test_train_against_the_noisy_user_and_evaluate_on_another(
    agent: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "agent.json").write_text(json.dumps(TINY[agent]))
    (tmp_path / "user.json").write_text(json.dumps({"answer_flip_prob": 0.2}))
    out = tmp_path / "run"
    args = ["train", "--env", ENV, "--agent", agent, "--out", str(out), "--quiet",
            "--config", str(tmp_path / "agent.json"), "--user", "noisy",
            "--user-config", str(tmp_path / "user.json"), "--json"]
    assert main(args) == 0
    summary = _last_json(capsys)
    noisy = {"kind": "noisy", "answer_flip_prob": 0.2, "leave_prob": 0.0}
    assert summary["user"] == noisy and summary["protocol"] == "published"
    config = json.loads((out / "config.json").read_text())
    assert config["user"] == noisy and config["agent"] == agent
    assert config["agent_config"]["episodes"] == 8
    # Resuming against another user is refused; the same user resumes.
    assert main([*args[:-5], "--user", "statistical"]) == 2
    assert "was trained against user" in capsys.readouterr().err
    # Evaluated against the exact user and under the other protocol: one flag apart.
    assert main(["evaluate", "--env", ENV, "--agent", agent, "--checkpoint",
                 str(out / "agent.pt"), "--sessions", "20", "--reject-filter", "--json"]) == 0
    row = _last_json(capsys)
    assert row["user"] == {"kind": "statistical", "answer_flip_prob": 0.0, "leave_prob": 0.0}
    assert row["protocol"] == "reject-filter" and row["sessions"] == 20


def test_user_flags_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["evaluate", "--env", ENV, "--agent", "max-entropy", "--sessions", "5"]
    assert main([*base, "--base-url", "http://127.0.0.1:9/v1"]) == 2
    assert "--user statistical takes none" in capsys.readouterr().err
    (tmp_path / "u.json").write_text(json.dumps({"answer_flip_prb": 0.1}))
    assert main([*base, "--user", "noisy", "--user-config", str(tmp_path / "u.json")]) == 2
    assert "did you mean 'answer_flip_prob'" in capsys.readouterr().err
    assert main([*base, "--user-config", str(tmp_path / "none.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["evaluate", "--env", "recoworld/ShortVideo-v0", "--agent", "random",
                 "--user", "noisy"]) == 2
    assert "apply to conversational envs" in capsys.readouterr().err
    # The noisy user's answers are noisy: max-entropy does worse than against the exact user.
    assert main([*base[:-1], "100", "--json"]) == 0
    exact = _last_json(capsys)["sr@15"]
    (tmp_path / "n.json").write_text(json.dumps({"answer_flip_prob": 0.3}))
    assert main([*base[:-1], "100", "--user", "noisy", "--user-config",
                 str(tmp_path / "n.json"), "--json"]) == 0
    assert _last_json(capsys)["sr@15"] < exact


def test_user_spec_resolves_and_rejects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert user_spec("noisy").to_json() == {
        "kind": "noisy", "answer_flip_prob": 0.1, "leave_prob": 0.0
    }
    with pytest.raises(ConfigError, match="use --user noisy"):
        user_spec("statistical", {"answer_flip_prob": 0.1})
    with pytest.raises(ConfigError, match="must be one of"):
        user_spec("oracle")
    with pytest.raises(ConfigError, match="needs an endpoint"):
        user_spec("llm")
    with pytest.raises(ConfigError, match="`max_retries` must be a number"):
        user_spec("llm", {"max_retries": "x"}, "http://127.0.0.1:9/v1")
    spec = user_spec("llm", {"model": "m", "cache": "c.sqlite"}, "http://127.0.0.1:9/v1")
    js = spec.to_json()
    assert js["kind"] == "llm" and js["model"] == "m" and js["base_url"] == "http://127.0.0.1:9/v1"
    assert js["cache"] == "c.sqlite" and js["cache_mode"] == "record" and "api_key" not in js
    assert user_spec("llm", {"cache": "c.sqlite", "cache_mode": "replay"}).to_json()["base_url"] \
        is None
    (tmp_path / "bad.json").write_text("[1]")
    with pytest.raises(ConfigError, match="must hold a JSON object"):
        read_user_config(tmp_path / "bad.json")
