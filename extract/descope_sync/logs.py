"""Logging: JSON lines on Cloud Functions, human lines on a terminal; secrets always scrubbed.

Three layers keep a registered secret (the management key) out of stderr:
- every LogRecord is scrubbed when it is created (`install_record_scrubber`), whichever logger made it
  and whichever handler prints it, including handlers functions-framework, gunicorn or werkzeug add later;
- every handler on the root logger also gets the redacting filter;
- `install_excepthooks` scrubs what escapes as an uncaught exception (the main thread and others).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import traceback

from descope_sync.secrets import RedactingFilter, install_record_scrubber, scrub


class JsonFormatter(logging.Formatter):
    """One JSON object per line (what Cloud Logging parses): severity, message, logger, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"severity": record.levelname, "message": scrub(record.getMessage()), "logger": record.name}
        if record.exc_info or record.exc_text:
            text = record.exc_text or self.formatException(record.exc_info)
            entry["exception"] = scrub(text)
        if record.stack_info:
            entry["stack"] = scrub(record.stack_info)
        # Scrubbed before encoding (an escaped form would slip past), and once more after.
        return scrub(json.dumps(entry, ensure_ascii=False))


def _filter_root_handlers() -> None:
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def configure_logging(json_lines: bool = False, verbose: bool = False) -> None:
    install_record_scrubber()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_descope_sync", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._descope_sync = True  # type: ignore[attr-defined]
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    root.addHandler(handler)
    _filter_root_handlers()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("urllib3", "requests"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _print_scrubbed(exc_type, exc, tb, header: str = "") -> None:
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    sys.stderr.write(scrub(header + text))
    sys.stderr.flush()


def _excepthook(exc_type, exc, tb) -> None:
    _print_scrubbed(exc_type, exc, tb)


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    _print_scrubbed(args.exc_type, args.exc_value, args.exc_traceback, f"Exception in thread {name}:\n")


def install_excepthooks() -> None:
    """Uncaught exceptions (main thread and other threads) print their traceback without secrets."""
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook
