"""GeoDatabase against the bundled GeoLite2-City (July 2018), checked against geoip2 itself."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import geoip2.database
import geoip2.errors
import pytest

from descope_sync.errors import ConfigError
from descope_sync.geo import COLUMNS, GeoDatabase, default_database_path
from descope_sync.landing.base import LANDING_TABLES
from descope_sync.remote_address import classify, client_ip

NOW = datetime(2024, 5, 1, 12, 0, 0)


@pytest.fixture(scope="module")
def geo() -> Iterator[GeoDatabase]:
    with GeoDatabase.open() as db:
        yield db


@pytest.fixture(scope="module")
def reference() -> Iterator[geoip2.database.Reader]:
    with geoip2.database.Reader(str(default_database_path())) as reader:
        yield reader


def lookup(geo: GeoDatabase, ip: str) -> dict:
    (row,) = geo.lookup_many([ip], NOW, "b1")
    return row


def expected_from_geoip2(reference: geoip2.database.Reader, ip: str) -> dict | None:
    try:
        city = reference.city(ip)
    except geoip2.errors.AddressNotFoundError:
        return None
    region = city.subdivisions[0] if city.subdivisions else None
    return {
        "city": city.city.names.get("en"),
        "region": region.names.get("en") if region else None,
        "region_code": region.iso_code if region else None,
        "country_code": city.country.iso_code,
        "country_name": city.country.names.get("en"),
        "continent_code": city.continent.code,
        "latitude": city.location.latitude,
        "longitude": city.location.longitude,
        "accuracy_radius_km": city.location.accuracy_radius,
        "time_zone": city.location.time_zone,
    }


def test_default_database_is_the_bundled_geolite2_city_of_july_2018(geo: GeoDatabase) -> None:
    assert default_database_path().name == "GeoLite2-City.mmdb"
    assert default_database_path().is_file()
    assert geo.path == default_database_path()
    assert geo.database_type == "GeoLite2-City"
    built = geo.database_built_at
    assert built.tzinfo is None
    assert (built.year, built.month) == (2018, 7)


@pytest.mark.parametrize(
    ("ip", "city", "region_code", "country_code", "country_name", "continent_code", "time_zone"),
    [
        ("81.2.69.160", "Willesden", "ENG", "GB", "United Kingdom", "EU", "Europe/London"),
        ("89.160.20.112", "Stockholm", "AB", "SE", "Sweden", "EU", "Europe/Stockholm"),
        ("128.101.101.101", "Minneapolis", "MN", "US", "United States", "NA", "America/Chicago"),
        ("133.1.1.1", "Osaka", "27", "JP", "Japan", "AS", "Asia/Tokyo"),
        ("24.24.24.24", "Syracuse", "NY", "US", "United States", "NA", "America/New_York"),
        ("2001:4860:4860::8888", "Mountain View", "CA", "US", "United States", "NA", "America/Los_Angeles"),
        ("2a02:8388:e302:7880::1", "Graz", "6", "AT", "Austria", "EU", "Europe/Vienna"),
    ],
)
def test_known_ips_resolve_to_the_city_geoip2_reports(
    geo: GeoDatabase,
    reference: geoip2.database.Reader,
    ip: str,
    city: str,
    region_code: str,
    country_code: str,
    country_name: str,
    continent_code: str,
    time_zone: str,
) -> None:
    row = lookup(geo, ip)
    assert row["is_found"] is True
    assert row["not_found_reason"] is None
    assert (row["city"], row["region_code"], row["country_code"]) == (city, region_code, country_code)
    assert (row["country_name"], row["continent_code"], row["time_zone"]) == (
        country_name,
        continent_code,
        time_zone,
    )
    assert {k: row[k] for k in expected_from_geoip2(reference, ip)} == expected_from_geoip2(reference, ip)


def test_region_is_the_first_subdivision(geo: GeoDatabase) -> None:
    row = lookup(geo, "81.2.69.160")
    assert (row["region"], row["region_code"]) == ("England", "ENG")


def test_country_only_records_are_found_without_a_city(geo: GeoDatabase) -> None:
    row = lookup(geo, "8.8.8.8")
    assert row["is_found"] is True
    assert row["city"] is None
    assert row["country_code"] == "US"
    assert row["accuracy_radius_km"] == 1000


def test_rows_carry_every_landing_column_and_the_database_build(geo: GeoDatabase) -> None:
    rows = geo.lookup_many(["81.2.69.160", "10.0.0.1", "nonsense"], NOW, "batch-7")
    assert [c.name for c in LANDING_TABLES["ip_locations"]] == list(COLUMNS)
    for row in rows:
        assert list(row) == list(COLUMNS)
        assert row["database_type"] == "GeoLite2-City"
        assert row["database_built_at"] == geo.database_built_at
        assert row["_looked_up_at"] == NOW
        assert row["_batch_id"] == "batch-7"


@pytest.mark.parametrize(
    ("ip", "reason"),
    [
        ("", "empty"),
        (" ", "empty"),
        ("\t\n", "empty"),
        ("garbage", "invalid"),
        ("1.2.3", "invalid"),
        ("256.1.1.1", "invalid"),
        ("1.2.3.4.5", "invalid"),
        ("01.2.3.4", "invalid"),
        ("1.2.3.4:", "invalid"),
        ("1.2.3.4:99999", "invalid"),
        ("unknown", "invalid"),
        ("unknown, garbage", "invalid"),
        (",", "empty"),
        (" , ,", "empty"),
        ("0x51.2.69.160", "invalid"),
        ("\u0661.\u0662.\u0663.\u0664", "invalid"),  # Arabic-Indic digits
        ("::1::", "invalid"),
        ("10.0.0.1", "private"),
        ("192.168.1.1", "private"),
        ("172.16.5.4", "private"),
        ("127.0.0.1", "private"),
        ("169.254.10.10", "private"),
        ("100.64.0.1", "private"),  # shared address space (carrier-grade NAT)
        ("::1", "private"),
        ("fe80::1", "private"),
        ("fd00::1", "private"),
        ("::ffff:10.0.0.1", "private"),
        ("240.0.0.1", "reserved"),
        ("0.0.0.0", "reserved"),
        ("255.255.255.255", "reserved"),
        ("224.0.0.251", "reserved"),
        ("::", "reserved"),
        ("ff02::1", "reserved"),
    ],
)
def test_ips_that_are_not_looked_up_get_a_reason(geo: GeoDatabase, ip: str, reason: str) -> None:
    row = lookup(geo, ip)
    assert row["ip"] == ip  # the original string: the join key to audit_events.remote_address
    assert row["client_ip"] == client_ip(ip)
    assert (row["client_ip"] is None) == (reason in ("empty", "invalid"))
    assert row["is_found"] is False
    assert row["not_found_reason"] == reason
    assert row["city"] is None and row["country_code"] is None and row["latitude"] is None


def test_none_and_non_strings_do_not_crash(geo: GeoDatabase) -> None:
    rows = geo.lookup_many([None, 1234], NOW, "b")  # type: ignore[list-item]
    assert [(r["ip"], r["client_ip"], r["not_found_reason"]) for r in rows] == [
        (None, None, "empty"),
        (1234, None, "invalid"),
    ]


def test_ip_keeps_its_original_string_and_surrounding_space_is_ignored(geo: GeoDatabase) -> None:
    padded, mapped = lookup(geo, " 81.2.69.160\n"), lookup(geo, "::ffff:81.2.69.160")
    assert padded["ip"] == " 81.2.69.160\n"
    assert mapped["ip"] == "::ffff:81.2.69.160"
    assert padded["client_ip"] == mapped["client_ip"] == "81.2.69.160"
    assert padded["city"] == mapped["city"] == "Willesden"


def test_public_ip_outside_every_network_is_not_in_database(geo: GeoDatabase) -> None:
    # 2018 GeoLite2 has no record for this unused but global IPv6 address.
    row = lookup(geo, "2c0f:ffff::1")
    assert (row["is_found"], row["not_found_reason"]) == (False, "not_in_database")


def test_one_row_per_input_in_order_including_repeats(geo: GeoDatabase) -> None:
    ips = ["81.2.69.160", "", "81.2.69.160", "10.0.0.1", "89.160.20.112"]
    rows = geo.lookup_many(iter(ips), NOW, "b")
    assert [r["ip"] for r in rows] == ips
    assert rows[0] == rows[2]
    assert rows[0] is not rows[2]


def test_random_ipv4_match_geoip2_field_by_field(geo: GeoDatabase, reference: geoip2.database.Reader) -> None:
    rnd = random.Random(20180703)
    ips = [".".join(str(rnd.randrange(256)) for _ in range(4)) for _ in range(3000)]
    ips += [str(ipaddress.IPv6Address((0x2 << 124) | rnd.getrandbits(124))) for _ in range(300)]
    rows = geo.lookup_many(ips, NOW, "b")
    found = 0
    for ip, row in zip(ips, rows, strict=True):
        assert row["client_ip"] == ip
        reason, _ = classify(ip)
        if reason is not None:
            assert row["not_found_reason"] == reason, ip
            continue
        expected = expected_from_geoip2(reference, ip)
        if expected is None:
            assert row["not_found_reason"] == "not_in_database", ip
        else:
            found += 1
            assert row["is_found"] is True, ip
            assert {k: row[k] for k in expected} == expected, ip
    assert found > 2000


def test_fast_path_ranges_are_public_for_ipaddress() -> None:
    # lookup_many skips `ipaddress` for dotted quads outside a few first octets; every one of
    # those must be a public address by classify()'s own rules.
    from descope_sync.remote_address import SPECIAL_FIRST_OCTETS

    rnd = random.Random(5)
    for first in set(range(256)) - SPECIAL_FIRST_OCTETS:
        samples = [f"{first}.0.0.0", f"{first}.255.255.255"]
        samples += [f"{first}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(256)}" for _ in range(50)]
        for ip in samples:
            assert classify(ip)[0] is None, ip


def test_missing_database_is_a_config_error_naming_path_and_env(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "GeoLite2-City.mmdb"
    with pytest.raises(ConfigError) as err:
        GeoDatabase.open(missing)
    assert str(missing) in str(err.value)
    assert "GEOIP_DATABASE" in str(err.value)


def test_unreadable_database_is_a_config_error(tmp_path: Path) -> None:
    bogus = tmp_path / "GeoLite2-City.mmdb"
    bogus.write_bytes(b"not a maxmind database" * 100)
    with pytest.raises(ConfigError, match="GEOIP_DATABASE") as err:
        GeoDatabase.open(bogus)
    assert str(bogus) in str(err.value)
    with pytest.raises(ConfigError, match="GEOIP_DATABASE"):
        GeoDatabase.open(tmp_path)  # a directory


def test_database_that_is_not_a_city_one_is_a_config_error(tmp_path: Path) -> None:
    country = tmp_path / "GeoLite2-Country.mmdb"
    data = default_database_path().read_bytes()
    country.write_bytes(data.replace(b"GeoLite2-City", b"GeoLite2-Ctry"))
    with pytest.raises(ConfigError, match="not a City one") as err:
        GeoDatabase.open(country)
    assert "GEOIP_DATABASE" in str(err.value)


@pytest.mark.parametrize(
    ("remote_address", "expected"),
    [
        # one address
        ("81.2.69.160", "81.2.69.160"),
        ("  81.2.69.160\t", "81.2.69.160"),
        ("10.0.0.1", "10.0.0.1"),
        ("2001:db8::1", "2001:db8::1"),  # colons, but no port
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),  # canonical text
        ("::1", "::1"),
        ("::", "::"),
        ("::ffff:81.2.69.160", "81.2.69.160"),  # IPv4-mapped: its IPv4
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("fe80::1%eth0", "fe80::1"),  # zone id dropped
        # with a port
        ("1.2.3.4:443", "1.2.3.4"),
        (" 1.2.3.4 : 443 ", "1.2.3.4"),
        ("1.2.3.4:0", "1.2.3.4"),
        ("1.2.3.4:65535", "1.2.3.4"),
        ("1.2.3.4:65536", None),
        ("1.2.3.4:", None),
        ("1.2.3.4:http", None),
        ("1.2.3.4:44 3", None),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[fe80::1%eth0]:8080", "fe80::1"),
        ("[::ffff:81.2.69.160]:443", "81.2.69.160"),
        ("[2001:db8::1]:", None),
        ("[2001:db8::1]443", None),
        ("[2001:db8::1:443", None),
        ("2001:db8::1:443", "2001:db8::1:443"),  # unbracketed: all of it is the address
        # forwarded-for lists: the first public address, else the first that parses
        ("8.8.8.8, 10.0.0.1", "8.8.8.8"),
        ("10.0.0.1, 8.8.8.8", "8.8.8.8"),
        ("10.0.0.1,8.8.8.8,81.2.69.160", "8.8.8.8"),
        ("192.168.1.1, 10.0.0.1", "192.168.1.1"),
        ("unknown, 10.0.0.1", "10.0.0.1"),
        ("garbage, 1.2.3, 8.8.8.8:53", "8.8.8.8"),
        ("127.0.0.1, 224.0.0.1, 100.64.0.1, 240.0.0.1", "127.0.0.1"),  # multicast is not public
        ("::1, [2001:4860:4860::8888]:443", "2001:4860:4860::8888"),
        ("198.51.100.7, 10.0.0.1", "198.51.100.7"),  # documentation range: not public, but first
        (", 8.8.8.8,", "8.8.8.8"),
        (", ".join(["10.0.0.1"] * 200 + ["garbage"] * 200 + ["8.8.4.4"]), "8.8.4.4"),
        # nothing
        ("", None),
        ("   ", None),
        (",", None),
        (" , , ", None),
        ("unknown", None),
        ("garbage", None),
        ("1.2.3", None),
        ("1.2.3.4.5", None),
        ("256.1.1.1", None),
        ("01.2.3.4", None),
        ("1.2.3.4 5.6.7.8", None),
        ("\u0661.\u0662.\u0663.\u0664", None),
        ("::1::", None),
        ("[]:443", None),
        (":443", None),
        (None, None),
    ],
)
def test_client_ip_finds_the_client_address_in_a_remote_address(
    remote_address: str | None, expected: str | None
) -> None:
    assert client_ip(remote_address) == expected


def test_client_ip_of_a_non_string_is_none() -> None:
    assert client_ip(1234) is None  # type: ignore[arg-type]
    assert client_ip(b"1.2.3.4") is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("remote_address", "client", "city", "reason"),
    [
        ("81.2.69.160:443", "81.2.69.160", "Willesden", None),
        ("81.2.69.160, 10.0.0.1", "81.2.69.160", "Willesden", None),
        ("10.0.0.1, 81.2.69.160", "81.2.69.160", "Willesden", None),
        ("unknown, 89.160.20.112:8080", "89.160.20.112", "Stockholm", None),
        ("[2001:4860:4860::8888]:443", "2001:4860:4860::8888", "Mountain View", None),
        ("[::ffff:81.2.69.160]:443", "81.2.69.160", "Willesden", None),
        ("203.0.113.0:1, 10.0.0.1", "203.0.113.0", None, "private"),  # TEST-NET-3: special first octet
        ("10.0.0.1:443", "10.0.0.1", None, "private"),
        ("10.0.0.1, 192.168.0.1", "10.0.0.1", None, "private"),
        ("240.0.0.1:80", "240.0.0.1", None, "reserved"),
        ("[2c0f:ffff::1]:443", "2c0f:ffff::1", None, "not_in_database"),
        ("unknown, 1.2.3", None, None, "invalid"),
        (" , ", None, None, "empty"),
    ],
)
def test_lookup_uses_the_client_ip_and_keeps_the_raw_address(
    geo: GeoDatabase, remote_address: str, client: str | None, city: str | None, reason: str | None
) -> None:
    row = lookup(geo, remote_address)
    assert row["ip"] == remote_address  # the raw value: the join key to audit_events.remote_address
    assert row["client_ip"] == client
    assert (row["city"], row["not_found_reason"], row["is_found"]) == (city, reason, reason is None)
    if client is not None and reason is None:
        plain = lookup(geo, client)
        assert {k: v for k, v in row.items() if k != "ip"} == {k: v for k, v in plain.items() if k != "ip"}


def test_special_first_octet_public_ipv4_match_geoip2(geo: GeoDatabase, reference: geoip2.database.Reader) -> None:
    # Public addresses whose first octet is in _SPECIAL_FIRST_OCTETS leave the fast path; with a
    # port they go through client_ip() and then the same tree walk.
    for ip in ("100.1.2.3", "172.217.3.3", "192.0.3.1", "198.20.1.1", "203.1.1.1", "169.1.1.1"):
        assert classify(ip)[0] is None, ip
        for text in (ip, f"{ip}:443", f"10.0.0.1, {ip}"):
            row = lookup(geo, text)
            assert row["client_ip"] == ip
            expected = expected_from_geoip2(reference, ip)
            if expected is None:
                assert row["not_found_reason"] == "not_in_database", text
            else:
                assert {k: row[k] for k in expected} == expected, text
