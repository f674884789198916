"""The practice's own networks, where many staff and kiosk users share one public address.

Per-address limits (sign-in throttles, what an unsigned visitor can make the portal send) would
lock a whole office out after a few typos across its staff, so addresses in
`PORTAL_OFFICE_NETWORKS` (comma-separated, e.g. `203.0.113.7/32, 10.20.0.0/16`) are not counted
per address. Every other limit still holds: the limits over all addresses, each account's
lockout, and each address's or number's message limits. Empty by default: no address is exempt.
"""

from __future__ import annotations

import ipaddress
import os
from functools import lru_cache

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _parse(setting: str) -> tuple[IPNetwork, ...]:
    networks = []
    for part in setting.split(","):
        if part.strip():
            networks.append(ipaddress.ip_network(part.strip(), strict=False))
    return tuple(networks)


def networks() -> tuple[IPNetwork, ...]:
    """The office networks from the environment (a malformed entry fails loudly at first use)."""
    return _parse(os.environ.get("PORTAL_OFFICE_NETWORKS", ""))


def is_office(ip: str) -> bool:
    """Whether `ip` is one of the practice's own addresses (per-address limits do not apply)."""
    if not ip:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in networks())
