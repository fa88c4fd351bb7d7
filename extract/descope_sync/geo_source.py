"""A GeoIP database kept in Cloud Storage (`GEOIP_DATABASE=gs://bucket/GeoLite2-City.mmdb`), opened as a local file.

Production needs a current MaxMind database, not the 2018 one the PyPI package ships, and a Cloud
Function has no disk of its own to keep one on. `GcsDatabase` is an `os.PathLike`: when the
ip_locations stream opens it (`GeoDatabase.open(path)` turns it into a `Path`), it asks Cloud
Storage for the object's current generation and answers with a local copy of that generation,
downloading it only when no copy is cached yet. So an instance fetches each generation once, a new
upload is used from the next run on, and a failure to reach Cloud Storage fails that one stream
(recorded in `_sync_runs`), never the others.

The cache lives under `DESCOPE_GEOIP_CACHE_DIR` (default `<tempdir>/descope-sync-geoip`), one file
per bucket, object and generation. A download goes to a temporary file in the same directory, is
checked (the client verifies its checksum; the size must match and it must be a MaxMind database),
then renamed into place atomically, so no reader ever sees half a file and a broken download is
never cached. When Cloud Storage cannot be asked but a copy is cached, that copy is used (logged).

Errors name the `gs://` URI and say what to do; never a credential or a server's message.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from descope_sync.errors import ConfigError

if TYPE_CHECKING:
    from descope_sync.deadline import Deadline

log = logging.getLogger(__name__)


class StorageUnavailable(ConfigError):
    """Cloud Storage could not be asked (a connection error, a 5xx): a cached copy may stand in."""


SCHEME = "gs://"
CACHE_DIR_ENV = "DESCOPE_GEOIP_CACHE_DIR"
# Bucket names: 3-63 characters (222 with dots), lower-case letters, digits, dashes, underscores, dots.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")
_SUFFIX = ".mmdb"


def _retry_within(seconds: float):
    """The client's default retry, its attempts together ending within `seconds`."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    return DEFAULT_RETRY.with_timeout(seconds)


def is_gcs_uri(value: object) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith(SCHEME)


def default_cache_dir(env: dict[str, str] | os._Environ[str] | None = None) -> Path:
    env = os.environ if env is None else env
    configured = env.get(CACHE_DIR_ENV)
    return Path(configured) if configured else Path(tempfile.gettempdir()) / "descope-sync-geoip"


