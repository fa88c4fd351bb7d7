"""Small HTTP servers on loopback that speak the REST shape of the Google APIs the function calls.

- `SecretManagerServer`: `GET /v1/projects/{p}/secrets/{s}/versions/latest:access` answers
  `{"name": ..., "payload": {"data": <base64>, "dataCrc32c": "<int64>"}}`; a secret it does not hold
  is a 404 and one listed in `denied` a 403, each with Google's JSON error body.
- `CloudBuildServer`: `POST /v1/projects/{p}/locations/{l}/triggers/{t}:run` answers an Operation
  whose metadata holds the queued build; `refuse_with` makes it answer that status instead and
  `delay_seconds` answers that late. The request's `source` (a RepoSource) is what the build gets:
  its `commitSha` becomes the build's `source.repoSource.commitSha` and `$COMMIT_SHA`, its
  `substitutions` the build's; a field RepoSource does not have is a 400, as the API answers.

Both record what they were asked (path, method, body, the Authorization header's presence).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import google_crc32c


@dataclass
class Recorded:
    method: str
    path: str
    body: Any
    authorized: bool


class _Server:
    delay_seconds: float = 0.0

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                path = self.path.split("?")[0]
                if outer.delay_seconds:
                    time.sleep(outer.delay_seconds)
                outer.requests.append(Recorded(self.command, path, body, bool(self.headers.get("Authorization"))))
                status, payload = outer.answer(self.command, path, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:  # pragma: no cover - overridden
        raise NotImplementedError


def google_error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


_ACCESS = re.compile(r"/v1/projects/([^/]+)/secrets/([^/]+)/versions/latest:access")


@dataclass
class SecretManagerServer(_Server):
    secrets: dict[str, bytes] = field(default_factory=dict)
    denied: set[str] = field(default_factory=set)
    project: str = "my-gcp"
    corrupt_crc: bool = False

    def __post_init__(self) -> None:
        super().__init__()

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        match = _ACCESS.fullmatch(path)
        if method != "GET" or match is None:
            return 404, google_error(404, "NOT_FOUND", "no such method")
        project, name = match.groups()
        resource = f"projects/{project}/secrets/{name}"
        if name in self.denied:
            return 403, google_error(
                403, "PERMISSION_DENIED", f"Permission 'secretmanager.versions.access' denied for {resource}"
            )
        if project != self.project or name not in self.secrets:
            return 404, google_error(404, "NOT_FOUND", f"Secret [{resource}] not found or has no versions.")
        data = self.secrets[name]
        crc = google_crc32c.value(data) ^ (1 if self.corrupt_crc else 0)
        payload = {"data": base64.b64encode(data).decode(), "dataCrc32c": str(crc)}
        return 200, {"name": f"projects/123456/secrets/{name}/versions/1", "payload": payload}


_RUN = re.compile(r"/v1/projects/([^/]+)/locations/([^/]+)/triggers/([^/]+):run")
_REPO_SOURCE_FIELDS = {
    *("projectId", "repoName", "branchName", "tagName", "commitSha", "dir", "invertRegex", "substitutions")
}


@dataclass
class CloudBuildServer(_Server):
    refuse_with: int | None = None
    builds: int = 0
    branch_head: str = "ffffffffffffffffffffffffffffffffffffffff"  # what a run without a source builds
    queued: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        match = _RUN.fullmatch(path)
        if method != "POST" or match is None:
            return 404, google_error(404, "NOT_FOUND", "no such method")
        if self.refuse_with is not None:
            return self.refuse_with, google_error(self.refuse_with, "REFUSED", "refused by the test")
        project, location, trigger = match.groups()
        body = body if isinstance(body, dict) else {}
        if set(body) - {"name", "projectId", "triggerId", "source"}:
            return 400, google_error(400, "INVALID_ARGUMENT", "unknown field in RunBuildTriggerRequest")
        source = body.get("source") or {}
        if not isinstance(source, dict) or set(source) - _REPO_SOURCE_FIELDS:
            return 400, google_error(400, "INVALID_ARGUMENT", "unknown field in RepoSource")
        if sum(bool(source.get(f)) for f in ("branchName", "tagName", "commitSha")) > 1:
            return 400, google_error(400, "INVALID_ARGUMENT", "only one of branchName, tagName, commitSha")
        commit = source.get("commitSha") or self.branch_head
        self.builds += 1
        build_id = f"build-{self.builds}"
        build = {
            "id": build_id,
            "status": "QUEUED",
            "buildTriggerId": trigger,
            "logUrl": f"https://console.cloud.google.com/cloud-build/builds;region={location}/{build_id}?project={project}",
            "source": {"commitSha": commit},
            "substitutions": {"COMMIT_SHA": commit, **(source.get("substitutions") or {})},
        }
        self.queued.append(build)
        metadata = {"@type": "type.googleapis.com/google.devtools.cloudbuild.v1.BuildOperationMetadata", "build": build}
        return 200, {
            "name": f"projects/{project}/locations/{location}/operations/op-{self.builds}",
            "metadata": metadata,
        }
