"""LLM agents that pre-annotate Label Studio tasks; the ML backend service and its engine."""

__version__ = "0.1.0"
