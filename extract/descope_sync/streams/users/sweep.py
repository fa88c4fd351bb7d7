"""The full sweep: createdTime windows, the open window, a final pass, then the reconciliation and
the deletion valve that decide whether it is accepted (docs/design.md, "users", steps 5-7, and "A
users full sweep in `_sync_runs`")."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from descope_sync.contract import RunMode, RunStatus
from descope_sync.landing.base import SyncRun
from descope_sync.streams.base import StreamContext
from descope_sync.streams.result import StreamResult
from descope_sync.streams.users import reader
from descope_sync.streams.users.incremental import TAIL_MARGIN_S, modified_pass
from descope_sync.streams.users.records import MAX_EPOCH_S, at, epoch_s, has_id, in_seconds, key
from descope_sync.streams.users.records import field as record_field
from descope_sync.streams.users.session import STREAM, Session

log = logging.getLogger("descope_sync.streams.users")


@dataclass
class SweepState:
    """A sweep's progress, as its `partial` rows carry it in `details` from run to run."""

    sweep_id: str
    started_at: datetime
    phase: str = "windows"  # windows -> finish
    position: int = 0  # createdTime (epoch s) up to which windows are read
    quarantined: int = 0  # records without a userId seen by the sweep
    unproved: list[str] = field(default_factory=list)  # seconds no paging could prove
    unfiltered_page: int = 0

    def details(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "position": self.position,
            "quarantined": self.quarantined,
            "unproved": self.unproved,
            "unfiltered_page": self.unfiltered_page,
        }

    @classmethod
    def from_row(cls, row: SyncRun) -> SweepState:
        d = row.details or {}
        return cls(
            sweep_id=row.sweep_id or "",
            started_at=row.sweep_started_at or row.started_at,
            phase=str(d.get("phase", "windows")),
            position=int(d.get("position", 0)),
            quarantined=int(d.get("quarantined", 0)),
            unproved=list(d.get("unproved", [])),
            unfiltered_page=int(d.get("unfiltered_page", 0)),
        )


@dataclass
class Verdict:
    """What the reconciliation and the valve concluded about a finished sweep."""

    reconciled: bool
    held: bool
    would_remove: int
    live_before: int
    source_total: int
    users_seen: int
    reason: str | None


def sweep(
    ctx: StreamContext, session: Session, result: StreamResult, accepted_start: datetime | None, collapsed: bool
) -> None:
    """Read every user (resuming an open sweep), reconcile, and record the terminal row."""
    run = _Sweep(ctx, session, _open_or_resume(ctx, session))
    result.details["sweep_id"] = run.state.sweep_id
    if run.state.phase == "windows":
        run.read_windows()
    watermark = run.final_pass()
    seen, source_total = run.reconcile()
    verdict = _verdict(ctx, run.state, seen, source_total, accepted_start)
    _record_terminal(run, verdict, watermark, collapsed)
    _report(result, run.state, verdict, watermark, collapsed)


def _open_or_resume(ctx: StreamContext, session: Session) -> SweepState:
    latest = ctx.writer.last_run(STREAM, mode=RunMode.FULL, in_sweep=True)
    if latest is not None and latest.status == RunStatus.PARTIAL and latest.sweep_id:
        return SweepState.from_row(latest)
    return SweepState(sweep_id=uuid.uuid4().hex, started_at=session.started_at)


class _Sweep:
    """One run's share of a sweep: its reads and the rows that commit them."""

    def __init__(self, ctx: StreamContext, session: Session, state: SweepState) -> None:
        self.ctx, self.session, self.state = ctx, session, state
        # Records without an id count once each, by the part of the sweep whose createdTime range
        # holds them: a window of [1, window_end], the open window past it, else the unfiltered pass.
        self.window_end = epoch_s(state.started_at) + 2

    def row(self, status: RunStatus = RunStatus.PARTIAL, **extra: Any) -> SyncRun:
        return self.ctx.run_row(
            status,
            self.session.started_at,
            mode=RunMode.FULL,
            sweep_id=self.state.sweep_id,
            sweep_started_at=self.state.started_at,
            details=self.state.details(),
            **extra,
        )

    def at_position(self, position: int, without_id: int) -> SyncRun:
        # The row commits with the window it follows: its records without an id count from then on.
        self.state.position = position
        self.state.quarantined += without_id
        return self.row()

    def unproved(self, why: str) -> None:
        self.state.unproved.append(why)
        log.warning("users: %s", why)

    def read_windows(self) -> None:
        """createdTime [1, window_end] (keyset where filters are milliseconds), then the open window."""
        lo, session = max(1, self.state.position + 1), self.session
        if session.profile.unit == "ms":
            reader.keyset_scan(session, lo, self.window_end, checkpoint=self.at_position, on_unproved=self.unproved)
        else:
            options = {"checkpoint": self.at_position, "on_unproved": self.unproved}
            reader.scan(session, reader.CREATED, lo, self.window_end, **options)
        # Users created "in the future" (clock skew, imports): one open request. Its records without
        # an id count in the row that ends the phase; a run stopped before it reads it again.
        _, without_id = reader.open_scan(session, reader.CREATED, self.window_end + 1)
        self.state.quarantined += without_id
        self.state.phase = "finish"
        self.ctx.writer.record_run(self.row())

    def final_pass(self) -> int:
        """What changed during the sweep, from the later of its start and the cursor; the watermark."""
        lo = epoch_s(self.state.started_at) - TAIL_MARGIN_S
        cursor = self.ctx.writer.latest_cursor(STREAM)
        if cursor is not None:
            lo = max(lo, epoch_s(cursor) - self.ctx.settings.users_overlap_seconds)
        return modified_pass(self.session, lo, checkpoint=lambda _cursor_to, _pos: self.row())

    def reconcile(self) -> tuple[int, int]:
        """(users seen since the sweep began, Descope's count), after an unfiltered pass if they differ."""
        # Counted again even after a quiet pass: a user imported behind the sweep without a
        # modifiedTime is seen by no pass, only by a count taken after the sweep.
        writer = self.ctx.writer
        source_total = self.session.count().total
        seen = writer.live_user_count(self.state.started_at)
        if seen + self.state.quarantined < source_total:
            self.unfiltered_pass()
            seen = writer.live_user_count(self.state.started_at)
            source_total = self.session.count().total
        return seen, source_total

    def unfiltered_pass(self) -> None:
        """Offset pages over every user, landing those the createdTime windows did not read; counts
        the records without an id no window or open window counted (each once in a run)."""
        session, state = self.session, self.state
        counted: set[str] = set()
        while True:
            session.ctx.deadline.check()
            answer = session.search({"limit": session.page_size, "page": state.unfiltered_page})
            if not answer.items:
                break
            outside = [u for u in answer.items if not _created_in(u, 1, self.window_end)]
            unlandable = {key(u) for u in outside if not has_id(u) and not _created_in(u, 1, MAX_EPOCH_S)}
            state.quarantined += len(unlandable - counted)
            counted |= unlandable
            state.unfiltered_page += 1
            session.land(outside, run=self.row())
            if len(answer.items) < session.page_size:
                break


