"""A GA4-shaped export in a DuckDB schema, for the demo and the tests of the attribution models.

GA4's BigQuery export is a dataset of daily shards ``events_YYYYMMDD`` and today's
``events_intraday_YYYYMMDD``, one row per event with nested records (``traffic_source``,
``collected_traffic_source``) and repeated ``event_params``. This writes the same shape (the
columns the models read, and a few more) for a set of Descope user ids, and says what the
attribution of each must be:

- the first user visits from two devices before logging in (a search on one, a newsletter on the
  other a day later), logs in on the second, later on the first: their first touch is the first
  device's;
- one visitor never logs in (their device never carries a user_id);
- the last user is never seen by GA4;
- everyone else: one device, one source, a login a few hours after the first visit; a few of them
  first visit today (the intraday table).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

DEFAULT_DATASET = "ga4_demo"

# (source, medium, campaign): GA4's traffic_source {source, medium, name}
SOURCES = (
    ("google", "organic", "(organic)"),
    ("newsletter", "email", "spring_launch"),
    ("(direct)", "(none)", "(direct)"),
    ("linkedin", "cpc", "q4_ads"),
    ("github.com", "referral", "(referral)"),
)
PAGES = ("https://example.com/", "https://example.com/pricing", "https://example.com/docs/start")

EVENTS_DDL = """
    event_date varchar,
    event_timestamp bigint,
    event_name varchar,
    event_params struct(
        key varchar,
        value struct(string_value varchar, int_value bigint, float_value double, double_value double)
    )[],
    user_id varchar,
    user_pseudo_id varchar,
    user_first_touch_timestamp bigint,
    traffic_source struct(name varchar, medium varchar, source varchar),
    collected_traffic_source struct(
        manual_campaign_name varchar, manual_source varchar, manual_medium varchar, gclid varchar
    ),
    platform varchar,
    stream_id varchar
"""


@dataclass(frozen=True)
class Touch:
    """What a user's first touch must be."""

    user_pseudo_id: str
    first_seen_at: datetime  # naive UTC
    source: str
    medium: str
    campaign: str
    landing_page: str


