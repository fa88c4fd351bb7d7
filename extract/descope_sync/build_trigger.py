"""Starts the Cloud Build trigger that runs `dbt build` after an extract, at the released commit.

docs/design.md ("Around the extractor (production)", "Releases") says when and why.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from descope_sync.deadline import Deadline
from descope_sync.errors import ConfigError, SyncError
from descope_sync.urls import service_url

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://cloudbuild.googleapis.com"
ENDPOINT_ENV = "CLOUD_BUILD_ENDPOINT"
_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
_ATTEMPTS = 3
TRIGGER_SECONDS = 20.0  # the function's slice for this call, after the extract budget (540 s timeout - 480 s)
RELEASE_COMMIT_SUBSTITUTION = "_RELEASE_COMMIT"


DBT_TRIGGER_ENV = "DESCOPE_DBT_TRIGGER"
_TRIGGER_NAME = re.compile(
    r"projects/([a-z][a-z0-9-]{4,28}[a-z0-9])/locations/([a-z0-9-]+)/triggers/([A-Za-z0-9_-]{1,64})"
)


def dbt_trigger(env: Mapping[str, str] | None = None) -> str | None:
    """DESCOPE_DBT_TRIGGER: the Cloud Build trigger the function runs after an extract
    (`projects/<project>/locations/<region>/triggers/<trigger id or name>`); None when unset."""
    env = os.environ if env is None else env
    raw = env.get(DBT_TRIGGER_ENV)
    if raw in (None, ""):
        return None
    name = raw.strip()
    if not _TRIGGER_NAME.fullmatch(name):
        raise ConfigError(
            f"{DBT_TRIGGER_ENV} must be projects/<project>/locations/<region>/triggers/<trigger id>, "
            "e.g. projects/my-project/locations/us-central1/triggers/descope-dbt"
        )
    return name


RELEASE_COMMIT_ENV = "DESCOPE_RELEASE_COMMIT"
_COMMIT_SHA = re.compile(r"[0-9a-f]{40}")


def release_commit(env: Mapping[str, str] | None = None) -> str | None:
    """DESCOPE_RELEASE_COMMIT: the commit the release build tested and deployed (cloudbuild.yaml sets it);
    the dbt builds the function starts check out exactly this commit. None when unset."""
    env = os.environ if env is None else env
    raw = env.get(RELEASE_COMMIT_ENV)
    if raw in (None, ""):
        return None
    commit = raw.strip()
    if not _COMMIT_SHA.fullmatch(commit):
        raise ConfigError(
            f"{RELEASE_COMMIT_ENV} must be a full 40-character git commit SHA (lower-case hex), "
            "as the release build (cloudbuild.yaml) sets it"
        )
    return commit


class BuildTriggerError(SyncError):
    """The dbt build could not be started; the message names the trigger and what to do."""


@dataclass(frozen=True)
class StartedBuild:
    trigger: str
    commit: str
    build_id: str | None
    log_url: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": "started",
            "trigger": self.trigger,
            "commit": self.commit,
            "build_id": self.build_id,
            "log_url": self.log_url,
        }


def _endpoint(env: Mapping[str, str]) -> tuple[str, bool]:
    """(base URL, anonymous): the default API, or CLOUD_BUILD_ENDPOINT (http only to loopback, then no credentials)."""
    raw = env.get(ENDPOINT_ENV)
    if raw in (None, ""):
        return DEFAULT_ENDPOINT, False
    url = service_url(raw, ENDPOINT_ENV)
    return url, urlsplit(url).scheme.lower() == "http"


def _session(anonymous: bool):
    import requests

    if anonymous:
        return requests.Session()
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    try:
        credentials, _ = google.auth.default(scopes=_SCOPES)
    except Exception as exc:  # never the exception's own text
        raise BuildTriggerError(
            f"cannot start the dbt build: no Google Cloud credentials ({type(exc).__name__})"
        ) from None
    return AuthorizedSession(credentials)


def run_request(trigger: str, commit: str) -> dict[str, Any]:
    """The body of `triggers/*:run`: this trigger, at exactly `commit`."""
    parts = trigger.split("/")
    return {
        "projectId": parts[1],
        "triggerId": parts[5],
        "source": {"commitSha": commit, "substitutions": {RELEASE_COMMIT_SUBSTITUTION: commit}},
    }


def start_build(
    trigger: str,
    commit: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    backoff: float = 1.0,
    deadline: Deadline | None = None,
) -> StartedBuild:
    """Run `trigger` (`projects/P/locations/L/triggers/T`) at `commit`; the queued build's id and log URL.

    At most 3 attempts of `timeout` seconds, `backoff` and twice that apart, all within `deadline`
    (default: `TRIGGER_SECONDS` from now): after the 480 s extract budget this ends before the
    function's 540 s timeout.
    """
    import requests

    env = os.environ if env is None else env
    deadline = deadline if deadline is not None else Deadline(TRIGGER_SECONDS)
    base, anonymous = _endpoint(env)
    parts = trigger.split("/")
    body = run_request(trigger, commit)
    url = f"{base}/v1/{trigger}:run"
    by_hand = (
        "the extract is committed: start it by hand with "
        f"`gcloud builds triggers run {parts[5]} --region={parts[3]} --sha={commit}`"
    )
    session = _session(anonymous)
    try:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                response = session.post(url, json=body, timeout=deadline.bound(timeout))
            except requests.RequestException as exc:
                problem = (
                    f"could not reach Cloud Build to start the dbt build ({trigger}): {type(exc).__name__}; {by_hand}"
                )
            else:
                if response.status_code < 300:
                    return _started(trigger, commit, response)
                retryable = response.status_code >= 500 or response.status_code == 429
                problem = _refusal(trigger, response.status_code, by_hand)
                if not retryable:
                    raise BuildTriggerError(problem)
            wait = backoff * attempt
            if attempt == _ATTEMPTS or wait >= deadline.remaining():
                raise BuildTriggerError(problem)
            time.sleep(wait)
    finally:
        session.close()
    raise AssertionError("unreachable")  # pragma: no cover


def _refusal(trigger: str, status: int, by_hand: str) -> str:
    if status in (401, 403):
        why = (
            "permission denied: the function's service account needs cloudbuild.builds.create (the custom role "
            "descopeSyncBuildStarter) and roles/iam.serviceAccountUser on the trigger's service account "
            "(deploy/setup.sh grants both)"
        )
    elif status == 404:
        why = f"no such trigger: create it with deploy/setup.sh, or fix {DBT_TRIGGER_ENV}"
    else:
        why = f"Cloud Build answered HTTP {status}"
    return f"could not start the dbt build ({trigger}): {why}; {by_hand}"


def _started(trigger: str, commit: str, response) -> StartedBuild:
    try:
        operation = response.json()
    except ValueError:
        operation = {}
    build = (operation.get("metadata") or {}).get("build") or {} if isinstance(operation, dict) else {}
    build_id, log_url = build.get("id"), build.get("logUrl")
    log.info("dbt build started: trigger %s at commit %s, build %s", trigger, commit, build_id)
    return StartedBuild(trigger=trigger, commit=commit, build_id=build_id, log_url=log_url)
