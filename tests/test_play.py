"""``recoworld play``: a person in either seat, scripted and in a real terminal under tmux."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from recoworld.agents import MaxEntropyAgent
from recoworld.agents.human import HumanAgent
from recoworld.datasets import default_world
from recoworld.envs import ConversationalRecEnv
from recoworld.play import play_conversation
from recoworld.users.human import HumanConversationalUser

RECOWORLD = Path(sys.executable).with_name("recoworld")


class ScriptedConsole:
    """Answers prompts from a list; records everything written and asked."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = list(answers)
        self.shown: list[str] = []

    def read(self, prompt: str) -> str:
        self.shown.append(prompt)
        if not self.answers:
            raise EOFError
        return self.answers.pop(0)

    def write(self, text: str) -> None:
        self.shown.append(text)


def test_person_as_agent_finds_the_target(tiny_world):
    console = ScriptedConsole(["", "bogus", "ask nothing-like-this", "find a", "ask a2", "rec 7 5"])
    env = ConversationalRecEnv(tiny_world, render_mode="ansi")
    agent = HumanAgent(tiny_world, console, rec_size=10)
    result = play_conversation(env, agent, console, {"user": 2, "target": 7}, seed=0,
                               show_target=False)
    text = "\n".join(console.shown)
    assert "unknown command 'bogus'" in text
    assert 'no question is called "nothing-like-this"' in text
    assert "looking for" not in text  # the person in the agent's seat does not see the target
    assert 'agent asks "a2"? | user: no' in text
    assert result.success and result.turn == 3 and result.rank == 1 and not result.stopped
    # Success at turn 3 (t = 2), rank 1: 1/log2(4) + (1/log2(3) - 1/log2(4)) / log2(2).
    assert result.hdcg == pytest.approx(1 / np.log2(3))


def test_person_as_user_answers_and_end_of_input_stops_cleanly(tiny_world):
    # Target 7 holds attribute 0 only; the person opens with it and answers "no" to the rest.
    console = ScriptedConsole(["1", "maybe", "n", "n"])
    user = HumanConversationalUser(tiny_world, console)
    env = ConversationalRecEnv(tiny_world, user=user, render_mode="ansi")
    result = play_conversation(env, MaxEntropyAgent(tiny_world, rec_size=2), console,
                               {"user": 2, "target": 7}, seed=0)
    text = "\n".join(console.shown)
    assert "You want item 7" in text and "1. a0" in text
    assert "please answer y or n" in text
    assert result.stopped and not result.success and result.turn == 3
    assert text.count("| user: no |") == 2


def test_a_yes_to_a_list_without_the_target_counts_as_no(tiny_world):
    console = ScriptedConsole(["1", "y"])
    user = HumanConversationalUser(tiny_world, console)
    env = ConversationalRecEnv(tiny_world, user=user, rec_size=2, render_mode="ansi")
    env.reset(seed=0, options={"user": 2, "target": 7})
    _, _, term, _, info = env.step(env.recommend([0, 1]))
    assert not info["success"] and not term
    assert any("not in this list" in s for s in console.shown)


# ---- a real terminal -------------------------------------------------------------------------

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Terminal:
    """A tmux session running one command; keys in, screen out."""

    def __init__(self, command: list[str]) -> None:
        self.name = f"recoworld-play-{uuid.uuid4().hex[:8]}"
        line = shlex.join(command) + "; echo EXIT=$?; sleep 60"
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", "220", "-y", "60",
                        line], check=True)

    def screen(self) -> str:
        out = subprocess.run(["tmux", "capture-pane", "-p", "-J", "-S", "-400", "-t", self.name],
                             capture_output=True, text=True, check=True)
        return out.stdout

    def wait_for(self, pattern: str, timeout: float = 90.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.screen())
            if m:
                return m
            time.sleep(0.2)
        raise AssertionError(f"{pattern!r} never appeared; the screen:\n{self.screen()}")

    def send(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], check=False)


@pytest.fixture
def terminal():
    opened: list[Terminal] = []

    def open_(args: list[str]) -> Terminal:
        t = Terminal([str(RECOWORLD), "play", *args])
        opened.append(t)
        return t

    yield open_
    for t in opened:
        t.close()


@needs_tmux
def test_play_as_agent_in_tmux(terminal):
    world = default_world()
    target = int(world.split("test")[0, 1])
    t = terminal(["--env", "recoworld/Synthetic-CRS-v0", "--as", "agent", "--index", "0"])
    t.wait_for(r"turn 2 \| [\d,]+ candidates > ")
    t.send("find attribute_1", "Enter")
    t.wait_for(r"held by [\d,]+ of [\d,]+")
    t.send(f"rec {target}", "Enter")
    t.wait_for(r"end: the user accepted a recommendation \(turn 2\)")
    t.wait_for(r"success: 2 turns, rank 1, hDCG 1\.000")
    t.wait_for(r"EXIT=0")


@needs_tmux
def test_play_as_user_in_tmux_answers_truthfully_until_the_end(terminal):
    world = default_world()
    user, target = (int(x) for x in world.split("test")[0])
    wanted = {world.attribute_names[a] for a in world.attributes_of(target)}
    t = terminal(["--env", "recoworld/Synthetic-CRS-v0", "--as", "user", "--index", "0",
                  "--agent", "max-entropy"])
    t.wait_for(rf"You are user {user}\. You want item {target}")
    t.wait_for(r"Which one do you open with\?")
    t.send("1", "Enter")
    answered = 0
    prompt = re.compile(r'(?:do you want "([^"]+)"\?|among them\?) \[y/n\]')
    while True:
        deadline = time.monotonic() + 90
        while True:
            screen = t.screen()
            finished = re.search(r"(?:no )?success: \d+ turns", screen)
            prompts = prompt.findall(screen)
            if finished or len(prompts) > answered:
                break
            assert time.monotonic() < deadline, f"no new prompt; the screen:\n{screen}"
            time.sleep(0.2)
        if finished:
            break
        asked = prompts[answered]  # "" for "is your item among them?"
        t.send("y" if asked == "" or asked in wanted else "n", "Enter")
        answered += 1
    assert answered >= 1
    screen = t.screen()
    assert "looking for item" in screen
    t.wait_for(r"EXIT=0")


@needs_tmux
def test_ctrl_c_stops_cleanly_with_metrics(terminal):
    t = terminal(["--env", "recoworld/Synthetic-CRS-v0", "--as", "agent", "--index", "1"])
    t.wait_for(r"turn 2 \| [\d,]+ candidates > ")
    t.send("C-c")
    t.wait_for(r"stopped: 1 turns, rank -, hDCG 0\.000")
    t.wait_for(r"EXIT=0")
    assert "Traceback" not in t.screen()
