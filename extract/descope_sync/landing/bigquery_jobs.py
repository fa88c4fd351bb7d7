"""The BigQuery writer's calls: load and query jobs, every wait and retry ending within the run's deadline.

Whatever the service, the network or the credentials answer becomes a `SyncError` whose text is
secret-free and clipped (a refusal names the roles the identity needs).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

from google.api_core.exceptions import Forbidden, GoogleAPIError
from google.auth.exceptions import DefaultCredentialsError, GoogleAuthError
from google.cloud import bigquery
from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY, DEFAULT_RETRY

from descope_sync.errors import ConfigError, SyncError
from descope_sync.landing.bigquery_values import error_list
from descope_sync.secrets import scrub

_UPLOAD_RETRIES = 6  # the client's default for a load's upload
# What a call to BigQuery raises when the service, the network or the credentials fail (not a bug here).
API_ERRORS = (GoogleAPIError, GoogleAuthError, OSError)


class BigQueryJobs:
    """Jobs of one client in one project and location; `deadline()` is the run's (None: no budget)."""

    def __init__(
        self, client: bigquery.Client, project: str, location: str, job_timeout: float, deadline: Callable[[], Any]
    ) -> None:
        self.client = client
        self.project = project
        self.location = location
        self.job_timeout = job_timeout
        self._deadline = deadline

    def timeout(self, seconds: float) -> float:
        """`seconds`, cut to what is left of the run's deadline: no wait on BigQuery outlasts the budget."""
        deadline = self._deadline()
        return seconds if deadline is None else deadline.bound(seconds)

    def retries(self) -> dict[str, Any]:
        """The client's retries of an API call, all ending within the run's deadline (by default they
        go on for 600 s)."""
        if self._deadline() is None:
            return {}
        return {"retry": DEFAULT_RETRY.with_timeout(self.timeout(600.0))}

    def bounded(self, seconds: float = 60.0) -> dict[str, Any]:
        """An API call's timeout and retries, within the run's deadline."""
        return {"timeout": self.timeout(seconds), **self.retries()}

    def start_load(self, ref: bigquery.TableReference, buffer: io.BytesIO) -> bigquery.LoadJob:
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
            write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
            create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
        )
        # No `size=`: a resumable upload (the emulator supports only that), read from the start.
        return self.client.load_table_from_file(
            buffer,
            ref,
            rewind=True,
            job_id_prefix=f"descope_sync_{ref.table_id.lstrip('_')}_",
            location=self.location,
            job_config=config,
            **self._upload_plan(),
        )

    def _upload_plan(self) -> dict[str, Any]:
        """A load's upload retries (the client backs off 1, 2, 4 ... s, plus up to 1 s of jitter, between
        attempts) and each attempt's timeout, chosen so that all of them end within the run's deadline."""
        retries = _UPLOAD_RETRIES
        deadline = self._deadline()
        if deadline is None:
            return {"num_retries": retries, "timeout": 60.0}
        left = deadline.remaining()
        while retries and 2**retries - 1 + retries > left / 2:
            retries -= 1
        backoff = 2**retries - 1 + retries
        return {"num_retries": retries, "timeout": max(0.001, min(60.0, (left - backoff) / (retries + 1)))}

    def wait(self, job: Any) -> None:
        # A job still running when the wait ends is not counted: its batch (with its checkpoints) fails,
        # so no cursor moves past rows that may not have landed; if the job lands them later, the next
        # run reads them again and dbt removes the duplicates.
        job.result(timeout=self.timeout(self.job_timeout), **self.retries())
        if job.error_result:  # result() raises on a failed job; this is belt and braces
            raise GoogleAPIError(str(job.error_result))

    def query(self, sql: str, params: Sequence[Any], what: str, page_size: int | None = None) -> Any:
        config = bigquery.QueryJobConfig(query_parameters=list(params))

        def run() -> Any:
            retries = self.retries()
            inserting = dict(retries)
            if retries:
                # A failed query job is run again, by default for 2,400 s; and with any job_retry the
                # client wraps the job's insertion in a retry of its own that no argument bounds: so
                # none here (`retry` still covers the insertion), and a bounded one for the result.
                inserting["job_retry"] = None
                retries["job_retry"] = DEFAULT_JOB_RETRY.with_timeout(self.timeout(self.job_timeout))
            job = self.client.query(
                sql, job_config=config, location=self.location, timeout=self.timeout(60), **inserting
            )
            return job.result(timeout=self.timeout(self.job_timeout), page_size=page_size, **retries)

        return self.call(run, what)

    def call(self, call: Callable[[], Any], what: str) -> Any:
        try:
            return call()
        except Forbidden as exc:
            raise SyncError(
                scrub(
                    f"BigQuery refused to {what} in project {self.project} ({error_list(None, exc)}): "
                    "the identity running descope-sync needs roles/bigquery.dataEditor on the dataset "
                    "and roles/bigquery.jobUser on the project"
                )
            ) from None
        except API_ERRORS as exc:
            raise SyncError(scrub(f"BigQuery could not {what}: {error_list(None, exc)}")) from None


def emulator_endpoint(host: str) -> str:
    """`BIGQUERY_EMULATOR_HOST` as an API endpoint (`host:port` means plain http)."""
    host = host.strip().rstrip("/")
    return host if "://" in host else f"http://{host}"


def make_client(project: str, location: str, api_endpoint: str | None = None) -> bigquery.Client:
    """A BigQuery client: Application Default Credentials, or anonymous ones against an emulator."""
    kwargs: dict[str, Any] = {}
    if api_endpoint:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials

        kwargs = {"client_options": ClientOptions(api_endpoint=api_endpoint), "credentials": AnonymousCredentials()}
    try:
        return bigquery.Client(project=project, location=location, **kwargs)
    except DefaultCredentialsError:
        raise ConfigError(
            "no Google credentials for BigQuery: on Cloud Functions the function's service account is used; "
            "locally run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS "
            "(against the emulator set BIGQUERY_EMULATOR_HOST)"
        ) from None
