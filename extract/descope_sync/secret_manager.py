"""Secret Manager: the latest version of a secret, read over REST within the run's deadline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from descope_sync.errors import ConfigError
from descope_sync.urls import service_url

if TYPE_CHECKING:
    from descope_sync.deadline import Deadline

SECRET_MANAGER_ENDPOINT_ENV = "SECRET_MANAGER_ENDPOINT"


def _secret_manager_endpoint(env: Mapping[str, str]) -> tuple[str | None, bool]:
    """(api_endpoint, anonymous): SECRET_MANAGER_ENDPOINT, for tests (plain http on loopback, no credentials)
    or a regional / private endpoint (https, the usual credentials); (None, False) for Google's default."""
    raw = env.get(SECRET_MANAGER_ENDPOINT_ENV)
    if raw in (None, ""):
        return None, False
    url = service_url(raw, SECRET_MANAGER_ENDPOINT_ENV)
    return url, urlsplit(url).scheme.lower() == "http"


class SecretManager:
    """Reads secrets' latest versions through one client (REST), created on first use."""

    def __init__(self, project: str | None, env: Mapping[str, str], deadline: Deadline | None = None) -> None:
        self.project = project
        self.endpoint, self.anonymous = _secret_manager_endpoint(env)
        self.deadline = deadline
        self._client: Any = None

    def _make_client(self, name: str) -> Any:
        try:
            from google.cloud import secretmanager
        except ImportError:  # pragma: no cover - only without the bigquery extra
            raise ConfigError(
                "google-cloud-secret-manager is not installed; install descope-sync[bigquery] "
                f"or set the secret {name!r} through its environment variable"
            ) from None
        kwargs: dict[str, Any] = {"transport": "rest"}
        if self.endpoint:
            from google.api_core.client_options import ClientOptions

            kwargs["client_options"] = ClientOptions(api_endpoint=self.endpoint)
        if self.anonymous:
            from google.auth.credentials import AnonymousCredentials

            kwargs["credentials"] = AnonymousCredentials()
        try:
            return secretmanager.SecretManagerServiceClient(**kwargs)
        except Exception as exc:  # no application default credentials: never the exception's own text
            raise ConfigError(
                f"cannot read secret {name!r}: no Google Cloud credentials ({type(exc).__name__}); "
                "run `gcloud auth application-default login`, or set the value through its environment variable"
            ) from None

    def value(self, name: str) -> str:
        """The latest version of secret `name`, as stored (the caller strips and validates it)."""
        if not self.project:
            raise ConfigError(f"cannot read secret {name!r}: set GCP_PROJECT (or GOOGLE_CLOUD_PROJECT)")
        if self._client is None:
            self._client = self._make_client(name)
        from google.api_core import exceptions as gexc

        where = f"secret {name!r} in project {self.project!r}"
        path = f"projects/{self.project}/secrets/{name}/versions/latest"
        from google.api_core import retry as gretry

        # Each attempt and the retries together end within the run's deadline (the function's budget).
        seconds = 60.0 if self.deadline is None else self.deadline.bound(60.0)
        retry = gretry.Retry(predicate=gretry.if_transient_error, timeout=seconds)
        try:
            response = self._client.access_secret_version(request={"name": path}, retry=retry, timeout=seconds)
        except gexc.NotFound:
            raise ConfigError(
                f"{where} does not exist or has no enabled version; create it: printf '%s' \"$VALUE\" | "
                f"gcloud secrets create {name} --data-file=- (or gcloud secrets versions add {name} --data-file=-)"
            ) from None
        except (gexc.PermissionDenied, gexc.Forbidden):  # gRPC and REST spell a 403 differently
            raise ConfigError(
                f"permission denied reading {where}: grant the function's service account "
                f"roles/secretmanager.secretAccessor on the secret {name!r}"
            ) from None
        except (gexc.Unauthenticated, gexc.Unauthorized):
            raise ConfigError(
                f"Secret Manager refused the credentials reading {where}: check the function's service account "
                "(or run `gcloud auth application-default login` locally)"
            ) from None
        except Exception as exc:
            raise ConfigError(
                f"could not read {where} from Secret Manager ({type(exc).__name__}); check that it exists "
                "and the function's service account has roles/secretmanager.secretAccessor on it"
            ) from None
        data = getattr(getattr(response, "payload", None), "data", None)
        if not isinstance(data, bytes):
            raise ConfigError(f"Secret Manager answered for {where} without a payload; try again")
        crc = getattr(response.payload, "data_crc32c", None)
        if crc and not _crc32c_matches(data, crc):
            raise ConfigError(f"the payload of {where} arrived corrupted (its CRC32C does not match); try again")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(
                f"secret {name!r} is not UTF-8 text: add a new version holding only the value "
                f"(printf '%s' \"$VALUE\" | gcloud secrets versions add {name} --data-file=-)"
            ) from None


def _crc32c_matches(data: bytes, expected: int) -> bool:
    try:
        import google_crc32c
    except ImportError:  # pragma: no cover - installed with google-cloud-storage
        return True
    return int(google_crc32c.value(data)) == int(expected)


def how_to_replace(name: str) -> str:
    """The hint for a secret whose value is unusable: add a clean version."""
    return f"add a new version without it: printf '%s' \"$VALUE\" | gcloud secrets versions add {name} --data-file=-"
