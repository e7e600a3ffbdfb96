"""The store's one source of time, kept apart so tests can patch the clock and nothing else."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Aware UTC now: every timestamp the store writes comes from here."""
    return datetime.now(UTC)
