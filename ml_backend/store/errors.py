"""Errors the store raises, specific enough for the service to map them to clear HTTP answers."""


class StoreError(Exception):
    """Base class of every error raised by the store."""


class StoreInputError(StoreError, ValueError):
    """A caller passed a value the store refuses (bad id, unknown counter, malformed spec...)."""


class SecretInConfigError(StoreInputError):
    """A config to be saved holds something that looks like an API key: keys are never stored."""


class NotFoundError(StoreError, LookupError):
    """The agent, job or chunk named by the caller does not exist."""


class AmbiguousReferenceError(StoreInputError):
    """An id prefix matches more than one agent."""


class InvalidTransitionError(StoreError):
    """A job status change that the job's life cycle does not allow (e.g. done -> running)."""
