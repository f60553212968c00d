"""SCPR trains against the LLM user: recorded once from a fake endpoint, replayed with no server."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from llm_server import fake_endpoint, oracle_reply, tiny_world

from recoworld.agents import FMConfig, SCPRAgent, SCPRConfig, train_fm
from recoworld.envs import ConversationalRecEnv
from recoworld.users.llm import LLMClient, LLMClientConfig, LLMConversationalUser, ResponseCache

FM = FMConfig(epochs=2, dim=8)
CFG = SCPRConfig(episodes=8, eval_every=4, eval_sessions=2, learning_starts=4, batch_size=4,
                 rec_size=3, fm=FM)


def _train(client: LLMClient, world, emb) -> SCPRAgent:
    env = ConversationalRecEnv(world, user=LLMConversationalUser(world, client), split="valid",
                               rec_size=CFG.rec_size)
    return SCPRAgent(world, CFG, seed=0, embeddings=emb).learn(env)


def test_scpr_trains_on_a_replayed_llm_cache_without_a_server(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    base = tiny_world()
    valid = np.array([[0, 5], [1, 2], [2, 4], [0, 3], [1, 6], [2, 7]])
    world = dataclasses.replace(base, sessions={**base.sessions, "valid": valid})
    emb = train_fm(world, FM, seed=0)
    cache = tmp_path / "llm.sqlite"
    with fake_endpoint(oracle_reply) as ep:
        with LLMClient(LLMClientConfig(base_url=ep.base_url), ResponseCache(cache)) as client:
            recorded = _train(client, world, emb)
            assert client.server_calls == len(ep.requests) > 0
            asked = client.server_calls + client.cache_hits  # a repeated request hits the cache
    dead = LLMClientConfig(base_url="http://127.0.0.1:9/v1", max_retries=0)
    with LLMClient(dead, ResponseCache(cache, "replay")) as client:
        replayed = _train(client, world, emb)
        assert client.server_calls == 0 and client.cache_hits == asked
    for key, value in recorded.q_net.state_dict().items():
        torch.testing.assert_close(replayed.q_net.state_dict()[key], value, rtol=0, atol=0)
    assert replayed.selection_history == recorded.selection_history
    assert replayed.episodes_done == CFG.episodes and recorded.grad_steps > 0
