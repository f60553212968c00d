"""LLM-driven users behind the OpenAI chat-completions protocol.

- :mod:`~recoworld.users.llm.client`: the protocol client (retries, concurrency, batching,
  structured decisions);
- :mod:`~recoworld.users.llm.cache`: the SQLite record / replay cache;
- :mod:`~recoworld.users.llm.decision`: decision schemas (JSON schema, GBNF, validation);
- :mod:`~recoworld.users.llm.conversational`: the conversational-recommendation LLM user;
- :mod:`~recoworld.users.llm.feed`: the short-video feed LLM users (RecoWorld; full and hybrid);
- :mod:`~recoworld.users.llm.embedding`: offline sentence embeddings (all-MiniLM-L6-v2);
- :mod:`~recoworld.users.llm.serve`: ``recoworld llm serve`` (a local llama.cpp server).

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
from recoworld.users.llm.serve import LocalLLMServer

__all__ = [
    "DEFAULT_MODEL",
    "CacheMode",
    "ChatResponse",
    "Decision",
    "DecisionField",
    "DecisionSchema",
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
    "ResponseCache",
    "SentenceEmbedder",
]
