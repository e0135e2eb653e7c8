"""The client's address, for per-address limits: the peer, or what a trusted proxy says it is.

Behind a proxy every request comes from the proxy's address. ``X-Forwarded-For``
lists the hops a request passed (``client, proxy1, proxy2``), each appended by
the hop that received it, so only the entries added by proxies we trust can be
believed: walk the list from the right while the address is a trusted proxy;
the first untrusted one is the client. Anything unparsable counts as untrusted.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=64)
def parse_networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    """``TRUSTED_PROXIES`` as networks (the settings validated them already)."""
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _trusted(address: str, networks: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(peer: str | None, forwarded_for: str | None, trusted_proxies: tuple[str, ...]) -> str:
    """The address the limits count against.

    Args:
        peer: the TCP peer's address.
        forwarded_for: the ``X-Forwarded-For`` header, if any.
        trusted_proxies: CIDRs of the proxies whose header is believed.
    """
    address = (peer or "unknown").strip()
    if not trusted_proxies or not forwarded_for:
        return address
    networks = parse_networks(trusted_proxies)
    if not _trusted(address, networks):
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        address = hop[:64]
        if not _trusted(hop, networks):
            break
    return address


def via_trusted_https(peer: str | None, scheme: str, forwarded_proto: str | None,
                      trusted_proxies: tuple[str, ...]) -> bool:
    """Whether the request came over HTTPS, directly or as a trusted proxy says."""
    if scheme == "https":
        return True
    if not forwarded_proto or not trusted_proxies:
        return False
    return _trusted(peer or "", parse_networks(trusted_proxies)) and \
        forwarded_proto.split(",")[0].strip().lower() == "https"
