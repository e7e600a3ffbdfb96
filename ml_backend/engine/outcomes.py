"""The classes a task's outcome can fall in: every failure is kept under one of these."""

from enum import StrEnum


class ErrorClass(StrEnum):
    API_ERROR = "api_error"
    FORMAT_ERROR = "format_error"
    INVALID_LABEL = "invalid_label"
    CONTEXT_OVERFLOW = "context_overflow"
    EMPTY_INPUT = "empty_input"
    SPAN_NOT_FOUND = "span_not_found"
