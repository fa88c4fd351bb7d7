"""What every stream gets (a context) and gives back (a StreamResult); the registry lives in __init__."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from descope_sync.config import Settings
from descope_sync.contract import RunStatus
from descope_sync.descope import Deadline, DescopeClient
from descope_sync.landing.base import LandingWriter, SyncRun
from descope_sync.progress import Progress


@dataclass(frozen=True, kw_only=True)
class StreamContext:
    """One stream's view of a run: who to ask, where to write, how long it may take."""

    stream: str
    run_id: str
    batch_id: str
    settings: Settings
    client: DescopeClient  # its deadline is this stream's share of the run's budget
    writer: LandingWriter
    progress: Progress
    now: Callable[[], datetime]

    @property
    def deadline(self) -> Deadline:
        return self.client.deadline

    def run_row(self, status: RunStatus, started_at: datetime, **fields: Any) -> SyncRun:
        """A `_sync_runs` row of this stream and run, finished now."""
        return SyncRun(
            run_id=self.run_id,
            stream=self.stream,
            status=status,
            started_at=started_at,
            finished_at=self.now(),
            **fields,
        )
