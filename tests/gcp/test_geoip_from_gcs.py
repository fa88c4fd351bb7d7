"""GEOIP_DATABASE=gs://...: fetched with the real google-cloud-storage client from gcp-storage-emulator
(PyPI, started on loopback by the test), cached per generation, opened like a local file."""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

import pytest

from descope_sync.catalog import STREAMS
from descope_sync.config import load_settings
from descope_sync.descope import Deadline
from descope_sync.errors import ConfigError
from descope_sync.geo import GeoDatabase, default_database_path
from descope_sync.geo_source import GcsDatabase
from descope_sync.pipeline import run_extract
from tests.conftest import query, settings_for

BUCKET = "geo-bucket"
OBJECT = "maxmind/GeoLite2-City.mmdb"
URI = f"gs://{BUCKET}/{OBJECT}"
UNREACHABLE_DEADLINE = 2.0  # seconds the unreachable-storage case waits per read


def storage_client():
    from google.cloud import storage

    return storage.Client()  # STORAGE_EMULATOR_HOST: anonymous, no project


@pytest.fixture
def bucket(gcs_emulator):
    return storage_client().create_bucket(BUCKET)


def upload(bucket, path: Path | None = None, name: str = OBJECT) -> int:
    path = path or default_database_path()
    blob = bucket.blob(name)
    blob.upload_from_filename(str(path))
    blob.reload()
    return int(blob.generation)


def cached_files(cache: Path) -> list[Path]:
    return sorted(p for p in cache.rglob("*") if p.is_file())


def test_a_gs_database_is_downloaded_once_and_opened_like_a_local_file(bucket, tmp_path, caplog):
    generation = upload(bucket)
    cache = tmp_path / "cache"
    source = GcsDatabase.parse(URI, cache_dir=cache)
    with caplog.at_level(logging.INFO, logger="descope_sync.geo_source"):
        geo = GeoDatabase.open(source)
    try:
        assert geo.database_type == "GeoLite2-City"
        assert geo.path.name == f"{generation}.mmdb" and geo.path.is_relative_to(cache)
        assert geo.path.read_bytes() == default_database_path().read_bytes()
        [row] = geo.lookup_many(["81.2.69.160"], looked_up_at=geo.database_built_at, batch_id="b")
        assert row["is_found"] and row["country_code"] == "GB"
    finally:
        geo.close()
    assert [p.name for p in cached_files(cache)] == [f"{generation}.mmdb"]  # no temporary file left behind
    assert "downloaded" in caplog.text

    # A second open (another run on the same instance) uses the cached copy: no download.
    before = os.stat(geo.path).st_ino
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="descope_sync.geo_source"):
        again = GcsDatabase.parse(URI, cache_dir=cache).local_path()
    assert again == geo.path and os.stat(again).st_ino == before
    assert "downloaded" not in caplog.text and "cached" in caplog.text


def test_a_new_upload_is_a_new_generation_used_from_the_next_run_on(bucket, tmp_path):
    cache = tmp_path / "cache"
    first = upload(bucket)
    assert GcsDatabase.parse(URI, cache_dir=cache).local_path().name == f"{first}.mmdb"
    second = upload(bucket)
    assert second != first
    path = GcsDatabase.parse(URI, cache_dir=cache).local_path()
    assert path.name == f"{second}.mmdb"
    assert [p.name for p in cached_files(cache)] == [f"{second}.mmdb"]  # the old generation is dropped


def test_the_pipeline_looks_ips_up_in_the_database_from_cloud_storage(bucket, simulator, tmp_path):
    generation = upload(bucket)
    sim = simulator(users=40)
    db = tmp_path / "w.duckdb"
    settings = settings_for(sim, db, geoip_database=GcsDatabase.parse(URI, cache_dir=tmp_path / "cache"))
    summary = run_extract(settings)
    assert [s.status for s in summary.streams] == ["success"] * len(STREAMS)
    [(looked_up, found, types)] = query(
        db,
        "select count(*), count(*) filter (where is_found), list(distinct database_type) from descope_raw.ip_locations",
    )
    assert looked_up > 0 and found > 0 and types == ["GeoLite2-City"]
    assert [p.name for p in cached_files(tmp_path / "cache")] == [f"{generation}.mmdb"]


