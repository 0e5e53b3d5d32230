"""Downloads go only where they should (bot/net, bot/images): public addresses after DNS
resolution, the provider's own host by name, bounded redirects, a cap on the decoded size,
one deadline, and a clean refusal for anything Pillow cannot read.

Every server here listens on 127.0.0.1; the other ranges are checked without connecting.
"""

from __future__ import annotations

import asyncio
import io
import socket
import struct
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from PIL import Image

from bot.images import IMAGE_FETCH_FAILED, MAX_PIXELS, ImageFetchError, decode_image, fetch_image
from bot.net import AllowList, FetchFailed, SafeFetcher, is_public_address
from tests.helpers import serve_on_loopback


def png(width: int = 8, height: int = 6) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A small PNG whose header claims ``width`` × ``height`` (its pixel data is short)."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data)))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(bytes(1024))) + chunk(b"IEND", b""))


def gzip_of_zeros(megabytes: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    return b"".join([*(packer.compress(zeros) for _ in range(megabytes)), packer.flush()])


class Server:
    """A tiny image server on 127.0.0.1 with the paths the tests need."""

    def __init__(self) -> None:
        self.url = ""
        self.hits: list[str] = []
        self._runner: web.AppRunner | None = None
        self.redirect_to = ""

    async def start(self) -> Server:
        app = web.Application()
        app.router.add_get("/{name}", self._handle)
        self._runner, self.url = await serve_on_loopback(app)
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.hits.append(name)
        if name == "image.png":
            return web.Response(body=png(), content_type="image/png")
        if name == "redirect":
            raise web.HTTPFound(self.redirect_to)
        if name == "loop":
            raise web.HTTPFound("/loop")
        if name == "bomb":
            return web.Response(body=gzip_of_zeros(64), content_type="image/png",
                                headers={"Content-Encoding": "gzip"})
        if name == "trickle":
            response = web.StreamResponse(headers={"Content-Type": "image/png"})
            await response.prepare(request)
            for byte in png():
                await response.write(bytes([byte]))
                await asyncio.sleep(0.05)
            return response
        if name == "bad-crc.png":
            data = bytearray(png())
            data[29] ^= 0xFF  # inside IHDR's checksum
            return web.Response(body=bytes(data), content_type="image/png")
        if name == "huge.png":
            return web.Response(body=png_header_only(9000, 8000), content_type="image/png")
        if name == "text":
            return web.Response(text="not an image")
        raise web.HTTPNotFound()


@pytest.fixture
async def provider() -> AsyncIterator[Server]:
    server = await Server().start()
    yield server
    await server.stop()


@pytest.fixture
async def elsewhere() -> AsyncIterator[Server]:
    server = await Server().start()
    yield server
    await server.stop()


@pytest.fixture
async def fetcher(provider: Server) -> AsyncIterator[SafeFetcher]:
    downloads = SafeFetcher(allow=AllowList.of([provider.url]))
    yield downloads
    await downloads.aclose()


class StaticResolver(AbstractResolver):
    """Answers every name with one address, like a DNS record pointing inside."""

    def __init__(self, address: str) -> None:
        self.address = address

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        return [{"hostname": host, "host": self.address, "port": port,
                 "family": socket.AF_INET, "proto": 0, "flags": 0}]

    async def close(self) -> None:
        return None


@pytest.mark.parametrize(("address", "public"), [
    ("8.8.8.8", True), ("2606:4700::1111", True),
    ("127.0.0.1", False), ("127.5.6.7", False), ("10.1.2.3", False), ("172.16.0.1", False),
    ("192.168.1.1", False), ("169.254.169.254", False), ("100.64.0.1", False),
    ("0.0.0.0", False), ("224.0.0.1", False), ("239.255.255.250", False),
    ("255.255.255.255", False), ("240.0.0.1", False), ("192.0.2.1", False),
    ("::1", False), ("::", False), ("fe80::1", False), ("fe80::1%eth0", False),
    ("fc00::1", False), ("ff02::1", False), ("::ffff:127.0.0.1", False),
    ("::ffff:10.0.0.1", False), ("2002:7f00:1::1", False), ("64:ff9b::7f00:1", False),
    ("2001:db8::1", False), ("not an address", False),
])
def test_only_public_unicast_addresses_pass(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_allow_list_matches_host_and_port() -> None:
    from yarl import URL

    allow = AllowList.of(["http://127.0.0.1:8787", "https://model-api.runcomfy.net", "",
                          "cdn.example:8443"])
    assert allow.allows(URL("http://127.0.0.1:8787/files/a.png"))
    assert not allow.allows(URL("http://127.0.0.1:8788/files/a.png"))
    assert allow.allows(URL("https://MODEL-API.runcomfy.net/x"))
    assert not allow.allows(URL("http://model-api.runcomfy.net/x"))  # port 80, not 443
    assert allow.allows(URL("https://cdn.example:8443/x"))


async def test_the_providers_own_host_is_fetched(fetcher: SafeFetcher,
                                                 provider: Server) -> None:
    image = await fetch_image(fetcher, f"{provider.url}/image.png")
    assert (image.format, image.width, image.height) == ("PNG", 8, 6)


async def test_a_loopback_address_that_is_not_the_provider_is_refused(
        fetcher: SafeFetcher, elsewhere: Server) -> None:
    for url in (f"{elsewhere.url}/image.png",
                f"http://localhost:{elsewhere.url.rsplit(':', 1)[1]}/image.png"):
        with pytest.raises(ImageFetchError, match="non-public address"):
            await fetch_image(fetcher, url)
    assert elsewhere.hits == []  # refused before connecting


async def test_a_name_that_resolves_inside_is_refused_after_resolution(
        elsewhere: Server) -> None:
    port = elsewhere.url.rsplit(":", 1)[1]
    downloads = SafeFetcher(resolver=StaticResolver("127.0.0.1"))
    try:
        with pytest.raises(ImageFetchError, match=r"non-public address 127\.0\.0\.1"):
            await fetch_image(downloads, f"http://images.example.com:{port}/image.png")
    finally:
        await downloads.aclose()
    assert elsewhere.hits == []


async def test_every_redirect_hop_is_checked(fetcher: SafeFetcher, provider: Server,
                                             elsewhere: Server) -> None:
    provider.redirect_to = f"{provider.url}/image.png"
    assert (await fetch_image(fetcher, f"{provider.url}/redirect")).width == 8
    provider.redirect_to = f"{elsewhere.url}/image.png"
    with pytest.raises(ImageFetchError, match="non-public address"):
        await fetch_image(fetcher, f"{provider.url}/redirect")
    provider.redirect_to = "file:///etc/passwd"
    with pytest.raises(ImageFetchError, match="not an http"):
        await fetch_image(fetcher, f"{provider.url}/redirect")
    with pytest.raises(ImageFetchError, match="more than 5 redirects"):
        await fetch_image(fetcher, f"{provider.url}/loop")
    assert elsewhere.hits == []


async def test_a_redirect_into_the_provider_earns_no_exemption(provider: Server) -> None:
    # The chain starts at a host that is not allow-listed (reached through a resolver
    # that says it is public): its redirect to the provider's host is checked like any.
    provider.redirect_to = f"{provider.url}/image.png"
    downloads = SafeFetcher(allow=AllowList.of([provider.url]))
    try:
        with pytest.raises(ImageFetchError, match="non-public address"):
            await fetch_image(downloads, f"http://localhost:{provider.url.rsplit(':', 1)[1]}"
                                         "/redirect")
    finally:
        await downloads.aclose()


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.png",
                                 "gopher://x/", "http://user:pw@example.com/a.png",
                                 "not a url", "http://[::1"])