@dataclass
class Ga4Fixture:
    """Events for `user_ids`, the first `days` days before `today` and today (intraday)."""

    user_ids: Sequence[str]
    today: date
    seed: int = 7
    days: int = 7
    events: list[dict] = field(default_factory=list)
    expected: dict[str, Touch] = field(default_factory=dict)  # user_id -> first touch
    devices: dict[str, set[str]] = field(default_factory=dict)  # user_id -> user_pseudo_ids
    two_device_user: str = ""
    anonymous_device: str = ""
    unseen_user: str = ""

    def __post_init__(self) -> None:
        users = sorted(self.user_ids)
        if len(users) < 3:
            raise ValueError("the GA4 fixture needs at least three users")
        rng = random.Random(self.seed)
        start = datetime(self.today.year, self.today.month, self.today.day) - timedelta(days=self.days)
        self.two_device_user, self.unseen_user = users[0], users[-1]

        # two devices before logging in; the earlier one is the first touch
        phone, laptop = self._device(rng), self._device(rng)
        first = start + timedelta(hours=9)
        self._visit(phone, first, SOURCES[0], PAGES[1])
        self._visit(laptop, first + timedelta(days=1), SOURCES[1], PAGES[0])
        self._visit(laptop, first + timedelta(days=2), SOURCES[1], PAGES[2], user_id=self.two_device_user)
        self._visit(phone, first + timedelta(days=3), SOURCES[0], PAGES[0], user_id=self.two_device_user)
        self.expected[self.two_device_user] = Touch(phone, first, *SOURCES[0], PAGES[1])
        self.devices[self.two_device_user] = {phone, laptop}

        # a visitor who never logs in
        self.anonymous_device = self._device(rng)
        self._visit(self.anonymous_device, start + timedelta(hours=5), SOURCES[3], PAGES[1])

        span = int(
            (datetime(self.today.year, self.today.month, self.today.day) + timedelta(hours=18) - start).total_seconds()
        )
        for user_id in users[1:-1]:
            device, source, page = self._device(rng), rng.choice(SOURCES), rng.choice(PAGES)
            at = start + timedelta(seconds=rng.randrange(span))
            self._visit(device, at, source, page)
            self._visit(device, at + timedelta(minutes=rng.randrange(1, 240)), source, PAGES[2], user_id=user_id)
            self.expected[user_id] = Touch(device, at, *source, page)
            self.devices[user_id] = {device}

    def late_visit(self, since: date, until: date) -> str:
        """An event GA4 exports late (after its day's shard was first written): a visit an hour before
        the first visit of a user whose first visit fell between `since` and `until`, from another
        source; that visit becomes the user's first touch. Returns the user's id."""
        for user_id, touch in sorted(self.expected.items()):
            if since <= touch.first_seen_at.date() <= until and touch.first_seen_at.hour >= 1:
                source = next(s for s in SOURCES if s != (touch.source, touch.medium, touch.campaign))
                earlier = touch.first_seen_at - timedelta(hours=1)
                self._visit(touch.user_pseudo_id, earlier, source, PAGES[0])
                self.expected[user_id] = Touch(touch.user_pseudo_id, earlier, *source, PAGES[0])
                return user_id
        raise ValueError(f"no user's first visit between {since} and {until}")

    @staticmethod
    def _device(rng: random.Random) -> str:
        return f"{rng.randrange(10**9, 10**10)}.{rng.randrange(1_600_000_000, 1_700_000_000)}"

    def _visit(
        self, device: str, at: datetime, source: tuple[str, str, str], page: str, user_id: str | None = None
    ) -> None:
        """A session: session_start then page_view (a second later), both on `page`."""
        first_touch = min((e["event_timestamp"] for e in self.events if e["user_pseudo_id"] == device), default=None)
        for offset, name in ((0, "session_start"), (1, "page_view")):
            when = at + timedelta(seconds=offset)
            micros = int(when.replace(tzinfo=UTC).timestamp()) * 1_000_000 + offset * 137
            self.events.append(
                {
                    "event_date": when.strftime("%Y%m%d"),
                    "event_timestamp": micros,
                    "event_name": name,
                    "event_params": [
                        _param("page_location", page),
                        _param("ga_session_id", None, int(at.timestamp())),
                        _param("source", source[0]),
                        _param("medium", source[1]),
                        _param("campaign", source[2]),
                    ],
                    "user_id": user_id,
                    "user_pseudo_id": device,
                    "user_first_touch_timestamp": first_touch or micros,
                    # GA4's first user acquisition of the device: the same on all its events
                    "traffic_source": None,
                    "collected_traffic_source": {
                        "manual_campaign_name": source[2],
                        "manual_source": source[0],
                        "manual_medium": source[1],
                        "gclid": None,
                    },
                    "platform": "WEB",
                    "stream_id": "1234567890",
                    "_source": source,
                }
            )

    def rows(self) -> Iterable[dict]:
        """Every event as GA4 exports it (the columns of EVENTS_DDL)."""
        acquisition: dict[str, tuple[int, tuple[str, str, str]]] = {}
        for e in self.events:
            seen = acquisition.get(e["user_pseudo_id"])
            if seen is None or e["event_timestamp"] < seen[0]:
                acquisition[e["user_pseudo_id"]] = (e["event_timestamp"], e["_source"])
        for e in self.events:
            source, medium, campaign = acquisition[e["user_pseudo_id"]][1]
            row = {k: v for k, v in e.items() if k != "_source"}
            row["traffic_source"] = {"name": campaign, "medium": medium, "source": source}
            yield row

    def tables(self, through: date | None = None) -> dict[str, list[dict]]:
        """The export's tables holding the days up to `through` (default: every day): table name ->
        rows; today's events are in the intraday table."""
        through = through or self.today
        by_table: dict[str, list[dict]] = {}
        for row in self.rows():
            day = datetime.strptime(row["event_date"], "%Y%m%d").date()
            if day > through:
                continue
            name = f"events_intraday_{row['event_date']}" if day == self.today else f"events_{row['event_date']}"
            by_table.setdefault(name, []).append(row)
        return by_table

    def write(self, duckdb_path: Path, dataset: str = DEFAULT_DATASET, through: date | None = None) -> list[str]:
        """(Re)writes the shards of the days up to `through` (default: every day; today's events go
        to the intraday table, unless `through` is before today) into schema `dataset`; returns
        the table names written."""
        by_table = self.tables(through)
        columns = [line.split()[0] for line in _top_level_columns(EVENTS_DDL)]
        con = duckdb.connect(str(duckdb_path))
        try:
            con.execute(f'create schema if not exists "{dataset}"')
            for name, rows in sorted(by_table.items()):
                con.execute(f'create or replace table "{dataset}"."{name}" ({EVENTS_DDL})')
                placeholders = ", ".join("?" for _ in columns)
                con.executemany(
                    f'insert into "{dataset}"."{name}" values ({placeholders})',
                    [[row[c] for c in columns] for row in sorted(rows, key=lambda r: r["event_timestamp"])],
                )
            con.execute("checkpoint")
        finally:
            con.close()
        return sorted(by_table)


def _param(key: str, string_value: str | None, int_value: int | None = None) -> dict:
    return {
        "key": key,
        "value": {"string_value": string_value, "int_value": int_value, "float_value": None, "double_value": None},
    }


def _top_level_columns(ddl: str) -> list[str]:
    """The column definitions of a DDL column list (commas inside parentheses do not split)."""
    parts, depth, current = [], 0, ""
    for ch in ddl:
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        current += ch
    parts.append(current.strip())
    return [p for p in parts if p]


def write_demo_export(duckdb_path: Path, dataset: str = DEFAULT_DATASET) -> Ga4Fixture:
    """The fixture for the users landed in `duckdb_path` (descope_raw.users), written beside them."""
    con = duckdb.connect(str(duckdb_path))
    try:
        user_ids = [row[0] for row in con.execute("select distinct user_id from descope_raw.users").fetchall()]
    finally:
        con.close()
    fixture = Ga4Fixture(user_ids, datetime.now(UTC).date())
    fixture.write(duckdb_path, dataset)
    return fixture
