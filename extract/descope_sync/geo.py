"""IP geolocation against a MaxMind City database: `lookup_many` turns `remoteAddress` strings into
`ip_locations` rows, one per input (docs/design.md, "ip_locations")."""

from __future__ import annotations

import importlib.util
import ipaddress
import mmap
import os
import socket
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geoip2.database
import maxminddb

from descope_sync.errors import ConfigError
from descope_sync.landing.base import LANDING_TABLES
from descope_sync.remote_address import SPECIAL_FIRST_OCTETS, Address, client_address, is_blank, skip_reason

DATABASE_ENV = "GEOIP_DATABASE"
_DEFAULT_PACKAGE = "_maxminddb_geolite2"  # ships with the PyPI package maxminddb-geolite2 (2018)
_DEFAULT_FILE = "GeoLite2-City.mmdb"

COLUMNS: tuple[str, ...] = tuple(c.name for c in LANDING_TABLES["ip_locations"])
_LOCATION_FIELDS = (
    "city",
    "region",
    "region_code",
    "country_code",
    "country_name",
    "continent_code",
    "latitude",
    "longitude",
    "accuracy_radius_km",
    "time_zone",
)
NOT_FOUND_REASONS = ("empty", "invalid", "private", "reserved", "not_in_database")


# Decoded records kept between calls, by data-section offset. A City database has a few hundred
# thousand distinct records; past this many the cache starts over (memory stays bounded).
_RECORD_CACHE_LIMIT = 200_000


def default_database_path() -> Path:
    """The GeoLite2-City.mmdb bundled in `maxminddb-geolite2` (found without importing it)."""
    spec = importlib.util.find_spec(_DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "no GeoIP database: install maxminddb-geolite2 or set "
            f"{DATABASE_ENV} to a GeoLite2-City.mmdb / GeoIP2-City.mmdb file"
        )
    return Path(next(iter(spec.submodule_search_locations))) / _DEFAULT_FILE


