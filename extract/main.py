"""Cloud Function entry point: `descope_sync` (HTTP, triggered by Cloud Scheduler).

Extracts, then (when DESCOPE_DBT_TRIGGER names a Cloud Build trigger) starts the dbt build in
Cloud Build without waiting for it; answers with JSON, always. Deployed with
--no-allow-unauthenticated: only callers with roles/run.invoker (the scheduler's service account)
reach it, so the function itself does no authentication.

Request: POST with an optional JSON object body (any Content-Type: Cloud Scheduler sends
application/octet-stream unless told otherwise), or GET for the defaults:
    {"full_refresh": false, "max_seconds": 480, "streams": ["audit_events", "users", "ip_locations"]}
- full_refresh: a JSON boolean; default false.
- max_seconds: a JSON number > 0 and <= the function's budget (DESCOPE_FUNCTION_MAX_SECONDS, default 480);
  null or absent means that budget.
- streams: a non-empty list of distinct stream names; default every stream.
Anything else (another type, an unknown key, a query string) is a 400 naming the field, never echoing a value.

Response: 200 with the run summary (plus the `max_seconds` that applied) when the run's status is
success or partial (a budget stop, progress committed); 500 with the summary for failed, data_loss
and incomplete, so Cloud Scheduler marks the run failed. With DESCOPE_DBT_TRIGGER the summary has a
`dbt` object: `started` (with the build id and the commit it builds) after every status but failed,
as `descope-sync run` builds dbt; `skipped` after a failed extract; `refused` (and the answer 500) when
DESCOPE_RELEASE_COMMIT is unset, since the build would otherwise run the branch's untested head;
`failed` (and the answer 500) when the build could not be started, since the marts would otherwise
fall behind without anyone noticing.
Time: the run (Secret Manager reads included) ends within max_seconds, every request and wait cut to
what is left; starting dbt then has its own 20 s slice, so the answer comes before the 540 s timeout.
Other methods 405, other paths 404, an unexpected error 500 {"status": "failed", "error": "<type>: <message>"}
with its traceback logged.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import dataclass
from typing import Any

import functions_framework
from werkzeug.exceptions import HTTPException

from descope_sync.build_trigger import (
    RELEASE_COMMIT_ENV,
    TRIGGER_SECONDS,
    BuildTriggerError,
    dbt_trigger,
    release_commit,
    start_build,
)
from descope_sync.config import function_max_seconds, load_settings
from descope_sync.contract import STREAMS, RunStatus
from descope_sync.deadline import Deadline
from descope_sync.errors import SyncError
from descope_sync.logs import configure_logging, install_excepthooks
from descope_sync.pipeline import run_extract
from descope_sync.progress import Progress
from descope_sync.report import overall_status, summary_dict
from descope_sync.secrets import scrub

log = logging.getLogger("descope_sync")

FIELDS = ("full_refresh", "max_seconds", "streams")
MAX_BODY_BYTES = 64 * 1024
OK_STATUSES = (RunStatus.SUCCESS, RunStatus.PARTIAL)  # anything else: 500, Scheduler marks the run failed
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

Response = tuple[dict[str, Any], int] | tuple[dict[str, Any], int, dict[str, str]]


class BadRequest(Exception):
    """A request the function refuses (400); `field` names what was wrong, the message never quotes a value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class SyncRequest:
    max_seconds: float
    full_refresh: bool = False
    streams: tuple[str, ...] = STREAMS


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise BadRequest(_field_name(key), "a field appears twice in the request body")
        seen[key] = value
    return seen


