"""The one way the bot downloads something a URL names (result images, past results).

- Only ``http`` and ``https``, no credentials in the URL.
- Redirects are followed by hand, at most ``max_redirects``, and every hop is checked again.
- Every connection goes through a socket factory that refuses non-public addresses
  (:func:`bot.net.addresses.is_public_address`) *after* DNS resolution, whatever the URL
  said: a host name that resolves to 127.0.0.1, an IP literal, a redirect to a private
  address, or a second DNS answer all meet the same check, at connect time.
- The configured provider's own hosts (an :class:`AllowList`) are exempt, as long as the
  chain of hops started there: a redirect from elsewhere does not earn the exemption.
- The body is streamed with a cap on its decoded size (:func:`bot.net.bodies.read_capped`),
  and the whole download has one deadline.

Failures raise :class:`FetchFailed`, whose text is a detail for the log only (status, host,
address): what users are shown is the one generic :data:`FETCH_FAILED`.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import aiohttp
from aiohttp.abc import AbstractResolver
from yarl import URL

from bot.i18n import N_
from bot.net.addresses import AllowList, is_public_address
from bot.net.bodies import ACCEPT_ENCODING, BodyError, read_capped

log = logging.getLogger(__name__)

#: English here; shown as ``_(FETCH_FAILED)`` in the reader's language.
FETCH_FAILED: Final = N_("I could not fetch the image.")
REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
USER_AGENT: Final = "ideogram-discord-bot/0.1"


#: What aiohttp hands a ``socket_factory``: one entry of ``getaddrinfo``.
AddrInfo: TypeAlias = tuple[int, int, int, str, tuple[Any, ...]]


class FetchFailed(Exception):
    """A download was refused or failed. ``str`` is for the log; users see FETCH_FAILED."""


class AddressRefused(OSError):
    """A connection to a non-public address was refused before it was made."""


def guarded_socket(addr_info: AddrInfo) -> socket.socket:
    """Aiohttp's ``socket_factory``: a socket only for a public destination address."""
    family, kind, proto, _, address = addr_info
    host = str(address[0]) if isinstance(address, tuple) and address else ""
    if not is_public_address(host):
        raise AddressRefused(errno.EACCES, f"refused to connect to non-public address {host}")
    return socket.socket(family=family, type=kind, proto=proto)


@dataclass(frozen=True, slots=True)
class Download:
    """A finished download: its bytes, content type and final URL."""

    data: bytes
    content_type: str
    url: str  # after redirects


def _web_url(text: str) -> URL:
    try:
        url = URL(text)
    except (ValueError, TypeError):
        raise FetchFailed("not a valid URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise FetchFailed(f"not an http(s) URL (scheme {url.scheme[:10]!r})")
    if url.user is not None or url.password is not None:
        raise FetchFailed("URL carries credentials")
    return url


class SafeFetcher:
    """Downloads from the world through guarded sessions, and from providers directly.

    Owns two aiohttp sessions: a guarded one for the world, a plain one for the
    allow-listed provider hosts. Created lazily on the running loop; close with
    :meth:`aclose`.
    """

    def __init__(self, *, allow: AllowList | None = None, max_redirects: int = 5,
                 connect_timeout: float = 10.0, read_timeout: float = 30.0,
                 resolver: AbstractResolver | None = None) -> None:
        self.allow = allow or AllowList()
        self.max_redirects = max_redirects
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout,
                                              sock_read=read_timeout)
        self._resolver = resolver
        self._guarded: aiohttp.ClientSession | None = None
        self._trusted: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"<SafeFetcher allow={sorted(self.allow.entries)!r}>"

    def _session(self, *, trusted: bool) -> aiohttp.ClientSession:
        current = self._trusted if trusted else self._guarded
        if current is not None and not current.closed:
            return current
        connector = aiohttp.TCPConnector(
            limit=20, resolver=self._resolver,
            socket_factory=None if trusted else guarded_socket)
        session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(), trust_env=False,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": ACCEPT_ENCODING})
        if trusted:
            self._trusted = session
        else:
            self._guarded = session
        return session

    async def fetch(self, url: str, *, max_bytes: int, deadline: float = 60.0) -> Download:
        """GET ``url`` under every rule above, or raise :class:`FetchFailed`."""
        current = _web_url(url)
        trusted_chain = True
        try:
            async with asyncio.timeout(deadline):
                for _ in range(self.max_redirects + 1):
                    trusted = trusted_chain and self.allow.allows(current)
                    trusted_chain = trusted
                    session = self._session(trusted=trusted)
                    async with session.get(current, allow_redirects=False) as response:
                        if response.status in REDIRECTS:
                            location = response.headers.get("Location", "")
                            try:
                                following = current.join(URL(location))
                            except (ValueError, TypeError):
                                raise FetchFailed("redirect to an invalid URL") from None
                            current = _web_url(str(following))
                            continue
                        if response.status != 200:
                            raise FetchFailed(f"HTTP {response.status} from {current.host}")
                        data = await read_capped(response, max_bytes)
                        return Download(data, response.headers.get("Content-Type", ""),
                                        str(current))
                raise FetchFailed(f"more than {self.max_redirects} redirects")
        except TimeoutError:
            raise FetchFailed(f"no complete answer within {deadline:g} s "
                              f"({current.host})") from None
        except BodyError as exc:
            raise FetchFailed(f"{exc} ({current.host})") from None
        except aiohttp.ClientConnectorError as exc:
            raise FetchFailed(f"cannot connect to {current.host}:{current.port}: "
                              f"{exc.os_error}"[:300]) from None
        except (aiohttp.ClientError, OSError) as exc:
            # Not the exception's text: aiohttp's quotes the whole URL, and a signed link's
            # query (Discord's ex/is/hm, a provider's temporary result URL) is a credential.
            raise FetchFailed(f"{type(exc).__name__} ({current.host})") from None

    async def aclose(self) -> None:
        """Close the HTTP sessions (a new download opens them again)."""
        for session in (self._guarded, self._trusted):
            if session is not None and not session.closed:
                await session.close()
        self._guarded = self._trusted = None
