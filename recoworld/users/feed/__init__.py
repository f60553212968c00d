"""Statistical short-video feed users, one concept per module, and the user-model interface."""

from recoworld.users.feed.interface import ExpectedOutcome, FeedResponse, FeedUserModel
from recoworld.users.feed.replay import ReplayFeedUser
from recoworld.users.feed.statistical import FeedUserParams, StatisticalFeedUser

__all__ = [
    "ExpectedOutcome",
    "FeedResponse",
    "FeedUserModel",
    "FeedUserParams",
    "ReplayFeedUser",
    "StatisticalFeedUser",
]
