"""The one line an error prints, scrubbed of secrets."""

from __future__ import annotations

import sys

from descope_sync.secrets import scrub


def one_line(text: str) -> str:
    return " ".join(scrub(text).split())


def error(message: str) -> None:
    print(f"descope-sync: error: {one_line(message)}", file=sys.stderr)
