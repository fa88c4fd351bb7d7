"""Another build of a GeoLite2-City-shaped database, for tests that need two builds to disagree.

MaxMind publishes a new GeoLite2 build every week or two; the pipeline keeps every lookup and dbt
must pick the newest *build* for an address, whatever order the lookups were made in. This writes a
small City database (same record shape as GeoLite2 City) whose build time and places are chosen
by the caller. Needs the PyPI packages `mmdb-writer` and `netaddr` (dev dependencies).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock


def city_record(
    city: str,
    country_code: str,
    country: str,
    *,
    region: str = "",
    latitude: float = 0.0,
    longitude: float = 0.0,
    time_zone: str = "UTC",
) -> dict[str, Any]:
    """A record shaped like GeoLite2 City's (English names only)."""
    record: dict[str, Any] = {
        "city": {"names": {"en": city}},
        "country": {"iso_code": country_code, "names": {"en": country}},
        "continent": {"code": "EU", "names": {"en": "Europe"}},
        "location": {"latitude": latitude, "longitude": longitude, "accuracy_radius": 20, "time_zone": time_zone},
    }
    if region:
        record["subdivisions"] = [{"iso_code": region[:2].upper(), "names": {"en": region}}]
    return record


def write_city_database(path: Path, places: Mapping[str, dict[str, Any]], built_at: datetime) -> Path:
    """Write a City database mapping each address (or CIDR) in `places` to its record, built at `built_at`."""
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(
        ip_version=6,
        database_type="GeoLite2-City",
        languages=["en"],
        ipv4_compatible=True,
        description="descope-sync test build",
    )
    for network, record in places.items():
        writer.insert_network(IPSet([network]), record)
    epoch = int(built_at.replace(tzinfo=UTC).timestamp()) if built_at.tzinfo is None else int(built_at.timestamp())
    # mmdb-writer stamps the build with time.time(): make it the build time we were asked for.
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(time, "time", lambda: float(epoch)))
        writer.to_db_file(str(path))
    return path
