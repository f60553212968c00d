"""Agents: rule baselines, EAR, SCPR, CRM, UNICORN, feed baselines, and stable-baselines3 adapters.

Every conversational agent offers the :class:`Agent` surface (stable-baselines3 style):
``learn(env)`` trains in the environment it is handed (any user, rewards, split and candidate
protocol), ``predict(obs)`` returns the env action, ``action_dist(obs)`` the probabilities over the
flat action set (each question, then "recommend"), ``to_action(flat, obs)`` the env action of a flat
index, ``save(path)`` / ``load(path, world)``. SCPR, EAR and CRM share the learner base
:class:`LearnedCRSAgent`. :func:`make_agent` builds any of them by name.
"""

from recoworld.agents.base import Agent
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
from recoworld.agents.learner import LearnedCRSAgent
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
    "Agent",
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
    "LearnedCRSAgent",
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
