"""The service's shared parts, built once per process: the store, the Label Studio connection,
and one LLM client and annotator per agent (so all requests of an agent share its limits)."""

from __future__ import annotations

import threading
from typing import Any, Sequence

from ml_backend.engine import agents, prompts
from ml_backend.engine.annotate import AgentRuntime, Annotator
from ml_backend.engine.labeling import parse_label_config
from ml_backend.engine.llm import LLMClient, RetryPolicy
from ml_backend.engine.modelconfig import ModelConfig
from ml_backend.engine.ratelimit import LocalRateLimiter, RedisRateLimiter
from ml_backend.settings import Settings
from ml_backend.store import Store


REGISTRATION_RETRY = RetryPolicy(max_attempts=2, max_wait_s=10.0)


class NotConfigured(RuntimeError):
    """A part of the service is needed but its environment variables are not set."""


class Runtime:
    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
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

    def agent_runtime(self, record: Any) -> AgentRuntime:
        spec = parse_label_config(record.label_config)
        template = prompts.PromptTemplate(source=record.template_source, instructions=record.instructions)
        return AgentRuntime(
            id=record.id,
            model_version=record.model_version,
            spec=spec,
            config=ModelConfig(**record.config),
            template=template,
        )

    def annotator(self, record: Any) -> Annotator:
        """One annotator per agent for the life of the process: it owns the agent's limits."""
        with self._lock:
            annotator = self._annotators.get(record.id)
        if annotator is not None:
            return annotator
        agent = self.agent_runtime(record)
        annotator = Annotator(agent, self.llm_client(agent.config, agent.id), self.store)
        with self._lock:
            return self._annotators.setdefault(record.id, annotator)

    def llm_client(self, config: ModelConfig, limiter_key: str | None = None) -> LLMClient:
        config = self._with_endpoint(config)
        return LLMClient(config, limiter=self._limiter(config, limiter_key))

    def _checking_client(self, config: ModelConfig) -> LLMClient:
        """Registration answers while the user waits: a dead endpoint must fail in seconds."""
        return LLMClient(self._with_endpoint(config), retry=REGISTRATION_RETRY)

    def _with_endpoint(self, config: ModelConfig) -> ModelConfig:
        """An agent without its own base_url calls the service's OPENAI_BASE_URL."""
        if config.base_url is None and self.settings.openai_base_url:
            return config.model_copy(update={"base_url": self.settings.openai_base_url})
        return config

    def _limiter(self, config: ModelConfig, key: str | None) -> Any:
        rpm, tpm = config.requests_per_minute, config.tokens_per_minute
        if rpm is None and tpm is None:
            return None
        connection = self.redis()
        if connection is not None and key:
            return RedisRateLimiter(connection, f"lsagent:ratelimit:{key}", rpm, tpm)
        return LocalRateLimiter(rpm, tpm)

    def register_agent(
        self,
        *,
        project: int,
        name: str,
        config: ModelConfig,
        label_config: str,
        sample_tasks: Sequence[dict[str, Any]],
        instructions: str | None = None,
        template_source: str | None = None,
    ) -> tuple[Any, bool]:
        """Validate and store an agent; returns (record, created). The same agent twice is one."""
        draft = agents.draft(
            name=name,
            project=project,
            label_config=label_config,
            config=config,
            instructions=instructions,
            template_source=template_source,
        )
        existing = self.store.get_agent(draft.id)
        if existing is not None:
            return existing, False
        negotiated = agents.validate(draft, sample_tasks, self._checking_client)
        record = self.store.save_agent(
            id=draft.id,
            name=draft.name,
            project=project,
            label_signature=draft.spec.signature(),
            label_config=label_config,
            config=config.model_copy(update={"capabilities": negotiated}).normalised(),
            template_source=draft.template.source,
            instructions=draft.template.instructions,
            model_version=draft.model_version,
        )
        return record, True
