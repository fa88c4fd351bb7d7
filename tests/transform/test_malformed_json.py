"""Malformed JSON in a landed payload reads the same way on every engine (docs/design.md, "Reading JSON").

A Descope field of the wrong JSON type is read by one rule, written out in macros/json.sql
instead of left to each engine's casts:
- a boolean field is true for JSON `true` or a string 'true' in any case, false for JSON `false` or
  a string 'false' in any case, and otherwise null (so false in the marts): never for '1', 't',
  'yes', '', 0 or 1 (DuckDB's cast reads those as booleans, BigQuery's SAFE_CAST does not);
- a string field holds a JSON string's text, a number's or boolean's literal, and null for an
  object, an array or JSON null (DuckDB's json_extract_string returns their JSON text, BigQuery's
  JSON_VALUE null);
- an epoch time is an integer literal (a JSON integer or a string holding one) in range, else null.
The payloads are shared with tests/bigquery/test_malformed_json_parity.py, which compares the
marts the same landing gives on DuckDB and on the BigQuery emulator.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from descope_sync.transform import run_dbt
from tests.transform.conftest import NOW, Landing, event, query, user

EXTRACTED = NOW - timedelta(hours=1)
LOGGED_IN = EXTRACTED - timedelta(minutes=30)
BOOLEAN_FIELDS = {  # Descope's name -> the users mart's column
    "verifiedEmail": "verified_email",
    "verifiedPhone": "verified_phone",
    "test": "test",
    "TOTP": "totp",
    "SAML": "saml",
    "webauthn": "webauthn",
    "password": "password",
    "editable": "editable",
    "SCIM": "scim",
    "push": "push",
}
STRING_FIELDS = {
    "name": "display_name",
    "givenName": "given_name",
    "middleName": "middle_name",
    "familyName": "family_name",
    "email": "email",
    "phone": "phone",
    "picture": "picture",
}
# (label, JSON value, what a boolean field reads in the users mart)
BOOLEANS = [
    ("json-true", True, True),
    ("json-false", False, False),
    ("string-true", "true", True),
    ("string-TRUE", "TRUE", True),
    ("string-True", "True", True),
    ("string-false", "false", False),
    ("string-FALSE", "FALSE", False),
    ("string-1", "1", False),
    ("string-0", "0", False),
    ("string-t", "t", False),
    ("string-yes", "yes", False),
    ("string-empty", "", False),
    ("string-padded", " true", False),
    ("number-1", 1, False),
    ("number-0", 0, False),
    ("null", None, False),
    ("object", {"value": True}, False),
    ("array", [True], False),
]
# (label, JSON value, what a string field reads)
STRINGS = [
    ("string", "Ada", "Ada"),
    ("string-empty", "", ""),
    ("integer", 42, "42"),
    ("fraction", 1.5, "1.5"),
    ("boolean", True, "true"),
    ("object", {"first": "Ada"}, None),
    ("array", ["Ada"], None),
    ("empty-object", {}, None),
    ("null", None, None),
]
# (label, JSON value of createdTime, the users mart's created_time)
EPOCH = datetime(2023, 11, 14, 22, 13, 20)
TIMES = [
    ("integer", 1_700_000_000, EPOCH),
    ("string-integer", "1700000000", EPOCH),
    ("negative", -5, None),
    ("absurd", 99_999_999_999_999, None),
    ("fraction", 1_700_000_000.5, None),
    ("string-fraction", "1700000000.5", None),
    ("string-exponent", "1.7e9", None),
    ("string-hex", "0x1A", None),
    ("string-padded", " 1700000000", None),
    ("boolean", True, None),
    ("object", {"seconds": 1_700_000_000}, None),
    ("array", [1_700_000_000], None),
    ("null", None, None),
]


def malformed_users() -> list[dict[str, Any]]:
    """One user per odd value: every boolean field holding it, every string field, or createdTime."""
    users = [user(f"U-bool-{label}", **dict.fromkeys(BOOLEAN_FIELDS, value)) for label, value, _ in BOOLEANS]
    users += [user(f"U-str-{label}", **dict.fromkeys(STRING_FIELDS, value)) for label, value, _ in STRINGS]
    users += [user(f"U-time-{label}", createdTime=value) for label, value, _ in TIMES]
    users.append(user("U-login-ids", loginIds=[{"id": "x"}, "second"]))
    return users


def malformed_events(at: datetime) -> list[dict[str, Any]]:
    """Logins whose string fields hold other JSON types (user_logins reads method, device, tenant)."""
    events = []
    for n, (label, value, _) in enumerate(STRINGS):
        fields = {"device": value, "geo": value, "tenants": [value]}
        events.append(event(f"login-{label}", "LoginSucceed", f"U-str-{label}", at - timedelta(minutes=n), **fields))
    return events


def land(landing: Landing) -> None:
    landing.users(*malformed_users(), extracted_at=EXTRACTED)
    landing.events(*malformed_events(LOGGED_IN), extracted_at=EXTRACTED)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("malformed") / "warehouse.duckdb"
    land(Landing(db))
    outcome = run_dbt("run", target="local", duckdb_path=db)
    assert outcome.success, outcome.failures
    return db


def mart(db: Path, columns: str, prefix: str) -> dict[str, tuple]:
    rows = query(db, f"select user_id, {columns} from descope_data_v2.users where user_id like '{prefix}%'")
    return {r[0].removeprefix(prefix): r[1:] for r in rows}


@pytest.mark.parametrize(("label", "value", "expected"), BOOLEANS, ids=[b[0] for b in BOOLEANS])
def test_a_boolean_field_is_true_only_for_true(warehouse: Path, label: str, value: Any, expected: bool) -> None:
    read = mart(warehouse, ", ".join(BOOLEAN_FIELDS.values()), "U-bool-")
    assert read[label] == (expected,) * len(BOOLEAN_FIELDS), f"{value!r} read as {read[label]}"


@pytest.mark.parametrize(("label", "value", "expected"), STRINGS, ids=[s[0] for s in STRINGS])
def test_a_string_field_holds_scalars_only(warehouse: Path, label: str, value: Any, expected: str | None) -> None:
    read = mart(warehouse, ", ".join(STRING_FIELDS.values()), "U-str-")
    assert read[label] == (expected,) * len(STRING_FIELDS), f"{value!r} read as {read[label]}"
    logins = query(
        warehouse, f"select device, tenant_id from descope_data_v2.user_logins where event_id = 'login-{label}'"
    )
    assert logins == [(expected, expected)]


@pytest.mark.parametrize(("label", "value", "expected"), TIMES, ids=[t[0] for t in TIMES])
def test_an_epoch_time_is_an_integer_literal(
    warehouse: Path, label: str, value: Any, expected: datetime | None
) -> None:
    assert mart(warehouse, "created_time", "U-time-")[label] == (expected,), repr(value)


def test_a_login_id_that_is_not_a_string_names_no_one(warehouse: Path) -> None:
    """users_clean names a user without a name or email by the first login ID: an object is none."""
    rows = query(warehouse, "select display_name from descope_data_v2.users_clean where user_id = 'U-login-ids'")
    assert rows == [(None,)]
