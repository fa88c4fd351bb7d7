"""`descope-sync report`: one self-contained HTML file of the activity and attribution marts.

The page holds everything it shows: charts are inline SVG (descope_sync.svg_charts), styles are
inline, and its Content-Security-Policy forbids every request, so it opens the same offline, from
a mail attachment or a file share. It reads the marts of dbt_project/marts/activity (and
user_attribution when GA4 is configured) from DuckDB or BigQuery.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from html import escape
from pathlib import Path
from typing import Any

from descope_sync.config import Settings
from descope_sync.errors import ConfigError
from descope_sync.svg_charts import bar_chart, column_chart, line_chart

# The first line of every report: a file without it is not one of ours and is never overwritten.
MARKER = "<!-- descope-sync report -->"
MARTS_DATASET_ENV = "DESCOPE_MARTS_DATASET"
DEFAULT_MARTS_DATASET = "descope_data_v2"
CSP = "default-src 'none'; style-src 'unsafe-inline'"
SIGNUP_DAYS = 90  # the signups chart's days
COUNTRY_ROWS = 15  # the countries table's rows before "other countries"

Query = Callable[[str], list[dict[str, Any]]]


def duckdb_query(path: Path, dataset: str) -> Query:
    import duckdb

    if not path.is_file():
        raise ConfigError(f"no warehouse at {path}: run descope-sync demo or extract first, or set DUCKDB_PATH")

    def query(mart: str) -> list[dict[str, Any]]:
        # only selects; the default configuration, the one dbt-duckdb may still hold open in-process
        con = duckdb.connect(str(path))
        try:
            cursor = con.execute(f'select * from "{dataset}"."{mart}"')
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        finally:
            con.close()

    return query


def bigquery_query(settings: Settings, dataset: str, env: Mapping[str, str]) -> Query:
    from descope_sync.landing.bigquery import emulator_endpoint, make_client

    if not settings.bigquery_project:
        raise ConfigError("BigQuery target: set GCP_PROJECT (or GOOGLE_CLOUD_PROJECT)")
    emulator = (env.get("BIGQUERY_EMULATOR_HOST") or "").strip()
    client = make_client(
        settings.bigquery_project, settings.bigquery_location, emulator_endpoint(emulator) if emulator else None
    )

    def query(mart: str) -> list[dict[str, Any]]:
        rows = client.query(f"select * from `{settings.bigquery_project}.{dataset}.{mart}`").result()
        return [dict(row.items()) for row in rows]

    return query


def open_query(settings: Settings, env: Mapping[str, str] | None = None) -> Query:
    env = os.environ if env is None else env
    dataset = (env.get(MARTS_DATASET_ENV) or "").strip() or DEFAULT_MARTS_DATASET
    if settings.warehouse == "bigquery":
        return bigquery_query(settings, dataset, env)
    return duckdb_query(settings.duckdb_path, dataset)


@dataclass
class Section:
    title: str
    html: str
    note: str = ""


def _day(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value


def _by_day(rows: list[dict[str, Any]], column: str = "activity_date") -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: _day(row[column]))


def _ranked(totals: Mapping[str, float], top: int = 12) -> list[tuple[str, float]]:
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:top]


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def build_sections(query: Query) -> list[Section]:
    users = _by_day(query("users_daily"))
    active = _by_day(query("active_users_daily"))
    outcomes = _by_day(query("login_outcomes_daily"))
    countries = query("logins_by_country_daily")
    methods = query("logins_by_method_daily")
    retention = query("signup_cohort_retention")
    attribution = query("user_attribution")
    sections = []

    # users over time and active users, on the days either covers
    days = sorted({_day(r["activity_date"]) for r in users} | {_day(r["activity_date"]) for r in active})
    total, last = {}, 0
    user_rows = {_day(r["activity_date"]): r for r in users}
    for d in days:
        last = user_rows[d]["total_users"] if d in user_rows else last
        total[d] = last
    active_rows = {_day(r["activity_date"]): r for r in active}
    first_active = min(active_rows, default=None)
    shown = [d for d in days if first_active is not None and d >= first_active] or days
    series = {"users": [float(total[d]) for d in shown]}
    for column, label in (
        ("monthly_active_users", "monthly active"),
        ("weekly_active_users", "weekly active"),
        ("daily_active_users", "daily active"),
    ):
        series[label] = [float(active_rows[d][column]) if d in active_rows else 0.0 for d in shown]
    sections.append(
        Section(
            "Users and active users",
            line_chart("users-and-active-users", "Users and active users", shown, series),
            "Users: created minus deleted through the day. Active: at least one successful login in the "
            "day, the 7 days or the 30 days ending on it (UTC).",
        )
    )
    recent_signups = users[-SIGNUP_DAYS:]
    sections.append(
        Section(
            "Signups per day",
            column_chart(
                "signups",
                "Signups per day",
                [_day(r["activity_date"]) for r in recent_signups],
                [r["new_users"] for r in recent_signups],
            ),
            f"Users Descope created that UTC day (the last {SIGNUP_DAYS} days), deleted since or not.",
        )
    )
    sections.append(
        Section(
            "Login success rate",
            line_chart(
                "login-success-rate",
                "Login success rate",
                [_day(r["activity_date"]) for r in outcomes],
                {"success rate": [float(r["login_success_rate"]) for r in outcomes]},
                percent=True,
            ),
            "LoginSucceed / (LoginSucceed + LoginFailed) audit events per UTC day.",
        )
    )
    logins_by_country: dict[str, float] = defaultdict(float)
    users_by_country: dict[str, float] = defaultdict(float)
    names: dict[str, str] = {}
    for r in countries:
        code = r["country_code"] or "??"
        logins_by_country[code] += r["logins"]
        users_by_country[code] += r["unique_users"]
        names[code] = r["country_name"] or "not located"
    ranked = _ranked(logins_by_country, top=len(logins_by_country))
    sections.append(
        Section(
            "Login countries",
            bar_chart("login-countries", "Logins by country", [(f"{names[c]} ({c})", v) for c, v in ranked[:12]])
            + _table(
                ["Country", "Code", "Logins", "User-days"],
                [[names[c], c, f"{v:,.0f}", f"{users_by_country[c]:,.0f}"] for c, v in ranked[:COUNTRY_ROWS]]
                + (
                    [
                        [
                            f"{len(ranked) - COUNTRY_ROWS} other countries",
                            "",
                            f"{sum(v for _, v in ranked[COUNTRY_ROWS:]):,.0f}",
                            f"{sum(users_by_country[c] for c, _ in ranked[COUNTRY_ROWS:]):,.0f}",
                        ]
                    ]
                    if len(ranked) > COUNTRY_ROWS
                    else []
                ),
            ),
            "Successful logins by the MaxMind country of the client IP, all days.",
        )
    )
    by_method: dict[str, float] = defaultdict(float)
    for r in methods:
        by_method[r["method"] or "(none)"] += r["logins"]
    sections.append(
        Section(
            "Authentication methods",
            bar_chart("auth-methods", "Logins by method", _ranked(by_method)),
            "Successful logins by the audit event's method, all days.",
        )
    )
    cohorts: dict[date, dict[int, dict[str, Any]]] = defaultdict(dict)
    for r in retention:
        cohorts[_day(r["cohort_week"])][int(r["weeks_since_signup"])] = r
    recent = sorted(cohorts)[-8:]
    width = max((max(cohorts[c]) for c in recent), default=-1) + 1
    sections.append(
        Section(
            "Signup cohorts: return in later weeks",
            _table(
                ["Cohort (week of)", "Users"] + [f"Week {n}" for n in range(min(width, 8))],
                [
                    [c.isoformat(), cohorts[c][0]["cohort_users"]]
                    + [
                        f"{float(cohorts[c][n]['retention_rate']):.0%}" if n in cohorts[c] else ""
                        for n in range(min(width, 8))
                    ]
                    for c in recent
                ],
            ),
            "Share of a week's signups with a successful login in their week N after signup (week 0 "
            "includes the signup day).",
        )
    )
    attributed = [r for r in attribution if r["is_ga4_attributed"]]
    if attributed:
        by_source: dict[str, float] = defaultdict(float)
        for r in attributed:
            by_source[f"{r['first_touch_source']} / {r['first_touch_medium']}"] += 1
        sections.append(
            Section(
                "First-touch attribution (GA4)",
                bar_chart("attribution", "Users by first-touch source / medium", _ranked(by_source)),
                f"{len(attributed):,} of {len(attribution):,} users seen by GA4 under their userId; the "
                "earliest touch across every device that carried it.",
            )
        )
    else:
        note = "GA4 attribution is off (dbt var ga4_dataset is empty)." if not attribution else "No user seen."
        sections.append(Section("First-touch attribution (GA4)", f'<p class="muted">{escape(note)}</p>'))
    return sections


STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:780px;color:#111}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
.muted,.note{color:#666;font-size:.85rem}.tick,.legend{font-size:11px;fill:#444}
table{border-collapse:collapse;margin-top:.5rem;font-size:.85rem}
th,td{border-bottom:1px solid #ddd;padding:.2rem .6rem;text-align:right}th:first-child,td:first-child{text-align:left}
"""


def render(sections: list[Section], generated_at: datetime) -> str:
    parts = [
        MARKER,
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        "<title>Descope users report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Descope users report</h1>",
        f'<p class="muted">Generated {generated_at:%Y-%m-%d %H:%M} UTC by descope-sync from the dbt marts.</p>',
    ]
    for s in sections:
        parts.append(f"<section><h2>{escape(s.title)}</h2>{s.html}")
        if s.note:
            parts.append(f'<p class="note">{escape(s.note)}</p>')
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(query: Query, output: Path, now: datetime | None = None) -> Path:
    """Writes the report to `output` and returns its absolute path. An existing file is replaced
    only when it is an earlier report (its first line is MARKER)."""
    if output.exists():
        with open(output, "rb") as existing:
            head = existing.read(len(MARKER.encode()))
        if not output.is_file() or head != MARKER.encode():
            raise ConfigError(f"{output} exists and is not a descope-sync report: choose another --output")
    html = render(build_sections(query), now or datetime.now(UTC))
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(output)
    return output.resolve()
