"""Gymnasium environments (conversational recommendation, short-video feeds) and their wrappers.

Importing :mod:`recoworld` registers every id (``gymnasium.make("recoworld/LastFM-CRS-v0")``);
the classes are here for direct construction and subclassing.
"""

from recoworld.envs.conversational import ASK, RECOMMEND, ConversationalRecEnv, RewardConfig
from recoworld.envs.conversational_vector import ConversationalVectorEnv
from recoworld.envs.crs_wrappers import AskOrRecommendWrapper, AttributeOrRecommendWrapper
from recoworld.envs.feed import FeedEnv, SlateFeedEnv
from recoworld.envs.feed_instruction import InstructionObservation
from recoworld.envs.feed_retriever import RetrieverConfig
from recoworld.envs.feed_settings import FeedSettings, RewardWeights
from recoworld.envs.feed_vector import FeedVectorEnv
from recoworld.registration import CONVERSATIONAL_IDS, FEED_IDS, all_ids

__all__ = [
    "ASK",
    "CONVERSATIONAL_IDS",
    "FEED_IDS",
    "RECOMMEND",
    "AskOrRecommendWrapper",
    "AttributeOrRecommendWrapper",
    "ConversationalRecEnv",
    "ConversationalVectorEnv",
    "FeedEnv",
    "FeedSettings",
    "FeedVectorEnv",
    "InstructionObservation",
    "RetrieverConfig",
    "RewardConfig",
    "RewardWeights",
    "SlateFeedEnv",
    "all_ids",
]
