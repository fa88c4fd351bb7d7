"""What a stream reports back to the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from descope_sync.contract import RunStatus


@dataclass
class StreamResult:
    stream: str
    status: RunStatus = RunStatus.SUCCESS
    rows_loaded: int = 0
    rows_quarantined: int = 0
    pages: int = 0
    cursor_from: datetime | None = None
    cursor_to: datetime | None = None
    message: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["status"] = str(self.status)
        for key in ("cursor_from", "cursor_to"):
            if out[key] is not None:
                out[key] = out[key].isoformat()
        return out
