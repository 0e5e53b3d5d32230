"""Reading an HTTP body with a cap on its *decoded* size.

aiohttp's own decompression is turned off (``auto_decompress=False``) wherever this is
used: the body is read in chunks and inflated here with ``max_length``, so a small
compressed answer that inflates to gigabytes (a "gzip bomb") stops at the cap instead of
filling memory. Only ``gzip``, ``deflate`` and ``identity`` are accepted; requests say so
with :data:`ACCEPT_ENCODING`.
"""

from __future__ import annotations

import zlib
from typing import Final

import aiohttp

ACCEPT_ENCODING: Final = "gzip, deflate"
_CHUNK: Final = 64 * 1024
#: zlib's "detect a zlib or gzip header" window bits.
_AUTO_HEADER: Final = 32 + zlib.MAX_WBITS


class BodyError(Exception):
    """The body could not be read within the rules; ``str`` is a detail for the log."""


class BodyTooLarge(BodyError):
    """The (decoded) body is larger than the cap."""


class _Inflater:
    def __init__(self, encoding: str) -> None:
        self._zlib = (zlib.decompressobj(_AUTO_HEADER) if encoding in ("gzip", "x-gzip",
                                                                          "deflate")
                      else None)

    def feed(self, chunk: bytes, room: int) -> bytes:
        """Decode one compressed chunk, stopping just past the size cap.

        Decode ``chunk``; at most ``room + 1`` bytes come out (one past the cap is enough
        to know it is exceeded).
        """
        if self._zlib is None:
            return chunk[: room + 1]
        if self._zlib.eof:  # trailing bytes after the stream's end are ignored
            return b""
        try:
            return self._zlib.decompress(chunk, room + 1)
        except zlib.error as exc:
            raise BodyError(f"the compressed body is corrupt ({exc})") from None

    def finish(self, room: int) -> bytes:
        if self._zlib is None:
            return b""
        try:
            rest = self._zlib.flush()
        except zlib.error as exc:
            raise BodyError(f"the compressed body is corrupt ({exc})") from None
        return rest[: room + 1]


async def read_capped(response: aiohttp.ClientResponse, cap: int) -> bytes:
    """The body of ``response``, decoded, or :class:`BodyTooLarge` past ``cap`` bytes."""
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("identity", "", "gzip", "x-gzip", "deflate"):
        raise BodyError(f"unsupported content encoding {encoding[:40]!r}")
    declared = response.content_length
    if encoding in ("identity", "") and declared is not None and declared > cap:
        raise BodyTooLarge(f"the body declares {declared} bytes, over the cap of {cap}")
    inflater = _Inflater(encoding)
    parts: list[bytes] = []
    total = received = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        received += len(chunk)
        if received > cap:
            raise BodyTooLarge(f"the body is over the cap of {cap} bytes")
        data = inflater.feed(chunk, cap - total)
        total += len(data)
        if total > cap:
            raise BodyTooLarge(f"the body is over the cap of {cap} bytes")
        parts.append(data)
    data = inflater.finish(cap - total)
    total += len(data)
    if total > cap:
        raise BodyTooLarge(f"the body is over the cap of {cap} bytes")
    parts.append(data)
    return b"".join(parts)
