"""Logging: JSON lines on Cloud Functions, human lines on a terminal; secrets always scrubbed."""

from __future__ import annotations

import json
import logging
import sys

from descope_sync.secrets import RedactingFilter, scrub


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"severity": record.levelname, "message": record.getMessage(), "logger": record.name}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return scrub(json.dumps(entry, ensure_ascii=False))


def configure_logging(json_lines: bool = False, verbose: bool = False) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_descope_sync", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._descope_sync = True  # type: ignore[attr-defined]
    handler.addFilter(RedactingFilter())
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("urllib3", "requests"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
