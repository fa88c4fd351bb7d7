"""descope-sync: Descope management API -> append-only landing tables -> dbt."""

__version__ = "0.1.0"
