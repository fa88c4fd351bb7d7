"""Which reading of Descope's API the simulator plays, where Descope's own sources disagree.

A :class:`Dialect` is held by the :class:`~.world.World` (some points change generated data and
pre-serialized objects) and read by the searches (:mod:`.users_search`, :mod:`.audit_search`) for
query semantics. The default is the reading ``docs/descope-api.md`` calls documented;
:meth:`Dialect.alternate` flips every point.
This module also holds the pure helpers that turn a dialect's filter reading into the plain
bounds the stores search with (inclusive seconds for users, ``[from, to)`` ms for audit).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

# field -> (documented value, alternate value)
_CHOICES: dict[str, tuple[Any, Any]] = {
    "audit_from": ("inclusive", "exclusive"),
    "audit_to": ("exclusive", "inclusive"),
    "audit_oldest_first": ("honoured", "ignored"),
    "audit_page": ("honoured", "ignored"),
    "audit_size": ("honoured", "ignored"),
    "omit_empty": (False, True),
    "user_time_unit": ("ms", "s"),
    "user_from": ("exclusive", "inclusive"),
    "user_to": ("inclusive", "exclusive"),
    "login_flow_done": ("none", "paired"),
}
# The audit points a server honouring only what the official SDKs send plays.
SDK_ONLY = {"audit_oldest_first": "ignored", "audit_page": "ignored", "audit_size": "ignored"}
PRESETS = ("documented", "alternate", "sdk_only")
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class Dialect:
    """One reading of every point where Descope's sources disagree (defaults: documented).

    - ``audit_from`` / ``audit_to``: is the audit-search bound (epoch ms, against ``occurred``)
      ``"inclusive"`` or ``"exclusive"``.
    - ``audit_oldest_first``: ``"honoured"``, or ``"ignored"`` (always newest first).
    - ``audit_page``: ``"honoured"``, or ``"ignored"`` (every answer is page 0).
    - ``audit_size``: ``"honoured"``, or ``"ignored"`` (every answer holds up to 1000 events).
    - ``omit_empty``: protobuf-style JSON: fields holding ``false``, ``0``, ``""``, ``[]`` or ``{}``
      are omitted, recursively, in users, events and at the top level of an answer.
    - ``user_time_unit``: ``"ms"`` or ``"s"``, the unit of the user-search time filters.
    - ``user_from`` / ``user_to``: inclusivity of the user-search time filters.
    - ``login_flow_done``: ``"none"``, or ``"paired"`` (each successful login also logs a
      ``LoginFlowDone`` a few ms later, with its own ID).
    """

    audit_from: str = "inclusive"
    audit_to: str = "exclusive"
    audit_oldest_first: str = "honoured"
    audit_page: str = "honoured"
    audit_size: str = "honoured"
    omit_empty: bool = False
    user_time_unit: str = "ms"
    user_from: str = "exclusive"
    user_to: str = "inclusive"
    login_flow_done: str = "none"

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if name == "omit_empty":
                if not isinstance(value, bool):
                    raise ValueError(f"dialect omit_empty must be true or false, not {value!r}")
            elif value not in allowed:
                raise ValueError(f"dialect {name} must be one of {', '.join(allowed)}, not {value!r}")

    @classmethod
    def documented(cls) -> Dialect:
        """The reading ``docs/descope-api.md`` calls documented (every default)."""
        return cls()

    @classmethod
    def alternate(cls) -> Dialect:
        """Every point flipped."""
        return cls(**{name: alternate for name, (_, alternate) in _CHOICES.items()})

    @classmethod
    def sdk_only(cls) -> Dialect:
        """A server that honours only what the official SDKs send (``from``, ``to``, ``actions``): it ignores
        ``page``, ``size`` and ``oldestFirst`` and answers every audit search with the newest 1000 events of
        the range and its ``total``. Every other point as documented."""
        return cls(**SDK_ONLY)

    @classmethod
    def parse(cls, text: str) -> Dialect:
        """``"documented"``, ``"alternate"``, ``"sdk_only"``, or ``"key=value,..."`` overrides.

        Overrides apply on top of documented, or on top of a preset named first
        (``"alternate,omit_empty=false"``). Unknown keys or values raise ``ValueError``.
        """
        items = [item.strip() for item in text.split(",")] if text and text.strip() else []
        if not items or not all(items):
            raise ValueError(f"empty dialect {text!r}: use documented, alternate or key=value,...")
        base = cls.documented()
        if "=" not in items[0]:
            preset = items.pop(0).lower()
            if preset in _CHOICES:
                raise ValueError(f"dialect item {preset!r} is not key=value")
            if preset not in PRESETS:
                raise ValueError(f"unknown dialect preset {preset!r}: use {', '.join(PRESETS)}")
            base = getattr(cls, preset)()
        overrides: dict[str, Any] = {}
        for item in items:
            key, sep, value = (part.strip() for part in item.partition("="))
            if not sep:
                raise ValueError(f"dialect item {item!r} is not key=value")
            if key not in _CHOICES:
                raise ValueError(f"unknown dialect key {key!r}; keys: {', '.join(_CHOICES)}")
            if key == "omit_empty":
                if value.lower() not in _TRUE | _FALSE:
                    raise ValueError(f"dialect omit_empty must be true or false, not {value!r}")
                overrides[key] = value.lower() in _TRUE
            else:
                overrides[key] = value
        return dataclasses.replace(base, **overrides)

    def describe(self) -> str:
        """A preset's name, or the ``key=value`` overrides on top of documented."""
        for preset in PRESETS:
            if self == getattr(Dialect, preset)():
                return preset
        changed = [f.name for f in dataclasses.fields(self) if getattr(self, f.name) != f.default]
        return ",".join(f"{name}={str(getattr(self, name)).lower()}" for name in changed)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    # ------------------------------------------------------------------ query semantics
    def user_bounds(self, from_value: int | None, to_value: int | None) -> tuple[int | None, int | None]:
        """A user-search ``from*``/``to*`` filter pair as inclusive bounds on second-valued times.

        ``None`` (the server maps 0, null and absent to it) means no bound on that side.
        """
        lo = hi = None
        if from_value is not None:
            if self.user_time_unit == "s":
                lo = from_value + (1 if self.user_from == "exclusive" else 0)
            else:  # ms against seconds * 1000
                lo = from_value // 1000 + 1 if self.user_from == "exclusive" else -(-from_value // 1000)
        if to_value is not None:
            if self.user_time_unit == "s":
                hi = to_value - (1 if self.user_to == "exclusive" else 0)
            else:
                hi = to_value // 1000 if self.user_to == "inclusive" else -(-to_value // 1000) - 1
        return lo, hi

    def audit_bounds(self, from_ms: int, to_ms: int) -> tuple[int, int]:
        """An audit-search ``from``/``to`` pair as a half-open ``[from, to)`` range of ``occurred`` ms."""
        return (
            from_ms + (1 if self.audit_from == "exclusive" else 0),
            to_ms + (1 if self.audit_to == "inclusive" else 0),
        )


def _is_empty(value: Any) -> bool:
    # bool is an int: `False == 0` covers both; never drop a float NaN or a non-empty container
    return value is None or value is False or (type(value) in (int, float) and value == 0) or value in ("", [], {})


def strip_empty(value: Any) -> Any:
    """``value`` with every dict field holding ``false``, ``0``, ``""``, ``[]`` or ``{}`` dropped, recursively.

    A field whose value only becomes empty once stripped (``{"a": {"b": 0}}``) is dropped too,
    as protobuf would not emit it. List items are kept (protobuf repeated fields keep zeros).
    """
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = strip_empty(item)
            if not _is_empty(item):
                out[key] = item
        return out
    if isinstance(value, list):
        return [strip_empty(item) for item in value]
    return value
