"""Statistical short-video feed users, one concept per module, and the user-model interface.

A whole user model follows :class:`FeedUserModel`; the statistical user is composed of seven parts
(preference, response, duration bias, position bias, transition, leave, return), each with its
protocol (``...Model``), its stock implementation and the frozen dataclass of its parameters.
"""

from recoworld.users.feed.duration_bias import DurationBias, DurationBiasModel, DurationBiasParams
from recoworld.users.feed.interface import ExpectedOutcome, FeedResponse, FeedUserModel, Slots
from recoworld.users.feed.leave import Leave, LeaveModel, LeaveParams
from recoworld.users.feed.position_bias import PositionBias, PositionBiasModel, PositionBiasParams
from recoworld.users.feed.preference import Preference, PreferenceModel, PreferenceParams
from recoworld.users.feed.replay import ReplayFeedUser
from recoworld.users.feed.response import Response, ResponseModel, ResponseParams, ResponseSample
from recoworld.users.feed.returning import NEVER_DAYS, Return, ReturnModel, ReturnParams
from recoworld.users.feed.statistical import FeedUserParams, StatisticalFeedUser
from recoworld.users.feed.transition import Transition, TransitionModel, TransitionParams

__all__ = [
    "NEVER_DAYS",
    "DurationBias",
    "DurationBiasModel",
    "DurationBiasParams",
    "ExpectedOutcome",
    "FeedResponse",
    "FeedUserModel",
    "FeedUserParams",
    "Leave",
    "LeaveModel",
    "LeaveParams",
    "PositionBias",
    "PositionBiasModel",
    "PositionBiasParams",
    "Preference",
    "PreferenceModel",
    "PreferenceParams",
    "ReplayFeedUser",
    "Response",
    "ResponseModel",
    "ResponseParams",
    "ResponseSample",
    "Return",
    "ReturnModel",
    "ReturnParams",
    "Slots",
    "StatisticalFeedUser",
    "Transition",
    "TransitionModel",
    "TransitionParams",
]