def _created_in(user: Any, lo: int, hi: int) -> bool:
    return in_seconds(record_field(user, "createdTime"), lo, hi)


def _verdict(
    ctx: StreamContext, state: SweepState, seen: int, source_total: int, accepted_start: datetime | None
) -> Verdict:
    """Reconciled (the counts meet and every second was proved), and held by the valve or not."""
    settings = ctx.settings
    reconciled = seen + state.quarantined >= source_total and not state.unproved
    live_before = ctx.writer.live_user_count(accepted_start)
    would_remove = max(0, live_before - seen)
    limit = settings.max_delete_fraction * live_before
    held = (
        reconciled
        and live_before > 0
        and would_remove > limit
        and state.sweep_id != settings.confirm_deletions_sweep_id
    )
    verdict = Verdict(reconciled, held, would_remove, live_before, source_total, seen, None)
    verdict.reason = _reason(ctx, state, verdict)
    return verdict


def _reason(ctx: StreamContext, state: SweepState, verdict: Verdict) -> str | None:
    if state.unproved:
        return "; ".join(state.unproved[:3])
    if not verdict.reconciled:
        return (
            f"the sweep landed {verdict.users_seen} live users (+{state.quarantined} without an id) "
            f"but Descope counts {verdict.source_total}"
        )
    if verdict.held:
        return (
            f"the sweep would remove {verdict.would_remove} of {verdict.live_before} live users (more than "
            f"{ctx.settings.max_delete_fraction:.0%}); if that is right, confirm it with "
            f"DESCOPE_CONFIRM_DELETIONS_SWEEP_ID={state.sweep_id} or "
            f"dbt build --vars '{{confirm_deletions_sweep_id: {state.sweep_id}}}'"
        )
    return None


def _accepted(verdict: Verdict, collapsed: bool) -> bool:
    return verdict.reconciled and not verdict.held and not collapsed


def _record_terminal(run: _Sweep, verdict: Verdict, watermark: int, collapsed: bool) -> None:
    status = RunStatus.SUCCESS if _accepted(verdict, collapsed) else RunStatus.INCOMPLETE
    terminal = run.row(status, cursor_to=None if collapsed else at(watermark), error=verdict.reason)
    terminal.details = _terminal_details(run.state, verdict) | {"profile": run.session.profile.remembered()}
    run.ctx.writer.record_run(terminal)


def _terminal_details(state: SweepState, verdict: Verdict) -> dict[str, Any]:
    return state.details() | {
        "phase": "done",
        "reconciled": verdict.reconciled,
        "held": verdict.held,
        "would_remove": verdict.would_remove,
        "live_before": verdict.live_before,
        "source_total": verdict.source_total,
        "users_seen": verdict.users_seen,
        "reason": verdict.reason,
    }


def _report(result: StreamResult, state: SweepState, verdict: Verdict, watermark: int, collapsed: bool) -> None:
    result.details.update(
        reconciled=verdict.reconciled,
        held=verdict.held,
        would_remove=verdict.would_remove,
        users_seen=verdict.users_seen,
    )
    if not collapsed:
        result.cursor_to = at(watermark)
    if not _accepted(verdict, collapsed):
        result.status = RunStatus.INCOMPLETE
        result.message = f"users: full sweep {state.sweep_id} is incomplete: {verdict.reason or 'the source collapsed'}"
        log.warning(result.message)
