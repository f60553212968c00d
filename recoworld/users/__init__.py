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
from recoworld.users.registry import (
    USER_KINDS,
    UserSpec,
    open_conversational_user,
    read_user_config,
    user_spec,
)
from recoworld.users.target_item import TargetItemBatchUser, TargetItemUser, TargetItemUserConfig

__all__ = [
    "USER_KINDS",
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
    "UserSpec",
    "as_batch_user",
    "open_conversational_user",
    "read_user_config",
    "target_attributes",
    "user_spec",
]
