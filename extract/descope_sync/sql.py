"""`descope-sync sql`: SQL against the local warehouse, read-only (one statement, stdin, or a small REPL)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TextIO

import duckdb

from descope_sync.errors import SyncError

PROMPT, MORE = "sql> ", "...> "
MAX_ROWS = 1000  # shown by the table view; --json prints every row


def execute(con: duckdb.DuckDBPyConnection, statement: str, out: TextIO, as_json: bool = False) -> None:
    """Run each statement of `statement` in turn and print its result: a table, or JSON objects one per row."""
    try:
        statements = [s.query for s in duckdb.extract_statements(statement)]
        for one in statements:
            relation = con.sql(one)
            if relation is None:
                print("ok", file=out)
            elif as_json:
                names = relation.columns
                for row in relation.fetchall():
                    print(json.dumps(dict(zip(names, row, strict=True)), default=_text), file=out)
            else:
                out.flush()
                relation.show(max_rows=MAX_ROWS, max_width=_width(out))  # DuckDB prints to sys.stdout itself
    except duckdb.Error as exc:
        raise SyncError(_one_line(exc)) from None


def repl(con: duckdb.DuckDBPyConnection, lines: Iterable[str], out: TextIO, interactive: bool) -> int:
    """Statements end with `;`; `.quit` (or end of input) leaves. Errors print and the REPL goes on.

    Returns how many statements failed."""
    failed = 0
    buffer: list[str] = []
    if interactive:
        print("read-only SQL on the warehouse; end statements with ';', .quit to leave", file=out)
        print(PROMPT, end="", file=out, flush=True)
    for line in lines:
        if not buffer and line.strip() in (".quit", ".exit", "\\q"):
            break
        buffer.append(line)
        text = "\n".join(buffer).strip()
        if text.endswith(";") or (not interactive and not text):
            if text.strip(";").strip():
                try:
                    execute(con, text, out)
                except SyncError as exc:
                    failed += 1
                    print(f"error: {exc}", file=out)
            buffer = []
        if interactive:
            print(MORE if buffer else PROMPT, end="", file=out, flush=True)
    text = "\n".join(buffer).strip().strip(";").strip()
    if text:  # a last statement without `;`
        try:
            execute(con, text, out)
        except SyncError as exc:
            failed += 1
            print(f"error: {exc}", file=out)
    if interactive:
        print(file=out)
    return failed


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    if "read-only mode" in text:
        return f"{text} (descope-sync sql never changes the warehouse)"
    return text


def _text(value: Any) -> str:
    return value.isoformat(sep=" ") if hasattr(value, "isoformat") else str(value)


def _width(out: TextIO) -> int:
    import shutil

    return shutil.get_terminal_size((160, 24)).columns if getattr(out, "isatty", lambda: False)() else 10_000
