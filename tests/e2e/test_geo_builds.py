"""Two GeoLite2 builds: the marts show what the newest build says, whichever was looked up last."""

from __future__ import annotations

from datetime import datetime

from descope_sim.geo_builds import city_record, write_city_database
from descope_sync.geo import GeoDatabase
from descope_sync.remote_address import client_ip
from tests.conftest import query
from tests.e2e.test_end_to_end import descope_sync


def test_the_newest_database_build_wins_even_when_an_older_build_looked_up_later(simulator, tmp_path):
    sim = simulator(users=60)
    addresses = sorted({ip for e in sim.world.truth()["events"] if (ip := client_ip(e.get("remoteAddress")))})
    newer = write_city_database(
        tmp_path / "GeoLite2-City-2030.mmdb",
        {ip: city_record(f"Newtown {i}", "NZ", "New Zealand") for i, ip in enumerate(addresses)},
        built_at=datetime(2030, 1, 2),
    )
    db = tmp_path / "warehouse.duckdb"
    first = descope_sync(["extract"], sim, db, extra_env={"GEOIP_DATABASE": str(newer)})
    assert first.returncode == 0, first.stdout + first.stderr
    # Someone points the extractor back at the bundled 2018 build: every address is looked up again, later.
    second = descope_sync(["run"], sim, db)
    assert second.returncode == 0, second.stdout + second.stderr
    builds = query(db, "select count(distinct database_built_at) from descope_raw.ip_locations")[0][0]
    assert builds == 2

    with GeoDatabase.open(newer) as geo:
        expected = {row["ip"]: row["city"] for row in geo.lookup_many(addresses, datetime(2030, 1, 3), "check")}
    rows = query(
        db, "select user_id, last_login_ip, last_login_city from descope_data_v2.users where last_login_ip is not null"
    )
    assert rows
    for user_id, ip, city in rows:
        assert city == expected.get(ip), f"{user_id}: {ip} shows {city!r}, the 2030 build says {expected.get(ip)!r}"
