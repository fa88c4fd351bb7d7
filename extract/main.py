"""Cloud Function entry point: `descope_sync` (HTTP, triggered by Cloud Scheduler).

Extracts only (dbt runs from Cloud Build / a scheduled job); returns the run summary as JSON.
Request body (all optional): {"full_refresh": bool, "max_seconds": number, "streams": [..]}.
"""

from __future__ import annotations

import logging
import os

import functions_framework

from descope_sync.config import load_settings
from descope_sync.errors import SyncError
from descope_sync.logs import configure_logging
from descope_sync.pipeline import STREAMS, run_extract
from descope_sync.progress import Progress
from descope_sync.secrets import scrub

DEFAULT_MAX_SECONDS = 480.0  # below the function's 540 s timeout, so progress is always committed


@functions_framework.http
def descope_sync(request):
    configure_logging(json_lines=True)
    body = request.get_json(silent=True) or {}
    try:
        settings = load_settings(
            {
                "full_refresh": bool(body.get("full_refresh", False)),
                "max_seconds": body.get("max_seconds", DEFAULT_MAX_SECONDS),
                # Production lands in BigQuery; DESCOPE_WAREHOUSE=duckdb runs the function locally.
                "warehouse": os.environ.get("DESCOPE_WAREHOUSE", "bigquery"),
            }
        )
        streams = body.get("streams") or list(STREAMS)
        summary = run_extract(settings, streams=streams, progress=Progress())
    except SyncError as exc:
        message = scrub(str(exc))
        logging.getLogger("descope_sync").error(message)
        return {"status": "failed", "error": message}, 500
    payload = summary.as_dict()
    return payload, 500 if summary.status == "failed" else 200
