"""``render_mode="ansi"``: the transcript of a scripted session is exactly what a person reads."""

from __future__ import annotations

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

import recoworld  # noqa: F401
from recoworld.envs import ConversationalRecEnv
from recoworld.errors import ConfigError

EXPECTED_CONVERSATION = """\
[tiny] user 0, looking for item 2
turn  1 | user opens with "a1" | candidates 4
turn  2 | agent asks "a2"? | user: no | candidates 4 | reward -0.10
turn  3 | agent asks "a3"? | user: yes | candidates 2 | reward +0.01
turn  4 | agent recommends 2 items | user: no | candidates 1 | reward -0.10
          1. item 0; 2. item 9
turn  5 | agent recommends 1 items | user: yes, #1 | candidates 1 | reward +1.00
          1. item 2
end: the user accepted a recommendation (turn 5)
"""


def test_scripted_conversation_renders_the_expected_transcript(tiny_world):
    env = ConversationalRecEnv(tiny_world, render_mode="ansi")
    # Target 2 holds {0, 1, 3}; seed 1 draws the opening "a1" (items 0-3).
    env.reset(seed=1, options={"user": 0, "target": 2})
    assert env.render().splitlines()[1] == 'turn  1 | user opens with "a1" | candidates 4'
    for action in (env.ask(2), env.ask(3), env.recommend([0, 9]), env.recommend([2])):
        env.step(action)
    assert env.render() == EXPECTED_CONVERSATION


def test_enumerated_questions_render_the_picked_children(tiny_enum_world):
    env = ConversationalRecEnv(tiny_enum_world, render_mode="ansi")
    env.reset(seed=0, options={"user": 2, "target": 9})  # target 9 holds {4, 5}; opens with "a5"
    env.step(env.ask(1))  # parent p1 = {a2, a3}: none held
    env.step(env.ask(2))  # parent p2 = {a4, a5}: a4 is new
    lines = env.render().splitlines()
    assert lines[1] == 'turn  1 | user opens with "a5" | candidates 1'
    assert lines[2] == 'turn  2 | agent asks "p1"? | user picks none of them | candidates 1 | reward -0.10'
    assert lines[3] == 'turn  3 | agent asks "p2"? | user picks "a4" | candidates 1 | reward +0.01'



def test_render_modes_are_declared_and_checked(tiny_world):
    assert ConversationalRecEnv.metadata["render_modes"] == ["ansi"]
    assert ConversationalRecEnv(tiny_world).render() is None
    with pytest.raises(ConfigError, match="render_mode"):
        ConversationalRecEnv(tiny_world, render_mode="rgb_array")
    env = gymnasium.make("recoworld/Synthetic-CRS-v0", render_mode="ansi")
    check_env(env.unwrapped)


def test_real_item_names_appear_in_the_transcript(shared_data):
    env = gymnasium.make("recoworld/LastFM-CRS-v0", data_dir=str(shared_data), render_mode="ansi")
    env.reset(seed=0, options={"split": "test", "index": 3})
    env.step(env.unwrapped.recommend([49]))
    text = env.render()
    assert "looking for item 49 (INXS)" in text and "1. INXS" in text
