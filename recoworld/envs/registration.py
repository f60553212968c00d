"""Registration of every RecoWorld environment id with Gymnasium.

Importing :mod:`recoworld` calls :func:`register_all`. Each family keeps its ids in a tuple here so
that the command line and the registry-wide tests can enumerate them.
"""

from __future__ import annotations

import gymnasium

__all__ = ["CONVERSATIONAL_IDS", "all_ids", "is_conversational", "register_all"]

# Conversational recommendation (MCR protocol). The horizon is 15 turns with the user's opening as
# turn 1, so the agent has 14 actions: max_episode_steps=14.
_CRS_ENTRY = "recoworld.envs.conversational:make_conversational_env"
_CRS_HORIZON_STEPS = 14
CONVERSATIONAL_IDS: dict[str, str] = {
    "recoworld/LastFM-CRS-v0": "lastfm",
    "recoworld/LastFMStar-CRS-v0": "lastfm_star",
    "recoworld/Yelp-CRS-v0": "yelp",
    "recoworld/YelpStar-CRS-v0": "yelp_star",
    "recoworld/Synthetic-CRS-v0": "synthetic",
}


def is_conversational(env_id: str) -> bool:
    """Whether ``env_id`` names a conversational recommendation environment."""
    return env_id in CONVERSATIONAL_IDS


def all_ids() -> tuple[str, ...]:
    """Every environment id RecoWorld registers."""
    return tuple(CONVERSATIONAL_IDS)


def register_all() -> None:
    """Register every RecoWorld id with Gymnasium (idempotent)."""
    for env_id, dataset in CONVERSATIONAL_IDS.items():
        if env_id in gymnasium.registry:
            continue
        gymnasium.register(
            id=env_id,
            entry_point=_CRS_ENTRY,
            max_episode_steps=_CRS_HORIZON_STEPS,
            kwargs={"dataset": dataset},
        )
