"""Simulated users: conversational (statistical) and short-video feed users.

The LLM-driven users live in :mod:`recoworld.users.llm` (the ``llm`` extra); the feed users' parts
in :mod:`recoworld.users.feed`.
"""

from recoworld.users.conversational import ConversationalUser, target_attributes
from recoworld.users.feed import (
    ExpectedOutcome,
    FeedResponse,
    FeedUserModel,
    FeedUserParams,
    ReplayFeedUser,
    StatisticalFeedUser,
)
from recoworld.users.target_item import TargetItemUser, TargetItemUserConfig

__all__ = [
    "ConversationalUser",
    "ExpectedOutcome",
    "FeedResponse",
    "FeedUserModel",
    "FeedUserParams",
    "ReplayFeedUser",
    "StatisticalFeedUser",
    "TargetItemUser",
    "TargetItemUserConfig",
    "target_attributes",
]
