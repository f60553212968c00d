"""Agents: rule baselines, EAR, SCPR, CRM, UNICORN, feed baselines, and stable-baselines3 adapters.

Conversational agents act on the base environment's observation: ``predict(obs)`` returns the
env action, ``action_dist(obs)`` the probabilities over the flat action set (each question, then
"recommend"). :func:`make_agent` builds any of them by name.
"""

from recoworld.agents.crm import CRMAgent, CRMConfig
from recoworld.agents.ear import EARAgent, EARConfig
from recoworld.agents.feed import (
    EpsilonGreedyFeedAgent,
    MostPopularFeedAgent,
    OracleFeedAgent,
    RandomFeedAgent,
    make_feed_agent,
)
from recoworld.agents.feed_policies import (
    EpsilonGreedyPopularityFeedAgent,
    PopularitySoftmaxFeedAgent,
    PositionBiasedSlateAgent,
    ScoredFeedAgent,
    make_logging_policy,
)
from recoworld.agents.feed_sb3 import FeedPPOAgent
from recoworld.agents.fm import FMConfig, FMEmbeddings, FMScorer, train_fm
from recoworld.agents.instruction_following import InstructionFollowingAgent
from recoworld.agents.registry import (
    RULE_AGENTS,
    TRAINABLE_AGENTS,
    load_trained_agent,
    make_agent,
    make_trainable_agent,
)
from recoworld.agents.rules import AbsGreedyAgent, MaxEntropyAgent, RandomAgent
from recoworld.agents.sb3 import SB3Agent, SB3Config
from recoworld.agents.scpr import SCPRAgent, SCPRConfig
from recoworld.agents.unicorn import UNICORNAgent, UNICORNConfig

__all__ = [
    "RULE_AGENTS",
    "TRAINABLE_AGENTS",
    "AbsGreedyAgent",
    "CRMAgent",
    "CRMConfig",
    "EARAgent",
    "EARConfig",
    "EpsilonGreedyFeedAgent",
    "EpsilonGreedyPopularityFeedAgent",
    "FMConfig",
    "FMEmbeddings",
    "FMScorer",
    "FeedPPOAgent",
    "InstructionFollowingAgent",
    "MaxEntropyAgent",
    "MostPopularFeedAgent",
    "OracleFeedAgent",
    "PopularitySoftmaxFeedAgent",
    "PositionBiasedSlateAgent",
    "RandomAgent",
    "RandomFeedAgent",
    "SB3Agent",
    "SB3Config",
    "SCPRAgent",
    "SCPRConfig",
    "ScoredFeedAgent",
    "UNICORNAgent",
    "UNICORNConfig",
    "load_trained_agent",
    "make_agent",
    "make_feed_agent",
    "make_logging_policy",
    "make_trainable_agent",
    "train_fm",
]