def test_a_missing_object_fails_only_the_ip_locations_stream_naming_the_uri(bucket, simulator, tmp_path):
    sim = simulator(users=20)
    db = tmp_path / "w.duckdb"
    summary = run_extract(settings_for(sim, db, geoip_database=GcsDatabase.parse(URI, cache_dir=tmp_path / "cache")))
    statuses = {s.stream: s for s in summary.streams}
    assert statuses["audit_events"].status == "success" and statuses["users"].status == "success"
    failed = statuses["ip_locations"]
    assert failed.status == "failed"
    assert f"GeoIP database {URI} does not exist" in failed.message
    [(error,)] = query(db, "select error from descope_raw._sync_runs where stream = 'ip_locations'")
    assert URI in error


def test_a_missing_bucket_is_an_error_naming_the_uri(gcs_emulator, tmp_path):
    with pytest.raises(ConfigError, match=f"GeoIP database gs://no-such-bucket/{OBJECT} does not exist"):
        GcsDatabase.parse(f"gs://no-such-bucket/{OBJECT}", cache_dir=tmp_path).local_path()


def test_an_object_that_is_not_a_maxmind_database_is_refused_and_never_cached(bucket, tmp_path):
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(b"not a database" * 1000)
    upload(bucket, junk)
    cache = tmp_path / "cache"
    with pytest.raises(ConfigError, match=f"{URI} is not a MaxMind database"):
        GcsDatabase.parse(URI, cache_dir=cache).local_path()
    assert cached_files(cache) == []


def test_when_cloud_storage_cannot_be_reached_the_cached_copy_is_used(bucket, tmp_path, monkeypatch, caplog):
    """Refused connections: the client's retries end with the stream's deadline (here 2 s; in production
    what is left of the run's budget, at most 60 s), then the cached copy stands in, or the stream fails."""
    generation = upload(bucket)
    cache = tmp_path / "cache"
    GcsDatabase.parse(URI, cache_dir=cache).local_path()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")  # nothing listens there
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="descope_sync.geo_source"):
        path = GcsDatabase.parse(URI, cache_dir=cache).local_path(Deadline(UNREACHABLE_DEADLINE))
    assert time.monotonic() - started < UNREACHABLE_DEADLINE + 3.0  # the retries stopped at the deadline
    assert path.name == f"{generation}.mmdb"
    assert "using the copy cached" in caplog.text

    shutil.rmtree(cache)
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        GcsDatabase.parse(URI, cache_dir=cache).local_path(Deadline(UNREACHABLE_DEADLINE))
    assert time.monotonic() - started < UNREACHABLE_DEADLINE + 3.0
    assert str(info.value).startswith(f"cannot read {URI} from Cloud Storage")


@pytest.mark.parametrize("uri", ["gs://", "gs://bucket", "gs://bucket/", "gs://Bad_Bucket!/x.mmdb", "gs://b/x/"])
def test_a_malformed_gs_uri_is_a_config_error_naming_the_variable(uri):
    with pytest.raises(ConfigError, match="GEOIP_DATABASE"):
        load_settings({}, env={"DESCOPE_PROJECT_ID": "P1", "DESCOPE_MANAGEMENT_KEY": "K2abcdef", "GEOIP_DATABASE": uri})


def test_a_gs_uri_in_the_environment_is_fetched_into_the_configured_cache_directory(tmp_path):
    environment = {
        "DESCOPE_PROJECT_ID": "P1",
        "DESCOPE_MANAGEMENT_KEY": "K2abcdef",
        "GEOIP_DATABASE": f" {URI} ",
        "DESCOPE_GEOIP_CACHE_DIR": str(tmp_path),
        "GCP_PROJECT": "my-gcp",
    }
    source = load_settings({}, env=environment).geoip_database
    assert isinstance(source, GcsDatabase)
    assert (str(source), source.bucket, source.name) == (URI, BUCKET, OBJECT)
    assert (source.cache_dir, source.project) == (tmp_path, "my-gcp")


def test_a_local_path_stays_a_local_path():
    settings = load_settings(
        {}, env={"DESCOPE_PROJECT_ID": "P1", "DESCOPE_MANAGEMENT_KEY": "K2abcdef", "GEOIP_DATABASE": "/data/City.mmdb"}
    )
    assert settings.geoip_database == Path("/data/City.mmdb")
