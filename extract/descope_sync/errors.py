"""Errors a user can act on: the CLI prints their message as one line and exits non-zero."""


class SyncError(Exception):
    """An expected failure with a message that says what to do."""


class ConfigError(SyncError):
    """Configuration is missing or invalid."""


class DescopeAuthError(SyncError):
    """Descope rejected the credentials."""


class DescopeRequestError(SyncError):
    """Descope answered a request with an error that retrying will not fix."""


class DescopeUnavailableError(SyncError):
    """Descope kept failing (5xx, connection errors, malformed bodies) after every retry."""


class BudgetExhausted(SyncError):
    """The run's time budget ran out; progress so far is committed."""
