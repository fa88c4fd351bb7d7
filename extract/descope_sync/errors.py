"""Errors a user can act on: the CLI prints their message as one line and exits non-zero."""


class SyncError(Exception):
    """An expected failure with a message that says what to do."""


class ConfigError(SyncError):
    """Configuration is missing or invalid."""


class DescopeAuthError(SyncError):
    """Descope rejected the credentials."""


class DescopeRequestError(SyncError):
    """Descope answered a request with an error that retrying will not fix, or it could not be sent."""


class DescopeUnreachable(SyncError):
    """Descope's host cannot be reached at all (DNS, refused, TLS): every stream would fail the same way."""


class DescopeUnavailableError(SyncError):
    """Descope kept failing (5xx, connection errors, malformed or unproved answers) after every retry."""


class MalformedAnswer(Exception):
    """A 200 answer that is not what the endpoint promises (wrong shape, or contradicting what is known).

    Raised by the answer parsers; the client retries it like a 5xx and finally raises
    `DescopeUnavailableError`, so nothing built on the answer is ever committed.
    """


class UnprovedRead(SyncError):
    """A stream could not prove it read everything in an interval (e.g. a dense second past the offset cap)."""


class WarehouseReadOnly(SyncError):
    """The warehouse cannot be written (a read-only file or directory)."""


class WarehouseLocked(SyncError):
    """Another process holds the warehouse (a concurrent run, or a DuckDB client with the file open)."""


class BudgetExhausted(SyncError):
    """The run's time budget ran out; progress so far is committed."""
