"""The live users the warehouse holds: one SQL text for both writers, the rule of dbt's `users` mart.

Distinct landed users (extracted at or after a time: the start of the latest accepted sweep, so
that the users it did not read no longer count) less those a deletion event names: a single
deletion's `userId` (contract.SINGLE_USER_DELETION_ACTIONS); a bulk deletion's `userId` and every
JSON string anywhere in its `data` and `externalIds` but its `actorId`
(contract.BULK_USER_DELETION_ACTIONS). dbt's `int_users_deleted` says the same
(tests/bigquery/test_live_users_rule.py holds them equal on both engines). The engines differ only in
how JSON is read and an array unnested; each spelling is the one dbt's macros (macros/json.sql) use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from descope_sync.contract import BULK_USER_DELETION_ACTIONS, USER_DELETION_ACTIONS

Engine = Literal["duckdb", "bigquery"]
_ACTION = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True)
class _Spelling:
    json_text: str  # a payload member's JSON text, `{member}` its name
    json_string: str  # a payload member's scalar text (null for an object or array)
    string_literals: str  # every JSON string inside `{text}`, as an array of their insides
    unnest: str  # a from-clause item: `{array}` as rows of one column `candidate`


_SPELLINGS: dict[Engine, _Spelling] = {
    "duckdb": _Spelling(
        json_text="cast(json_extract(payload, '$.{member}') as varchar)",
        json_string=(
            "case when json_type(payload, '$.{member}') not in ('OBJECT', 'ARRAY') "
            "then json_extract_string(payload, '$.{member}') end"
        ),
        string_literals="""regexp_extract_all({text}, '"((?:[^"\\\\]|\\\\.)*)"', 1)""",
        unnest="cross join unnest({array}) as candidate_rows (candidate)",
    ),
    "bigquery": _Spelling(
        json_text="to_json_string(payload['{member}'])",
        json_string="json_value(payload, '$.{member}')",
        # BigQuery wants a constant regexp: a raw string literal
        string_literals="""regexp_extract_all({text}, r'"((?:[^"\\\\]|\\\\.)*)"')""",
        unnest="cross join unnest({array}) as candidate",
    ),
}


def _literals(actions: tuple[str, ...]) -> str:
    for action in actions:
        if not _ACTION.fullmatch(action):
            raise ValueError(f"not an audit action name: {action!r}")
    return ", ".join(f"'{action}'" for action in actions)


def live_users_sql(engine: Engine, users: str, audit_events: str, since: str | None) -> str:
    """A query answering one row, one column: the live users. `users` and `audit_events` are the
    landing tables' quoted names; `since` the query parameter of the earliest extraction that counts
    (None: every landed user)."""
    spell = _SPELLINGS[engine]
    payload_strings = spell.string_literals.format(
        text=(
            f"coalesce({spell.json_text.format(member='data')}, '') || ' ' || "
            f"coalesce({spell.json_text.format(member='externalIds')}, '')"
        )
    )
    return f"""
        with deletions as (
            select
                nullif(user_id, '') as user_id,
                action,
                {spell.json_string.format(member="actorId")} as actor_id,
                {payload_strings} as payload_strings
            from {audit_events}
            where action in ({_literals(USER_DELETION_ACTIONS)})
        ),
        deleted as (
            select user_id from deletions where user_id is not null
            union all
            select candidate as user_id
            from deletions
            {spell.unnest.format(array="deletions.payload_strings")}
            where
                deletions.action in ({_literals(BULK_USER_DELETION_ACTIONS)})
                and (deletions.actor_id is null or candidate != deletions.actor_id)
        ),
        seen as (
            select distinct user_id from {users}
            {f"where _extracted_at >= {since}" if since is not None else ""}
        )
        select count(*) as live from seen
        where not exists (select 1 from deleted where deleted.user_id = seen.user_id)
    """
