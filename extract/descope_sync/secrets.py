"""Secrets that never show themselves, and a logging filter that scrubs them from log lines."""

from __future__ import annotations

import logging


class Secret:
    """A string that repr(), str(), f-strings and logging render as '***'."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self):  # never pickled into a cache or a traceback dump
        raise TypeError("Secret values cannot be pickled")


_REGISTERED: set[str] = set()


def register_secret(value: str) -> None:
    """Make every log record that would contain `value` show '***' instead."""
    if value and len(value) >= 4:
        _REGISTERED.add(value)


def scrub(text: str) -> str:
    for value in _REGISTERED:
        if value in text:
            text = text.replace(value, "***")
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (and formatted exception text) without registered secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _REGISTERED:
            return True
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
