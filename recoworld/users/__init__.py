"""Simulated users: conversational (statistical) and short-video feed users.

The LLM-driven users live in :mod:`recoworld.users.llm` (the ``llm`` extra); the feed users' parts
in :mod:`recoworld.users.feed`.
"""

from recoworld.users.conversational import ConversationalUser, target_attributes
from recoworld.users.conversational_batch import (
    ConversationalBatchUser,
    PerSlotUsers,
    as_batch_user,
)
from recoworld.users.feed import (
    ExpectedOutcome,
    FeedResponse,
    FeedUserModel,
    FeedUserParams,
    ReplayFeedUser,
    StatisticalFeedUser,
)
from recoworld.users.target_item import TargetItemBatchUser, TargetItemUser, TargetItemUserConfig

__all__ = [
    "ConversationalBatchUser",
    "ConversationalUser",
    "ExpectedOutcome",
    "FeedResponse",
    "FeedUserModel",
    "FeedUserParams",
    "PerSlotUsers",
    "ReplayFeedUser",
    "StatisticalFeedUser",
    "TargetItemBatchUser",
    "TargetItemUser",
    "TargetItemUserConfig",
    "as_batch_user",
    "target_attributes",
]
