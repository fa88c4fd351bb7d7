"""Secrets that never show themselves, and the scrubbing that keeps them out of every log line and message."""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

REDACTED = "***"


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
        return REDACTED

    def __format__(self, spec: str) -> str:
        return REDACTED

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
    """Make every message and log record that would contain `value` show '***' instead.

    Also registers the forms a traceback or a JSON log line prints it in: stripped, repr-escaped
    (`'key\\n'` in an exception message) and JSON-escaped.
    """
    if not isinstance(value, str):
        return
    for form in {value, value.strip(), repr(value)[1:-1], json.dumps(value)[1:-1]}:
        if len(form) >= 4:
            _REGISTERED.add(form)


def scrub(text: str) -> str:
    """`text` with every registered secret replaced by '***' (longest first, so no fragment survives)."""
    if not _REGISTERED or not text:
        return text
    for value in sorted(_REGISTERED, key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    return text


def format_exception_scrubbed(exc: BaseException) -> str:
    """The traceback Python would print for `exc`, without registered secrets."""
    return scrub("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


def scrub_record(record: logging.LogRecord) -> None:
    """Rewrite a record in place: its message, its formatted exception and its stack without secrets.

    The exception is formatted once into `exc_text` (which every `logging.Formatter` uses instead of
    formatting `exc_info` again), so handlers we do not own print the scrubbed traceback too.
    """
    if not _REGISTERED:
        return
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: keep what can be shown, never the arguments
        record.msg, record.args = "(unformattable log message) " + scrub(str(record.msg)), None
    else:
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
    if record.exc_info and record.exc_info[1] is not None:
        record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = scrub(record.exc_text)
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)


class RedactingFilter(logging.Filter):
    """Scrubs a record on its way into a handler (for records made before the scrubbing factory)."""

    def filter(self, record: logging.LogRecord) -> bool:
        scrub_record(record)
        return True


def install_record_scrubber() -> None:
    """Scrub every log record as it is created, whichever logger and handler it goes to.

    Wraps the process's LogRecord factory, so handlers added later (functions-framework's,
    gunicorn's, werkzeug's own) print scrubbed records too. Installing twice is a no-op.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_descope_sync_scrubs", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        scrub_record(record)
        return record

    factory._descope_sync_scrubs = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
