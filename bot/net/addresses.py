"""Which addresses the bot may connect to when it downloads something a URL names.

Only public unicast addresses are allowed: loopback, private, shared (CGNAT), link-local,
multicast, unspecified, reserved and documentation ranges are refused, and so is an IPv6
address that embeds a refused IPv4 one (IPv4-mapped, 6to4, Teredo). The one exception is
the configured provider's own host, named by an :class:`AllowList` of ``host[:port]``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from yarl import URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def _public(address: IPAddress) -> bool:
    return (address.is_global and not address.is_multicast and not address.is_reserved
            and not address.is_unspecified and not address.is_loopback
            and not address.is_link_local)


def is_public_address(address: str | IPAddress) -> bool:
    """True for a public unicast address (and, in IPv6, one that embeds no other kind)."""
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str)
                                      else address)
    except ValueError:
        return False
    if isinstance(parsed, ipaddress.IPv6Address):
        embedded = [parsed.ipv4_mapped, parsed.sixtofour]
        if parsed.teredo is not None:
            embedded.extend(parsed.teredo)
        if any(v4 is not None and not _public(v4) for v4 in embedded):
            return False
    return _public(parsed)


@dataclass(frozen=True, slots=True)
class AllowList:
    """``host:port`` pairs the bot may reach whatever their address (the provider's own)."""

    entries: frozenset[tuple[str, int]] = frozenset()

    @classmethod
    def of(cls, items: Iterable[str]) -> AllowList:
        """Return the allow list of the given hosts and ports.

        From base URLs (``http://127.0.0.1:8787``) or ``host[:port]`` strings; a missing
        port means the default ports (80 and 443). Empty items are skipped.
        """
        entries: set[tuple[str, int]] = set()
        for item in items:
            text = item.strip()
            if not text:
                continue
            url = URL(text if "://" in text else f"http://{text}")
            host = (url.host or "").lower()
            if not host:
                raise ValueError(f"not a host or URL: {item!r}")
            if url.explicit_port is not None:
                entries.add((host, url.explicit_port))
            elif "://" in text:
                entries.add((host, DEFAULT_PORTS.get(url.scheme, 443)))
            else:
                entries.update((host, port) for port in DEFAULT_PORTS.values())
        return cls(frozenset(entries))

    def allows(self, url: URL) -> bool:
        """Whether ``url``'s host and port are on the list."""
        host = (url.host or "").lower()
        port = url.port or DEFAULT_PORTS.get(url.scheme, 0)
        return (host, port) in self.entries

    def __bool__(self) -> bool:
        return bool(self.entries)
