"""Comparing the marts of two engines: one spelling per value, and differences a person can read."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

# The marts and their keys.
MARTS = {"users": "user_id", "users_clean": "user_id", "user_logins": "event_id"}
# The activity marts (dbt_project/marts/activity) and their grains: rebuilt from the marts above.
ACTIVITY_MARTS: dict[str, str | tuple[str, ...]] = {
    "active_users_daily": "activity_date",
    "users_daily": "activity_date",
    "login_outcomes_daily": "activity_date",
    "logins_by_country_daily": ("activity_date", "country_code"),
    "logins_by_method_daily": ("activity_date", "method"),
    "signup_cohort_retention": ("cohort_week", "weeks_since_signup"),
}
# users_clean columns computed from "now" at query time: equal only when both reads share a UTC day.
NOW_DEPENDENT_COLUMNS = ("days_since_signup", "days_since_last_login", "user_activity_status", "simple_status")
# When a build wrote (or staged) a row, not what the row holds: they differ between any two builds.
BUILD_STAMP_COLUMNS = ("_dbt_built_at", "_logins_staged_through")


def normalise(value: Any) -> Any:
    """One spelling per value: naive UTC timestamps, parsed JSON, floats to 9 places."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return normalise(json.loads(value))  # JSON the emulator hands back as text
        except ValueError:
            return value
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    return value


def differences(
    mart: str, key: str | tuple[str, ...], expected: list[dict], actual: list[dict], ignore: Sequence[str] = ()
) -> list[str]:
    """What differs between DuckDB's rows (expected) and BigQuery's: rows on one side only, then
    one line per differing column with how many rows differ in it and the first of them. `key` is
    a column, or the columns of a grain."""

    def key_of(row: dict) -> Any:
        return tuple(normalise(row[k]) for k in key) if isinstance(key, tuple) else row[key]

    left = {key_of(row): {k: normalise(v) for k, v in row.items()} for row in expected}
    right = {key_of(row): {k: normalise(v) for k, v in row.items()} for row in actual}
    problems = []
    if len(left) != len(expected) or len(right) != len(actual):
        problems.append(f"{mart}: {key} not unique (duckdb {len(expected)} rows, bigquery {len(actual)} rows)")
    columns_left = list(expected[0]) if expected else []
    columns_right = list(actual[0]) if actual else []
    if columns_left and columns_right and columns_left != columns_right:
        problems.append(f"{mart}: columns differ: duckdb {columns_left} vs bigquery {columns_right}")
    for side, keys in (("duckdb", left.keys() - right.keys()), ("bigquery", right.keys() - left.keys())):
        if keys:
            shown = ", ".join(map(str, sorted(keys, key=str)[:5]))
            problems.append(f"{mart}: {len(keys)} row(s) only on {side}: {key} {shown}")
    common = sorted(left.keys() & right.keys(), key=str)
    for column in columns_left:
        if column in ignore:
            continue
        differing = [k for k in common if left[k].get(column) != right[k].get(column)]
        if differing:
            k = differing[0]
            problems.append(
                f"{mart}.{column} differs on {len(differing)} of {len(common)} rows, e.g. {key}={k}: "
                f"duckdb {left[k].get(column)!r} != bigquery {right[k].get(column)!r}"
            )
    return problems
