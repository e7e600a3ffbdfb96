"""The service's shared parts, built once per process: the store, the Label Studio connection,
and one LLM client and annotator per agent (so all requests of an agent share its limits).
Registering agents is the engine's (``ml_backend.engine.agents.register``); this module only
builds the clients it and the rest of the service share."""

from __future__ import annotations

import sys
import threading
from typing import Any

from ml_backend.engine.agents import Agent
from ml_backend.engine.annotate import Annotator
from ml_backend.engine.llm import LLMClient, RetryPolicy
from ml_backend.engine.modelconfig import ModelConfig
from ml_backend.engine.ratelimit import LocalRateLimiter, RedisRateLimiter
from ml_backend.settings import Settings
from ml_backend.store import AgentRecord, Store

REGISTRATION_RETRY = RetryPolicy(max_attempts=2, max_wait_s=10.0)
#: How long a thread may hold the interpreter lock while another waits for it (Python's default
#: is 5 ms). A thread whose LLM answer has arrived waits for the lock to read it and free its
#: concurrency slot, and the next call waits for it to send: behind threads that parse, score and
#: record, 5 ms waits left a slot of 8 idle about 10% of the time (measured with the simulator at
#: 200 ms on a loaded 2-core machine: mean in flight 7.1 of 8; 7.6 with 0.5 ms).
SWITCH_INTERVAL_S = 0.0005
#: Where the openai client sends requests when neither the agent nor the environment names an endpoint.
OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"


class NotConfigured(RuntimeError):
    """A part of the service is needed but its environment variables are not set."""


class Runtime:
    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        if store is None:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            store = Store(settings.database_url)
            store.create_all()
        self.store = store
        self._lock = threading.Lock()
        self._annotators: dict[str, Annotator] = {}
        self._label_studio: Any = None
        self._redis: Any = None

    def label_studio(self) -> Any:
        """The SDK client with the service's own credentials."""
        if not (self.settings.label_studio_url and self.settings.label_studio_api_key):
            raise NotConfigured("LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY must be set to reach Label Studio")
        if self._label_studio is None:
            from sync.client import connect

            client = connect(self.settings.label_studio_url, self.settings.label_studio_api_key)
            with self._lock:  # connecting waits on the network: never while holding the shared lock
                if self._label_studio is None:
                    self._label_studio = client
        return self._label_studio

    def redis(self) -> Any:
        if not self.settings.redis_url:
            return None
        with self._lock:
            if self._redis is None:
                import redis

                self._redis = redis.Redis.from_url(self.settings.redis_url)
            return self._redis

    def annotator(self, record: AgentRecord) -> Annotator:
        """One annotator per agent for the life of the process: it owns the agent's limits."""
        with self._lock:
            annotator = self._annotators.get(record.id)
        if annotator is not None:
            return annotator
        from ml_backend.review.combined import StoreCombiner  # review builds on the runtime

        agent = Agent.from_record(record)
        combiner = StoreCombiner(self.store, agent.id, agent.project) if agent.config.confidence == "combined" else None
        annotator = Annotator(agent, self.llm_client(agent.config, agent.id), self.store, combiner)
        with self._lock:
            return self._annotators.setdefault(record.id, annotator)

    def llm_client(self, config: ModelConfig, limiter_key: str | None = None) -> LLMClient:
        """The agent's client, once the operator's rule allows its key variable and endpoint
        (checked on every build, so an agent stored before a stricter rule is refused too)."""
        self.check_endpoint(config)
        config = self._with_endpoint(config)
        return LLMClient(config, limiter=self._limiter(config, limiter_key))

    def check_endpoint(self, config: ModelConfig) -> None:
        """Raise EndpointPolicyError when the config names a key or endpoint the operator forbids."""
        self.settings.endpoint_policy.check(config.api_key_env, config.base_url, self.settings.openai_base_url)

    def checking_client(self, config: ModelConfig) -> LLMClient:
        """Registration answers while the user waits: a dead endpoint must fail in seconds."""
        self.check_endpoint(config)
        return LLMClient(self._with_endpoint(config), retry=REGISTRATION_RETRY)

    def _with_endpoint(self, config: ModelConfig) -> ModelConfig:
        """An agent without its own base_url (registered before endpoints were fixed at
        registration) calls the service's OPENAI_BASE_URL."""
        if config.base_url is None and self.settings.openai_base_url:
            return config.model_copy(update={"base_url": self.settings.openai_base_url})
        return config

    def fixed_endpoint(self, config: ModelConfig) -> ModelConfig:
        """The endpoint a new agent is validated against is the one it keeps: stored with it, so
        every process (the service, each worker) calls it whatever its own OPENAI_BASE_URL."""
        if config.base_url is not None:
            return config
        return config.model_copy(update={"base_url": self.settings.openai_base_url or OPENAI_DEFAULT_BASE_URL})

    def _limiter(self, config: ModelConfig, key: str | None) -> Any:
        """The agent's pacing, shared through Redis (under this deployment's key prefix) by
        every process that has it, else local to this process."""
        rpm, tpm = config.requests_per_minute, config.tokens_per_minute
        if rpm is None and tpm is None:
            return None
        window, margin = self.settings.rate_window_s, self.settings.rate_margin
        connection = self.redis()
        if connection is not None and key:
            prefix = self.settings.jobs.key_prefix
            return RedisRateLimiter(connection, f"{prefix}:ratelimit:{key}", rpm, tpm, window, margin)
        return LocalRateLimiter(rpm, tpm, window_s=window, margin=margin)
