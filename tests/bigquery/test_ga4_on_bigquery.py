"""GA4 attribution's incremental models on the BigQuery emulator, reading GA4's export as BigQuery
holds it: nested RECORDs, REPEATED event_params, daily shards and an intraday table read through the
`events_*` wildcard and `_TABLE_SUFFIX`. The export's newest three days and today's intraday table
arrive only before the second (incremental) build; the result must equal a full refresh, and both the
first touches and device links the fixture (descope_sync.ga4_fixture) made.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from descope_sync.ga4_fixture import Ga4Fixture
from descope_sync.transform import run_dbt
from tests.bigquery.marts import normalise
from tests.bigquery.test_dbt_parity import environment

DATASETS = {
    "DESCOPE_RAW_DATASET": "ga4test_raw",
    "DESCOPE_STAGING_DATASET": "ga4test_staging",
    "DESCOPE_MARTS_DATASET": "ga4test_marts",
}
GA4_DATASET = "ga4test_export"
MODELS = ("int_ga4_device_first_touches", "int_ga4_user_devices")


def export_schema() -> list[Any]:
    from google.cloud.bigquery import SchemaField as F

    value = [F("string_value", "STRING"), F("int_value", "INTEGER"), F("float_value", "FLOAT")]
    return [
        F("event_date", "STRING"),
        F("event_timestamp", "INTEGER"),
        F("event_name", "STRING"),
        F("event_params", "RECORD", mode="REPEATED", fields=[F("key", "STRING"), F("value", "RECORD", fields=value)]),
        F("user_id", "STRING"),
        F("user_pseudo_id", "STRING"),
        F("user_first_touch_timestamp", "INTEGER"),
        F("traffic_source", "RECORD", fields=[F("name", "STRING"), F("medium", "STRING"), F("source", "STRING")]),
        F(
            "collected_traffic_source",
            "RECORD",
            fields=[F(n, "STRING") for n in ("manual_campaign_name", "manual_source", "manual_medium", "gclid")],
        ),
        F("platform", "STRING"),
        F("stream_id", "STRING"),
    ]


def write_export(client: Any, project: str, fixture: Ga4Fixture, days_before_today: int) -> list[str]:
    """(Re)writes the export's tables up to `days_before_today` before today, as GA4 does."""
    from google.cloud import bigquery

    schema = export_schema()
    names = [field.name for field in schema]
    tables = fixture.tables(fixture.today - timedelta(days=days_before_today))
    for name, rows in tables.items():
        table_id = f"{project}.{GA4_DATASET}.{name}"
        client.delete_table(table_id, not_found_ok=True)
        table = client.create_table(bigquery.Table(table_id, schema=schema))
        cleaned = [{k: row[k] for k in names} for row in rows]
        for row in cleaned:
            for param in row["event_params"]:
                param["value"].pop("double_value", None)
        assert client.insert_rows_json(table, cleaned) == []
    return sorted(tables)


def truth(fixture: Ga4Fixture) -> tuple[dict, dict]:
    """What the two models must hold, from the fixture's events: device -> first touch; (user,
    device) -> first linked time and last date."""
    touches: dict[str, tuple] = {}
    links: dict[tuple[str, str], tuple] = {}
    for row in sorted(fixture.rows(), key=lambda r: r["event_timestamp"]):
        at = datetime.fromtimestamp(row["event_timestamp"] / 1_000_000, UTC).replace(tzinfo=None)
        day = datetime.strptime(row["event_date"], "%Y%m%d").date()
        device = row["user_pseudo_id"]
        if device not in touches:
            page = next(p["value"]["string_value"] for p in row["event_params"] if p["key"] == "page_location")
            source = row["traffic_source"]
            touches[device] = (at, source["source"], source["medium"], source["name"], page, day)
        touches[device] = (*touches[device][:5], day)
        if row["user_id"]:
            first = links.get((row["user_id"], device), (at,))[0]
            links[(row["user_id"], device)] = (first, day)
    return touches, links


def read(client: Any, project: str) -> tuple[dict, dict]:
    staging = DATASETS["DESCOPE_STAGING_DATASET"]
    touches = {
        r["user_pseudo_id"]: tuple(
            normalise(r[c]) for c in ("first_seen_at", "source", "medium", "campaign", "landing_page", "last_seen_date")
        )
        for r in client.query(f"select * from `{project}.{staging}.int_ga4_device_first_touches`").result()
    }
    links = {
        (r["user_id"], r["user_pseudo_id"]): (normalise(r["first_linked_at"]), r["last_seen_date"])
        for r in client.query(f"select * from `{project}.{staging}.int_ga4_user_devices`").result()
    }
    return touches, links


def test_ga4_models_on_bigquery_incremental_equals_full_refresh_equals_the_fixture(bq_emulator) -> None:
    client, project = bq_emulator.client(), bq_emulator.project
    client.create_dataset(GA4_DATASET, exists_ok=True)
    fixture = Ga4Fixture([f"U{i:03d}" for i in range(40)], datetime.now(UTC).date())
    dbt_args = ["--select", *MODELS, "--vars", json.dumps({"ga4_dataset": GA4_DATASET})]

    def build(full_refresh: bool = False) -> None:
        with environment({**bq_emulator.env(), **DATASETS}):
            outcome = run_dbt("build", target="bigquery", full_refresh=full_refresh, extra_args=dbt_args)
        assert outcome.success, outcome.failures

    assert not any("intraday" in name for name in write_export(client, project, fixture, 3))
    build()
    assert any("intraday" in name for name in write_export(client, project, fixture, 0))
    build()
    incremental = read(client, project)
    build(full_refresh=True)
    assert read(client, project) == incremental
    expected_touches, expected_links = truth(fixture)
    assert incremental[0] == expected_touches
    assert incremental[1] == expected_links
    assert fixture.anonymous_device in incremental[0]
    assert len({device for user, device in incremental[1] if user == fixture.two_device_user}) == 2
