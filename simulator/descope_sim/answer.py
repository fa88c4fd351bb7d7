"""How a 200 search answer's body is put together: the dialect's top-level shape, then an answer fault.

Items arrive pre-serialized, so an answer is a byte join. ``omit_empty`` drops the list key
when the list is empty and ``total`` when it is 0 (an empty answer is ``{}``). Answer faults
(per endpoint family, see :data:`ANSWER_FAULTS`) then bend the shape the way a broken or
changed API might.
"""

from __future__ import annotations

ANSWER_FAULTS = ("empty_object", "missing_total", "string_total", "missing_list", "bad_list")
# Faults that answer an error instead of the 200 (api.Endpoint applies them):
# ``echo_key``: 400 ``E011001`` whose ``errorMessage`` quotes the management key the request sent.
ERROR_FAULTS = ("echo_key",)
FAULT_FAMILIES = ("user_search", "audit_search")


def check_fault(family: str, fault: str | None) -> None:
    if family not in FAULT_FAMILIES:
        raise ValueError(f"unknown endpoint family {family!r}; families: {', '.join(FAULT_FAMILIES)}")
    if fault is not None and fault not in ANSWER_FAULTS + ERROR_FAULTS:
        raise ValueError(f"unknown answer fault {fault!r}; faults: {', '.join(ANSWER_FAULTS + ERROR_FAULTS)}")


def answer(list_key: str, items: list[bytes], total: int, *, omit_empty: bool, fault: str | None = None) -> bytes:
    """``{"<list_key>": [...], "total": N}`` in the dialect's shape, bent by ``fault``.

    - ``empty_object``: ``{}`` whatever the data.
    - ``missing_total``: no ``total``. ``string_total``: ``total`` as a JSON string (when the
      dialect emits it).
    - ``missing_list``: no list key. ``bad_list``: the list key holds an object
      ``{"0": item, "1": item, ...}`` (when the dialect emits it).
    """
    if fault == "empty_object":
        return b"{}"
    parts: list[bytes] = []
    if fault != "missing_list" and not (omit_empty and not items):
        if fault == "bad_list":
            body = b"{" + b",".join(b'"%d":' % i + item for i, item in enumerate(items)) + b"}"
        else:
            body = b"[" + b",".join(items) + b"]"
        parts.append(b'"' + list_key.encode() + b'":' + body)
    if fault != "missing_total" and not (omit_empty and total == 0):
        number = str(total).encode()
        parts.append(b'"total":' + (b'"' + number + b'"' if fault == "string_total" else number))
    return b"{" + b",".join(parts) + b"}"
