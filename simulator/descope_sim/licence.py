"""The licence handshake: ``GET /v1/mgmt/license`` and the ``x-descope-license`` header.

Since 2026 Descope's SDKs read the project's licence once (``{"rateLimitTier": "tier1".."tier4"}``)
and send its tier as ``x-descope-license`` on every management request, so the edge applies that
tier's rate-limit bucket. The simulator answers the licence (auth checked like every API endpoint)
and classifies each API request's header: ``matched`` (the tier it answered), ``missing`` or
``mismatched``. Requests whose header does not match share a stricter bucket when
``RateLimits.unlicensed_share`` is set (see :mod:`.limits`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

LICENCE_PATH = "/v1/mgmt/license"
LICENCE_HEADER = "x-descope-license"
HEADER_OUTCOMES = ("matched", "missing", "mismatched")


@dataclass
class Licence:
    """What ``GET /v1/mgmt/license`` answers.

    ``tier``: the project's ``rateLimitTier`` (None: the answer is ``{}``, as protobuf JSON omits an
    empty string). ``failure``: an HTTP status answered instead (an outage: 503; a Descope without the
    endpoint: 404), with a JSON error body; None: the licence is served.
    """

    tier: str | None = "tier3"
    failure: int | None = None

    def answer(self) -> tuple[int, bytes]:
        if self.failure is not None:
            body = {"errorCode": "E011500", "errorDescription": "Licence unavailable", "errorMessage": "simulated"}
            return self.failure, json.dumps(body).encode()
        return 200, json.dumps({"rateLimitTier": self.tier} if self.tier else {}).encode()

    def header_outcome(self, headers: Any) -> str:
        """``matched``, ``missing`` or ``mismatched``: the request's ``x-descope-license`` against the tier."""
        sent = headers.get(LICENCE_HEADER)
        if sent is None:
            return "missing"
        return "matched" if self.tier and sent == self.tier else "mismatched"
