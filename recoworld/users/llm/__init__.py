"""LLM-driven users behind the OpenAI chat-completions protocol.

- :mod:`~recoworld.users.llm.client`: the protocol client (retries, concurrency, batching,
  structured decisions);
- :mod:`~recoworld.users.llm.cache`: the SQLite record / replay cache;
- :mod:`~recoworld.users.llm.decision`: decision schemas (JSON schema, GBNF, validation);
- :mod:`~recoworld.users.llm.conversational`: the conversational-recommendation LLM user
  (structured decisions: chat + JSON schema / grammar);
- :mod:`~recoworld.users.llm.scored`: the same user deciding by scored yes/no questions
  (log-probabilities of raw completions, :mod:`~recoworld.users.llm.logprob` for the scores and
  contextual calibration, :mod:`~recoworld.users.llm.fewshot` for examples from the training
  split);
- :mod:`~recoworld.users.llm.feed`: the short-video feed LLM users (RecoWorld; full and hybrid);
- :mod:`~recoworld.users.llm.embedding`: offline sentence embeddings (all-MiniLM-L6-v2);
- :mod:`~recoworld.users.llm.models`: the GGUF models PyPI packages ship, by name;
- :mod:`~recoworld.users.llm.serve`: ``recoworld llm serve`` (a local llama.cpp server, or the
  lean scoring engine of :mod:`~recoworld.users.llm.scoring_server`).

Nothing here needs a server at import time; the ``openai`` package is imported on first request.
"""

from __future__ import annotations

from recoworld.users.llm.cache import CacheMode, LLMCacheMissError, ResponseCache
from recoworld.users.llm.client import (
    DEFAULT_MODEL,
    ChatResponse,
    Decision,
    LLMClient,
    LLMClientConfig,
)
from recoworld.users.llm.conversational import (
    LLMConversationalBatchUser,
    LLMConversationalUser,
    LLMConversationalUserConfig,
)
from recoworld.users.llm.decision import DecisionField, DecisionSchema
from recoworld.users.llm.embedding import SentenceEmbedder
from recoworld.users.llm.feed import HybridFeedUser, LLMFeedUser, LLMFeedUserConfig
from recoworld.users.llm.fewshot import FewShotPool
from recoworld.users.llm.logprob import AnswerScores, Calibration, answer_scores
from recoworld.users.llm.models import LOCAL_MODELS, LocalModel
from recoworld.users.llm.scored import ScoredConversationalUser, ScoredUserConfig
from recoworld.users.llm.serve import LocalLLMServer

__all__ = [
    "DEFAULT_MODEL",
    "LOCAL_MODELS",
    "AnswerScores",
    "CacheMode",
    "Calibration",
    "ChatResponse",
    "Decision",
    "DecisionField",
    "DecisionSchema",
    "FewShotPool",
    "HybridFeedUser",
    "LLMCacheMissError",
    "LLMClient",
    "LLMClientConfig",
    "LLMConversationalBatchUser",
    "LLMConversationalUser",
    "LLMConversationalUserConfig",
    "LLMFeedUser",
    "LLMFeedUserConfig",
    "LocalLLMServer",
    "LocalModel",
    "ResponseCache",
    "ScoredConversationalUser",
    "ScoredUserConfig",
    "SentenceEmbedder",
    "answer_scores",
]
