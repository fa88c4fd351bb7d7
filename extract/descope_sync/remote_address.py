"""The client's address in Descope's `remoteAddress`, and whether it is looked up (docs/design.md, "ip_locations")."""

from __future__ import annotations

import ipaddress

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# First octets of every IPv4 range that `ipaddress` calls loopback, private, link-local, shared
# (100.64/10), reserved, multicast or unspecified. Dotted quads outside them are public and skip
# `ipaddress` (which costs more than the lookup itself); those inside are classified by it.
SPECIAL_FIRST_OCTETS = frozenset({0, 10, 100, 127, 169, 172, 192, 198, 203, *range(224, 256)})


def classify(ip: str | None) -> tuple[str | None, Address | None]:
    """(not_found_reason, address) of ONE address: the reason is None when it should be looked up.

    Reasons: `empty`, `invalid` (not an IP for `ipaddress`), `private` (loopback, private,
    link-local, shared/CGNAT or otherwise not global), `reserved` (unspecified, multicast,
    reserved). An IPv4-mapped IPv6 address is classified (and looked up) as its IPv4 address.
    None counts as empty, any other non-string as invalid. A port or a list is `invalid` here:
    `client_ip()` takes the address out of those first.
    """
    if ip is not None and not isinstance(ip, str):
        return "invalid", None
    text = ip.strip() if ip is not None else ""
    if not text:
        return "empty", None
    try:
        addr = _normalized(ipaddress.ip_address(text))
    except ValueError:
        return "invalid", None
    return skip_reason(addr), addr


def client_ip(remote_address: str | None) -> str | None:
    """The client's address in a `remoteAddress` as Descope sends it, or None when none parses.

    The value may be one address, an address with a port (`1.2.3.4:443`, `[2001:db8::1]:443`;
    a bare IPv6 such as `2001:db8::1` has colons but no port) or a comma-separated forwarded-for
    list (`8.8.8.8, 10.0.0.1`), with spaces around any part. The answer is the first public
    address of the list (one `classify()` would look up: not private, loopback, link-local, shared,
    reserved or multicast), else the first address that parses at all (private included), else
    None. Entries that do not parse (`unknown`, `1.2.3`, a bad port) are skipped. The address
    comes back in its canonical text: an IPv4-mapped IPv6 as its IPv4, an IPv6 compressed and
    lower-case without its zone id (`fe80::1%eth0` -> `fe80::1`).
    """
    addr = client_address(remote_address)
    return str(addr) if addr is not None else None


def client_address(remote_address: str | None) -> Address | None:
    """client_ip() as an address object."""
    if not isinstance(remote_address, str):
        return None
    first: Address | None = None
    for entry in remote_address.split(","):
        addr = _parse_entry(entry)
        if addr is None:
            continue
        if skip_reason(addr) is None:
            return addr
        if first is None:
            first = addr
    return first


def is_blank(remote_address: object) -> bool:
    """None, or a string with nothing but spaces and commas: `not_found_reason` `empty`."""
    return remote_address is None or (isinstance(remote_address, str) and not remote_address.replace(",", " ").strip())


def _parse_entry(entry: str) -> Address | None:
    """One forwarded-for entry: an address, `a.b.c.d:port` or `[v6]:port`; None when it is neither."""
    text = entry.strip()
    if not text:
        return None
    if text[0] == "[":
        end = text.find("]")
        if end < 0:
            return None
        host, rest = text[1:end], text[end + 1 :]
        if rest and not (rest[0] == ":" and _is_port(rest[1:])):
            return None
    elif text.count(":") == 1:  # IPv4 and a port: an IPv6 address has at least two colons
        host, _, port = text.partition(":")
        if not _is_port(port.strip()):
            return None
    else:
        host = text
    try:
        return _normalized(ipaddress.ip_address(host.strip()))
    except ValueError:
        return None


def _is_port(text: str) -> bool:
    return 0 < len(text) <= 5 and text.isascii() and text.isdigit() and int(text) <= 65535


def _normalized(addr: Address) -> Address:
    """An IPv4-mapped IPv6 address as its IPv4 address; an IPv6 address without its zone id."""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return addr.ipv4_mapped
        if addr.scope_id:
            return ipaddress.IPv6Address(addr.packed)
    return addr


def skip_reason(addr: Address) -> str | None:
    """Why an address is not looked up (`private`, `reserved`), or None for a public one."""
    if addr.is_loopback:
        return "private"
    if addr.is_unspecified or addr.is_multicast or addr.is_reserved:
        return "reserved"
    if addr.is_private or addr.is_link_local or not addr.is_global:
        return "private"
    return None