class GeoDatabase:
    """An open MaxMind City database; `open()` it, `lookup_many()`, `close()`."""

    def __init__(
        self, path: Path, database_type: str, database_built_at: datetime, reader: Any, tree: mmap.mmap
    ) -> None:
        self.path = path
        self._database_type = database_type
        self._database_built_at = database_built_at
        self._reader = reader  # maxminddb C reader (MODE_MMAP_EXT) when available
        self._tree = tree
        meta = reader.metadata()
        self._node_count: int = meta.node_count
        self._read_node = _node_reader(tree, meta.record_size)
        self._ipv4_start = self._find_ipv4_start(meta.ip_version)
        self._prefix16: dict[int, int] = {}  # top 16 bits of an IPv4 -> tree node (or record) there
        self._records: dict[int, tuple[Any, ...] | None] = {}

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None) -> GeoDatabase:
        """Open `path` (None: the bundled GeoLite2 City database); ConfigError when unusable."""
        db_path = Path(path) if path is not None else default_database_path()
        hint = f"set {DATABASE_ENV} to a readable GeoLite2-City.mmdb or GeoIP2-City.mmdb"
        if not db_path.is_file():
            raise ConfigError(f"GeoIP database {db_path} does not exist or is not a file; {hint}")
        try:
            with geoip2.database.Reader(str(db_path)) as check:
                meta = check.metadata()
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            raise ConfigError(f"GeoIP database {db_path} cannot be read ({exc}); {hint}") from exc
        if "City" not in meta.database_type:
            raise ConfigError(f"GeoIP database {db_path} is a {meta.database_type} database, not a City one; {hint}")
        if meta.record_size not in (24, 28, 32):
            raise ConfigError(f"GeoIP database {db_path} has record size {meta.record_size}; {hint}")
        built_at = datetime.fromtimestamp(meta.build_epoch, UTC).replace(tzinfo=None)
        reader: Any = None
        fh = None
        try:
            try:
                reader = maxminddb.open_database(str(db_path), maxminddb.MODE_MMAP_EXT)
            except (ImportError, ValueError):  # no C extension in this build: pure Python reader
                reader = maxminddb.open_database(str(db_path), maxminddb.MODE_AUTO)
            fh = db_path.open("rb")
            tree = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            if reader is not None:
                reader.close()
            raise ConfigError(f"GeoIP database {db_path} cannot be read ({exc}); {hint}") from exc
        finally:
            if fh is not None:
                fh.close()  # the mmap keeps its own handle
        return cls(db_path, meta.database_type, built_at, reader, tree)

    @property
    def database_type(self) -> str:
        return self._database_type

    @property
    def database_built_at(self) -> datetime:
        """When MaxMind built the file (metadata build_epoch), naive UTC."""
        return self._database_built_at

    def lookup_many(self, ips: Iterable[str], looked_up_at: datetime, batch_id: str) -> list[dict[str, Any]]:
        """One `ip_locations` row per input, in input order.

        `ip` is the input string unchanged (the raw `remoteAddress`, the join key); `client_ip`
        is `client_ip(ip)`, the address looked up; `not_found_reason` is `empty` for a blank input
        and `invalid` when no address parses.
        """
        common = {
            "database_type": self._database_type,
            "database_built_at": self._database_built_at,
            "_looked_up_at": looked_up_at,
            "_batch_id": batch_id,
        }
        not_found = {reason: _row(common, None, reason) for reason in NOT_FOUND_REASONS}
        found: dict[int, dict[str, Any]] = {}  # record offset -> row template, for this call
        records = self._records
        if len(records) > _RECORD_CACHE_LIMIT:
            records.clear()
        inet_pton, af_inet = socket.inet_pton, socket.AF_INET
        special, walk, node_count = SPECIAL_FIRST_OCTETS, self._walk_ipv4, self._node_count
        rows: list[dict[str, Any]] = []
        append = rows.append
        for ip in ips:
            try:
                # Fast path: a plain public dotted quad (inet_pton is as strict as ipaddress:
                # four decimal octets, no leading zeros, no spaces), its own client IP.
                packed = inet_pton(af_inet, ip)
            except (OSError, TypeError, ValueError):
                packed = None
            if packed is not None and packed[0] not in special:
                client = ip
            else:
                # Anything else: find the client's address (a port, a list, spaces), classify it.
                if packed is not None:  # a plain dotted quad in a range that may not be public
                    addr: Address | None = ipaddress.IPv4Address(packed)
                else:
                    addr = client_address(ip)
                if addr is None:
                    row = not_found["empty" if is_blank(ip) else "invalid"].copy()
                    row["ip"] = ip
                    append(row)
                    continue
                client = str(addr)
                reason = skip_reason(addr)
                if reason is not None or addr.version == 6:
                    if reason is not None:
                        row = not_found[reason].copy()
                    else:
                        location = self._lookup_slow(addr)
                        row = (
                            _row(common, location, None)
                            if location is not None
                            else not_found["not_in_database"].copy()
                        )
                    row["ip"] = ip
                    row["client_ip"] = client
                    append(row)
                    continue
                packed = addr.packed  # a public IPv4 address: the tree walk below
            pointer = walk(int.from_bytes(packed, "big"))
            if pointer == node_count:
                template = not_found["not_in_database"]
            else:
                template = found.get(pointer)
                if template is None:
                    if pointer in records:
                        location = records[pointer]
                    else:
                        location = records[pointer] = _location(self._reader.get(client))
                    template = found[pointer] = (
                        _row(common, location, None) if location is not None else not_found["not_in_database"]
                    )
            row = template.copy()
            row["ip"] = ip
            row["client_ip"] = client
            append(row)
        return rows

    def _lookup_slow(self, addr: Address) -> tuple | None:
        try:
            return _location(self._reader.get(addr))
        except ValueError:  # an IPv6 address in an IPv4-only database
            return None

    def _find_ipv4_start(self, ip_version: int) -> int:
        if ip_version != 6:
            return 0
        node = 0
        for _ in range(96):
            if node >= self._node_count:
                break
            node = self._read_node(node, 0)
        return node

    def _walk_ipv4(self, n: int) -> int:
        """The search tree's answer for IPv4 `n`: a data pointer, or node_count for no record."""
        node_count, read_node = self._node_count, self._read_node
        top = n >> 16
        node = self._prefix16.get(top)
        if node is None:
            node = self._ipv4_start
            bit = 15
            while bit >= 0 and node < node_count:
                node = read_node(node, (top >> bit) & 1)
                bit -= 1
            self._prefix16[top] = node
        bit = 15
        while bit >= 0 and node < node_count:
            node = read_node(node, (n >> bit) & 1)
            bit -= 1
        if node < node_count:
            raise maxminddb.InvalidDatabaseError(f"invalid node in the search tree of {self.path}")
        return node

    def close(self) -> None:
        self._reader.close()
        self._tree.close()

    def __enter__(self) -> GeoDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _node_reader(buf: mmap.mmap, record_size: int) -> Callable[[int, int], int]:
    """read(node, bit) -> the node's left (0) or right (1) record, per the MaxMind DB spec."""
    if record_size == 24:

        def read24(node: int, bit: int) -> int:
            offset = node * 6 + bit * 3
            return int.from_bytes(buf[offset : offset + 3], "big")

        return read24
    if record_size == 28:

        def read28(node: int, bit: int) -> int:
            base = node * 7
            if bit:
                return int.from_bytes(buf[base + 3 : base + 7], "big") & 0x0FFFFFFF
            record = int.from_bytes(buf[base : base + 4], "big")
            return (record >> 8) | ((record & 0xF0) << 20)

        return read28

    def read32(node: int, bit: int) -> int:
        offset = node * 8 + bit * 4
        return int.from_bytes(buf[offset : offset + 4], "big")

    return read32


def _location(record: dict[str, Any] | None) -> tuple[Any, ...] | None:
    """The landing fields of a City record, in `_LOCATION_FIELDS` order (None: no record)."""
    if record is None:
        return None
    city = record.get("city") or {}
    country = record.get("country") or {}
    continent = record.get("continent") or {}
    location = record.get("location") or {}
    subdivisions = record.get("subdivisions") or [{}]
    region = subdivisions[0]
    return (
        (city.get("names") or {}).get("en"),
        (region.get("names") or {}).get("en"),
        region.get("iso_code"),
        country.get("iso_code"),
        (country.get("names") or {}).get("en"),
        continent.get("code"),
        location.get("latitude"),
        location.get("longitude"),
        location.get("accuracy_radius"),
        location.get("time_zone"),
    )


def _row(common: dict[str, Any], location: tuple[Any, ...] | None, reason: str | None) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    if location is not None:
        row.update(zip(_LOCATION_FIELDS, location, strict=True))
    row["is_found"] = location is not None
    row["not_found_reason"] = reason
    row.update(common)
    return row