def _not_json(constant: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def _field_name(key: str) -> str:
    """An unknown key, named only when it looks like a field name (it is request data otherwise)."""
    return key if _FIELD_NAME.fullmatch(key) else "(unnamed field)"


def parse_request(method: str, body: bytes, budget: float) -> SyncRequest:
    """The validated request: defaults for GET or an empty body, else the JSON object's fields."""
    if method == "GET":
        if body.strip():
            raise BadRequest("body", "a GET takes no body: POST a JSON object instead")
        return SyncRequest(max_seconds=budget)
    if not body.strip():
        return SyncRequest(max_seconds=budget)
    try:
        data = json.loads(body, object_pairs_hook=_no_duplicate_keys, parse_constant=_not_json)
    except (ValueError, RecursionError):  # includes UnicodeDecodeError
        raise BadRequest("body", "the request body is not valid JSON (UTF-8)") from None
    if not isinstance(data, dict):
        raise BadRequest("body", f"the request body must be a JSON object with the optional fields {', '.join(FIELDS)}")
    for key in data:
        if key not in FIELDS:
            raise BadRequest(_field_name(key), f"unknown field; the request body takes only {', '.join(FIELDS)}")

    full_refresh = data.get("full_refresh", False)
    if not isinstance(full_refresh, bool):
        raise BadRequest("full_refresh", "full_refresh must be a JSON boolean (true or false)")

    max_seconds = data.get("max_seconds")
    if max_seconds is None:
        max_seconds = budget
    elif (
        isinstance(max_seconds, bool)
        or not isinstance(max_seconds, int | float)
        or not 0 < max_seconds <= budget  # before isfinite: a huge JSON integer overflows a float
        or not math.isfinite(max_seconds)
    ):
        raise BadRequest(
            "max_seconds", f"max_seconds must be a JSON number > 0 and <= {budget:g} (null or absent: {budget:g})"
        )

    streams = data.get("streams", list(STREAMS))
    rule = f"streams must be a non-empty JSON list of distinct names from {', '.join(STREAMS)}"
    if not isinstance(streams, list) or not streams:
        raise BadRequest("streams", rule)
    if any(not isinstance(s, str) or s not in STREAMS for s in streams) or len(set(streams)) != len(streams):
        raise BadRequest("streams", rule)
    return SyncRequest(max_seconds=float(max_seconds), full_refresh=full_refresh, streams=tuple(streams))


def _rejected(code: int, field: str, message: str) -> Response:
    return {"status": "rejected", "error": message, "field": field}, code


def _failed(exc: SyncError, max_seconds: float | None) -> Response:
    """An error the operator can act on: its one-line message, no traceback."""
    message = scrub(str(exc))
    log.error("descope_sync failed: %s", message)
    return {"status": RunStatus.FAILED.value, "error": message, "max_seconds": max_seconds}, 500


def _handle(request) -> Response:
    if request.method not in ("GET", "POST"):
        return (
            {"status": "rejected", "error": "method not allowed: use POST (or GET for the defaults)"},
            405,
            {"Allow": "GET, POST"},
        )
    if request.path != "/":
        return {"status": "rejected", "error": "not found: the function answers at /"}, 404
    if request.query_string:
        return _rejected(400, "query string", "query parameters are not accepted: send a JSON body")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return _rejected(413, "body", f"the request body is larger than {MAX_BODY_BYTES} bytes")
    try:
        budget = function_max_seconds()
        trigger = dbt_trigger()
        commit = release_commit()
    except SyncError as exc:
        return _failed(exc, None)
    try:
        parsed = parse_request(request.method, request.get_data(cache=True), budget)
    except BadRequest as exc:
        log.warning("request rejected (%s): %s", exc.field, exc)
        return _rejected(400, exc.field, str(exc))
    # One deadline from here on: the Secret Manager reads, every request, wait and load of the run end
    # within it; starting dbt then has its own slice (TRIGGER_SECONDS), inside the function's timeout.
    deadline = Deadline(parsed.max_seconds)
    try:
        settings = load_settings(
            {
                "full_refresh": parsed.full_refresh,
                "max_seconds": parsed.max_seconds,
                # Production lands in BigQuery; DESCOPE_WAREHOUSE=duckdb runs the function locally.
                "warehouse": os.environ.get("DESCOPE_WAREHOUSE", "bigquery"),
            },
            deadline=deadline,
        )
        summary = run_extract(settings, streams=list(parsed.streams), progress=Progress(), deadline=deadline)
    except SyncError as exc:
        return _failed(exc, parsed.max_seconds)
    status = overall_status(summary)
    for failed in (s for s in summary.streams if s.status == RunStatus.FAILED):
        log.error("%s failed: %s", failed.stream, failed.message)
    payload = summary_dict(summary)
    payload["max_seconds"] = parsed.max_seconds
    code = 200 if status in OK_STATUSES else 500
    (log.info if code == 200 else log.error)("descope_sync finished: %s", status)
    if trigger is not None:
        payload["dbt"], dbt_ok = _start_dbt(trigger, commit, status)
        if not dbt_ok:
            code = 500
    return payload, code


def _start_dbt(trigger: str, commit: str | None, status: RunStatus) -> tuple[dict[str, Any], bool]:
    """(the summary's `dbt` object, False when the build should have started and did not)."""
    if status == RunStatus.FAILED:  # the landing tables hold nothing new to build on
        return {"status": "skipped", "trigger": trigger, "reason": "the extract failed"}, True
    if commit is None:  # never the branch as it is: its head may be a push whose tests failed
        message = (
            f"{RELEASE_COMMIT_ENV} is not set, so the commit this function was released from is unknown: "
            "dbt was not started rather than build the branch's untested head; deploy through the release "
            "build (cloudbuild.yaml), which records it"
        )
        log.error("dbt build not started: %s", message)
        return {"status": "refused", "trigger": trigger, "error": message}, False
    try:
        return start_build(trigger, commit, deadline=Deadline(TRIGGER_SECONDS)).as_dict(), True
    except BuildTriggerError as exc:
        message = scrub(str(exc))
        log.error("dbt build not started: %s", message)
        return {"status": "failed", "trigger": trigger, "error": message}, False


def _unexpected(exc: BaseException) -> Response:
    log.error("descope_sync: unexpected %s", type(exc).__name__, exc_info=exc)
    return {"status": RunStatus.FAILED.value, "error": f"{type(exc).__name__}: {scrub(str(exc))}"}, 500


@functions_framework.http
def descope_sync(request):
    configure_logging(json_lines=True)
    install_excepthooks()
    try:
        return _handle(request)
    except Exception as exc:
        return _unexpected(exc)


# JSON for what never reaches the function (functions-framework's /favicon.ico and /robots.txt 404s)
# and for anything that escapes it: never an HTML error page.
@functions_framework.errorhandler(500)  # replaces functions-framework's plain-text crash page
@functions_framework.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    return {"status": "rejected", "error": exc.name}, exc.code or 500


@functions_framework.errorhandler(Exception)
def _any_error(exc: Exception) -> Response:
    return _unexpected(exc)