@dataclass(frozen=True)
class GcsDatabase(os.PathLike):
    """`gs://bucket/object`: a path-like whose local file is fetched (and cached) when first used."""

    bucket: str
    name: str
    cache_dir: Path = field(default_factory=default_cache_dir, compare=False)
    project: str | None = field(default=None, compare=False)

    @classmethod
    def parse(cls, uri: str, *, cache_dir: Path | None = None, project: str | None = None) -> GcsDatabase:
        """`gs://bucket/path/to/GeoLite2-City.mmdb`; ConfigError naming the variable when malformed."""
        text = uri.strip()
        rule = "GEOIP_DATABASE must be a local .mmdb file or gs://<bucket>/<object>, e.g. gs://my-bucket/GeoLite2-City.mmdb"
        if not is_gcs_uri(text):
            raise ConfigError(rule)
        bucket, _, name = text[len(SCHEME) :].partition("/")
        if not _BUCKET.fullmatch(bucket) or not name or name.endswith("/") or any(c in name for c in "\r\n\x00"):
            raise ConfigError(f"{rule} (not a valid bucket and object name)")
        return cls(bucket=bucket, name=name, cache_dir=cache_dir or default_cache_dir(), project=project)

    @property
    def uri(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.name}"

    def __str__(self) -> str:
        return self.uri

    def __fspath__(self) -> str:
        return str(self.local_path())

    # ------------------------------------------------------------------ fetching

    def _key_dir(self) -> Path:
        """This object's cache directory: a hash of bucket and name (any object name fits in a file name)."""
        digest = hashlib.sha256(f"{self.bucket}/{self.name}".encode()).hexdigest()[:32]
        return self.cache_dir / digest

    def _cached(self, generation: int) -> Path:
        return self._key_dir() / f"{generation}{_SUFFIX}"

    def _prepare_dir(self) -> Path:
        key_dir = self._key_dir()
        try:
            key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            if hasattr(os, "getuid") and key_dir.stat().st_uid != os.getuid():
                raise ConfigError(
                    f"cannot cache {self.uri}: {key_dir} belongs to another user; "
                    f"set {CACHE_DIR_ENV} to a directory of your own"
                )
        except OSError as exc:
            raise ConfigError(
                f"cannot cache {self.uri} in {key_dir} ({type(exc).__name__}); "
                f"set {CACHE_DIR_ENV} to a writable directory"
            ) from None
        return key_dir

    def _newest_cached(self) -> Path | None:
        key_dir = self._key_dir()
        if not key_dir.is_dir():
            return None
        copies = [p for p in key_dir.glob(f"*{_SUFFIX}") if p.stem.isdigit()]
        return max(copies, key=lambda p: int(p.stem), default=None)

    def local_path(self, deadline: Deadline | None = None) -> Path:
        """The local copy of the object's current generation: cached, else downloaded now.

        With `deadline`, each request to Cloud Storage waits at most what is left of it."""

        def timeout(seconds: float) -> float:
            return seconds if deadline is None else deadline.bound(seconds)

        try:
            blob = self._current_blob(timeout(60))
        except StorageUnavailable:
            cached = self._newest_cached()
            if cached is None:
                raise
            log.warning(
                "could not ask Cloud Storage about %s; using the copy cached as generation %s", self, cached.stem
            )
            return cached
        generation = int(blob.generation)
        target = self._cached(generation)
        if target.is_file():
            log.info("GeoIP database %s generation %d: cached at %s", self, generation, target)
            return target
        self._download(blob, generation, target, timeout(300))
        return target

    def _client(self):
        try:
            from google.cloud import storage
        except ImportError:  # pragma: no cover - only without the bigquery extra
            raise ConfigError(
                f"GEOIP_DATABASE is {self.uri} but google-cloud-storage is not installed: "
                "pip install 'descope-sync[bigquery]', or point GEOIP_DATABASE at a local file"
            ) from None
        try:
            return storage.Client(project=self.project) if self.project else storage.Client()
        except Exception as exc:  # no credentials, no project: never the exception's own text
            raise ConfigError(
                f"cannot read {self.uri}: no Google Cloud credentials ({type(exc).__name__}); "
                "run `gcloud auth application-default login`, or give the function's service account "
                "roles/storage.objectViewer on the bucket"
            ) from None

    def _current_blob(self, timeout: float = 60):
        from google.api_core import exceptions as gexc

        client = self._client()
        try:
            blob = client.bucket(self.bucket).get_blob(self.name, timeout=timeout, retry=_retry_within(timeout))
        except gexc.Forbidden:
            raise ConfigError(self._denied()) from None
        except gexc.NotFound:  # the bucket itself is missing
            blob = None
        except Exception as exc:
            raise StorageUnavailable(
                f"cannot read {self.uri} from Cloud Storage ({type(exc).__name__}); try again"
            ) from None
        if blob is None:
            raise ConfigError(
                f"GeoIP database {self.uri} does not exist: upload it "
                f"(gcloud storage cp GeoLite2-City.mmdb {self.uri}) or fix GEOIP_DATABASE"
            )
        if blob.generation is None:
            raise ConfigError(f"Cloud Storage answered for {self.uri} without a generation; try again")
        return blob

    def _denied(self) -> str:
        return (
            f"permission denied reading {self.uri}: grant the function's service account "
            f"roles/storage.objectViewer on gs://{self.bucket}"
        )

    def _download(self, blob, generation: int, target: Path, timeout: float = 300) -> None:
        from google.api_core import exceptions as gexc

        key_dir = self._prepare_dir()
        fd, tmp_name = tempfile.mkstemp(prefix=".download-", suffix=_SUFFIX, dir=key_dir)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as fh:
                # This generation exactly, whatever is uploaded meanwhile; the client checks its checksum.
                pinned = blob.bucket.blob(blob.name, generation=generation)
                pinned.download_to_file(fh, timeout=timeout, retry=_retry_within(timeout))
                fh.flush()
                os.fsync(fh.fileno())
            size = tmp.stat().st_size
            if blob.size is not None and size != int(blob.size):
                raise ConfigError(f"download of {self.uri} was cut short ({size} of {blob.size} bytes); try again")
            self._check_database(tmp)
            os.replace(tmp, target)  # atomic: a reader sees no file or the whole file
        except ConfigError:
            raise
        except gexc.Forbidden:
            raise ConfigError(self._denied()) from None
        except gexc.NotFound:
            raise ConfigError(f"{self.uri} was replaced or deleted while downloading; try again") from None
        except Exception as exc:
            raise ConfigError(f"cannot download {self.uri} ({type(exc).__name__}); try again") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        log.info("GeoIP database %s generation %d: downloaded %d bytes to %s", self, generation, size, target)
        self._drop_other_generations(target)

    def _check_database(self, path: Path) -> None:
        import maxminddb

        try:
            with maxminddb.open_database(str(path), maxminddb.MODE_FILE) as reader:
                reader.metadata()
        except Exception:
            raise ConfigError(
                f"{self.uri} is not a MaxMind database (.mmdb); upload GeoLite2-City.mmdb or GeoIP2-City.mmdb"
            ) from None

    def _drop_other_generations(self, keep: Path) -> None:
        """Older copies go: the cache holds one generation per object (on Cloud Functions, /tmp is memory)."""
        for old in keep.parent.glob(f"*{_SUFFIX}"):
            if old != keep and old.stem.isdigit():
                with contextlib.suppress(OSError):
                    old.unlink()