async def test_only_plain_http_urls(fetcher: SafeFetcher, url: str) -> None:
    with pytest.raises(ImageFetchError):
        await fetch_image(fetcher, url)


async def test_the_decoded_size_is_capped(fetcher: SafeFetcher, provider: Server) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ImageFetchError, match="over the cap"):
            await fetch_image(fetcher, f"{provider.url}/bomb", max_bytes=1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024  # 64 MB inflated, never held


async def test_one_deadline_for_the_whole_download(fetcher: SafeFetcher,
                                                   provider: Server) -> None:
    started = time.monotonic()
    with pytest.raises(ImageFetchError, match=r"within 0\.3 s"):
        await fetch_image(fetcher, f"{provider.url}/trickle", time_limit=0.3)
    assert time.monotonic() - started < 1.0  # each byte came well within the read timeout


async def test_users_see_one_generic_text(fetcher: SafeFetcher, elsewhere: Server) -> None:
    with pytest.raises(ImageFetchError) as info:
        await fetch_image(fetcher, f"{elsewhere.url}/missing")
    assert info.value.user_message == IMAGE_FETCH_FAILED == "I could not fetch the image."
    assert "127.0.0.1" in str(info.value)  # the detail is for the log


@pytest.mark.parametrize(("path", "reason"), [
    ("bad-crc.png", "not a readable image"),
    ("huge.png", f"over {MAX_PIXELS} pixels"),
    ("text", "not a readable image"),
])
async def test_images_pillow_cannot_take_are_refused(fetcher: SafeFetcher, provider: Server,
                                                     path: str, reason: str) -> None:
    with pytest.raises(ImageFetchError, match=reason):
        await fetch_image(fetcher, f"{provider.url}/{path}")


async def test_any_decoder_exception_is_a_refusal() -> None:
    samples: list[Any] = [b"", b"\x89PNG\r\n\x1a\n", b"GIF89a" + b"\xff" * 20,
                          b"\xff\xd8\xff" + b"\x00" * 50, b"RIFF\x00\x00\x00\x00WEBPVP8 "]
    for data in samples:
        with pytest.raises(ImageFetchError):
            await decode_image(data)


async def test_a_broken_answer_logs_the_host_not_the_signed_link() -> None:
    # aiohttp's error for an answer it cannot parse quotes the whole URL; a Discord CDN
    # link's query (ex, is, hm) or a provider's temporary result URL is a credential.
    async def garbled(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nxx")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbled, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    downloads = SafeFetcher(allow=AllowList.of([f"http://127.0.0.1:{port}"]))
    try:
        with pytest.raises(FetchFailed) as failed:
            await downloads.fetch(f"http://127.0.0.1:{port}/a.png?ex=68ab&is=68aa&hm=c0ffee",
                                  max_bytes=1024)
    finally:
        await downloads.aclose()
        server.close()
        await server.wait_closed()
    said = str(failed.value)
    assert "ClientResponseError" in said and "127.0.0.1" in said
    assert "c0ffee" not in said and "?" not in said and "/a.png" not in said
