"""What RecoWorld registers: every environment id (with Gymnasium) and every agent name.

Importing :mod:`recoworld` calls :func:`register_all`. Each family keeps its ids and its agent names
here so that the command line and the registry-wide tests can enumerate them without importing the
environments or the agents.
"""

from __future__ import annotations

import gymnasium

__all__ = [
    "CONVERSATIONAL_IDS",
    "CRS_RULE_AGENTS",
    "CRS_TRAINABLE_AGENTS",
    "FEED_AGENTS",
    "FEED_IDS",
    "LLM_ENGINES",
    "LOCAL_LLM_MODELS",
    "all_ids",
    "canonical_agent_name",
    "is_conversational",
    "is_feed",
    "register_all",
]

# Conversational recommendation (MCR protocol). The horizon is the env's own ``max_turns`` (15 turns
# with the user's opening as turn 1, so 14 agent actions), which also sets the horizon reward and the
# metrics' counting; no TimeLimit wrapper is registered, so ``max_turns=`` is the one source of truth.
# Every id also has a vector entry point: ``gymnasium.make_vec(id, num_envs=N,
# vectorization_mode="vector_entry_point")`` gives N conversations in arrays (ConversationalVectorEnv).
_CRS_ENTRY = "recoworld.envs.conversational:make_conversational_env"
_CRS_VECTOR_ENTRY = "recoworld.envs.conversational_vector:make_conversational_vector_env"
CONVERSATIONAL_IDS: dict[str, str] = {
    "recoworld/LastFM-CRS-v0": "lastfm",
    "recoworld/LastFMStar-CRS-v0": "lastfm_star",
    "recoworld/Yelp-CRS-v0": "yelp",
    "recoworld/YelpStar-CRS-v0": "yelp_star",
    "recoworld/Synthetic-CRS-v0": "synthetic",
}


# Short-video feed (KuaiSim/RecoWorld style). id -> (entry point, world source, horizon, vector entry
# point or None). Horizons: 200 videos for one-video steps, 50 slates for the slate variant.
_FEED_ENTRY = "recoworld.envs.feed:feed_env_from_keywords"
_FEED_VECTOR_ENTRY = "recoworld.envs.feed_vector:feed_vector_env_from_keywords"
FEED_IDS: dict[str, tuple[str, str, int, str | None]] = {
    "recoworld/ShortVideo-v0": (_FEED_ENTRY, "synthetic", 200, _FEED_VECTOR_ENTRY),
    "recoworld/KuaiRand-Feed-v0": (_FEED_ENTRY, "kuairand", 200, _FEED_VECTOR_ENTRY),
    "recoworld/KuaiRec-Replay-v0": (_FEED_ENTRY, "kuairec", 200, _FEED_VECTOR_ENTRY),
    "recoworld/ShortVideo-Slate-v0": (
        "recoworld.envs.feed:slate_feed_env_from_keywords", "synthetic", 50, None
    ),
}


# Agent names per family (``recoworld evaluate --agent`` / ``recoworld train --agent``), spelt in
# kebab-case; :func:`canonical_agent_name` also accepts the older underscore spellings.
CRS_RULE_AGENTS: tuple[str, ...] = ("random", "max-entropy", "abs-greedy")
CRS_TRAINABLE_AGENTS: tuple[str, ...] = ("ear", "scpr", "crm", "unicorn", "sb3-ppo", "sb3-dqn")
FEED_AGENTS: tuple[str, ...] = ("random", "most-popular", "epsilon-greedy", "oracle", "ppo")


def canonical_agent_name(name: str) -> str:
    """The kebab-case spelling of an agent name (``most_popular`` -> ``most-popular``)."""
    return str(name).strip().lower().replace("_", "-")

# Local LLM models (``recoworld llm serve --model``), smallest first; their files and checks live
# in recoworld.users.llm.models, which keeps the same names.
LOCAL_LLM_MODELS: tuple[str, ...] = ("smollm2-135m", "gemma3-270m")
LLM_ENGINES: tuple[str, ...] = ("llama-cpp", "scoring")


def is_feed(env_id: str) -> bool:
    """Whether ``env_id`` names a short-video feed environment."""
    return env_id in FEED_IDS


def is_conversational(env_id: str) -> bool:
    """Whether ``env_id`` names a conversational recommendation environment."""
    return env_id in CONVERSATIONAL_IDS


def all_ids() -> tuple[str, ...]:
    """Every environment id RecoWorld registers."""
    return (*CONVERSATIONAL_IDS, *FEED_IDS)


def register_all() -> None:
    """Register every RecoWorld id with Gymnasium (idempotent)."""
    for env_id, dataset in CONVERSATIONAL_IDS.items():
        if env_id in gymnasium.registry:
            continue
        gymnasium.register(
            id=env_id,
            entry_point=_CRS_ENTRY,
            vector_entry_point=_CRS_VECTOR_ENTRY,
            kwargs={"dataset": dataset},
        )
    for env_id, (entry, source, horizon, vector_entry) in FEED_IDS.items():
        if env_id in gymnasium.registry:
            continue
        gymnasium.register(
            id=env_id,
            entry_point=entry,
            vector_entry_point=vector_entry,
            max_episode_steps=horizon,
            kwargs={"source": source},
        )
