"""The Ideogram-compatible synchronous client against the local server's /ideogram/generate,
and against scripted answers for what the local server never says."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from PIL import Image

from bot.inputs import IDEOGRAM_GENERATE_MODEL, IdeogramGenerateInputs
from bot.job_errors import WITHHELD, render_job_error
from bot.localserver.app import (
    MAGIC_SUFFIX,
    LocalRunComfyServer,
    LocalServerConfig,
)
from bot.providers import errors
from bot.providers.base import Provider, SyncProvider
from bot.providers.ideogram import CONNECT_RETRY, CONNECT_SECONDS, IdeogramClient
from bot.providers.retry import RetryPolicy
from bot.providers.types import RemoteState
from tests.helpers import TOKEN, free_port

NO_WAIT = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002, total_seconds=1)


def stored(**changes: Any) -> dict[str, Any]:
    """A job's stored inputs for the synchronous API."""
    base: dict[str, Any] = {"prompt": "a lighthouse at dusk", "seed": 77}
    return IdeogramGenerateInputs(**(base | changes)).to_payload()


@pytest.fixture
async def server() -> AsyncIterator[LocalRunComfyServer]:
    async with LocalRunComfyServer(LocalServerConfig(token=TOKEN, run_seconds=0.05)) as s:
        yield s


def client_for(server: LocalRunComfyServer, **kwargs: Any) -> IdeogramClient:
    kwargs.setdefault("api_key", TOKEN)
    return IdeogramClient(base_url=server.base_url, connect_retry=NO_WAIT, **kwargs)


def scripted(handler: Callable[[httpx.Request], httpx.Response]) -> IdeogramClient:
    return IdeogramClient(api_key=TOKEN, base_url="http://ideogram.test",
                          transport=httpx.MockTransport(handler), connect_retry=NO_WAIT)


def answer(status: int = 200, body: object = None, **kwargs: Any
           ) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json=body, **kwargs)


async def test_generate_sends_the_request_and_reads_the_answer(
        server: LocalRunComfyServer) -> None:
    async with client_for(server) as client:
        assert isinstance(client, SyncProvider) and not isinstance(client, Provider)
        result = await client.generate(IDEOGRAM_GENERATE_MODEL, stored(
            style="anime", aspect_ratio="16:9", ideogram_model="V_2_TURBO",
            color_palette="EMBER", negative_prompt="fog"))
    [job] = server.state.jobs.values()
    assert job.inputs == {"prompt": "a lighthouse at dusk", "aspect_ratio": "ASPECT_16_9",
                          "model": "V_2_TURBO", "magic_prompt_option": "ON", "seed": 77,
                          "style_type": "ANIME", "negative_prompt": "fog",
                          "color_palette": {"name": "EMBER"}}
    assert result.state is RemoteState.COMPLETED and result.error is None
    assert result.image_urls == (f"{server.base_url}/files/{job.request_id}.png",)
    assert result.revised_prompt == "a lighthouse at dusk" + MAGIC_SUFFIX
    assert result.created_at is not None
    async with httpx.AsyncClient() as http:
        png = (await http.get(result.image_urls[0])).content
    with Image.open(io.BytesIO(png)) as img:
        assert img.size == (1344, 768)
    assert png == job.image_bytes


@pytest.mark.parametrize(("auth", "header"), [("bearer", "authorization"),
                                              ("api-key", "api-key")])
async def test_auth_styles_send_the_right_header(server: LocalRunComfyServer, auth: str,
                                                 header: str) -> None:
    async with client_for(server, auth=auth) as client:
        result = await client.generate(IDEOGRAM_GENERATE_MODEL, stored(magic_prompt=False))
    assert result.revised_prompt == "a lighthouse at dusk"  # magic prompt off
    assert server.state.ideogram_auth == [auth]
    seen: list[httpx.Headers] = []

    def capture(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers)
        return httpx.Response(401, json={"code": "401", "message": "no", "data": None})

    client = IdeogramClient(api_key=TOKEN, base_url="http://x.test", auth=auth,
                            transport=httpx.MockTransport(capture))
    with pytest.raises(errors.IdeogramKeyRefused):
        await client.generate(IDEOGRAM_GENERATE_MODEL, stored())
    await client.aclose()
    expected = f"Bearer {TOKEN}" if auth == "bearer" else TOKEN
    assert seen[0][header] == expected
    other = "api-key" if auth == "bearer" else "authorization"
    assert other not in seen[0]


async def test_wrong_key_is_refused_with_a_message_for_the_owner(
        server: LocalRunComfyServer) -> None:
    for auth in ("bearer", "api-key"):
        async with client_for(server, api_key="not-the-key", auth=auth) as client:
            with pytest.raises(errors.IdeogramKeyRefused) as info:
                await client.generate(IDEOGRAM_GENERATE_MODEL, stored())
        assert info.value.status_code == 401 and "IDEOGRAM_API_KEY" in info.value.user_message
    assert server.state.ideogram_auth == ["bearer", "api-key"] and not server.state.jobs


async def test_the_seeds_500_envelope_gives_a_clear_message(
        server: LocalRunComfyServer) -> None:
    async with client_for(server) as client:
        with pytest.raises(errors.ServiceFailure) as info:
            await client.generate(IDEOGRAM_GENERATE_MODEL, stored(prompt="boom [fail]"))
        assert info.value.status_code == 500
        # Users see the bot's own words; the provider's go to the log (``detail``).
        assert info.value.user_message == (
            "The image service failed (error 500). Please try again shortly.")
        assert info.value.detail == "simulated failure"
        server.state.faults.server_error(1, kind="generate")
        with pytest.raises(errors.ServiceFailure, match="internal error"):
            await client.generate(IDEOGRAM_GENERATE_MODEL, stored())
        # The API's error envelope with HTTP 200 is an error too.
        server.state.faults.error_body(1, kind="generate", code=500, message="upstream down")
        with pytest.raises(errors.ServiceFailure) as info:
            await client.generate(IDEOGRAM_GENERATE_MODEL, stored())
        assert "upstream down" in info.value.detail
        assert "upstream down" not in info.value.user_message
    # None of them was resent.
    assert server.state.request_counts["generate"] == 3


async def test_faults_map_to_typed_errors(server: LocalRunComfyServer) -> None:
    faults = server.state.faults
    async with client_for(server) as client:
        faults.rate_limit(1, kind="generate", retry_after=7)
        with pytest.raises(errors.RateLimited) as limited:
            await client.generate(IDEOGRAM_GENERATE_MODEL, stored())
        assert limited.value.retry_after == 7
        faults.insufficient_balance(1, kind="generate")
        with pytest.raises(errors.InsufficientBalance):
            await client.generate(IDEOGRAM_GENERATE_MODEL, stored())
        faults.malformed(1, kind="generate")
        with pytest.raises(errors.MalformedResponse):
            await client.generate(IDEOGRAM_GENERATE_MODEL, stored())
    assert server.state.request_counts["generate"] == 3 and not server.state.jobs


async def test_unsafe_image_is_withheld(server: LocalRunComfyServer) -> None:
    async with client_for(server) as client:
        result = await client.generate(IDEOGRAM_GENERATE_MODEL,
                                       stored(prompt="something [unsafe]"))
    assert result.state is RemoteState.FAILED and result.image_urls == ()
    assert result.error == WITHHELD and "safety filter" in render_job_error(WITHHELD)
    assert result.revised_prompt == "something [unsafe]" + MAGIC_SUFFIX


@pytest.mark.parametrize(("status", "body", "error", "text"), [
    (400, {"error": "prompt rejected by policy"}, errors.InputRejected,
     "prompt rejected by policy"),
    (422, {"error": {"message": "bad aspect"}}, errors.InputRejected, "bad aspect"),
    (403, {"error": "forbidden"}, errors.IdeogramKeyRefused, "IDEOGRAM_API_KEY"),
    (402, {"code": "402", "message": "no credit", "data": None}, errors.InsufficientBalance,
     "credit"),
    (503, None, errors.ProviderUnavailable, "unavailable"),
    (200, {"error": "quota exceeded"}, errors.ServiceFailure, "quota exceeded"),
])
async def test_error_bodies(status: int, body: object, error: type[errors.ProviderError],
                            text: str) -> None:
    async with scripted(answer(status, body)) as client:
        with pytest.raises(error) as info:
            await client.generate(IDEOGRAM_GENERATE_MODEL, stored())
    assert text in info.value.user_message or text in info.value.detail


async def test_retry_after_header() -> None:
    async with scripted(answer(429, {"error": "slow down"},
                               headers={"Retry-After": "12"})) as client:
        with pytest.raises(errors.RateLimited) as info:
            await client.generate(IDEOGRAM_GENERATE_MODEL, stored())
    assert info.value.retry_after == 12


def item(**changes: Any) -> dict[str, Any]:
    return {"url": "https://img.example/a.png", "prompt": "p", "resolution": "1024x1024",
            "is_image_safe": True, "seed": 1} | changes


@pytest.mark.parametrize("body", [
    {"created": "2000-01-23T04:56:07Z", "data": []},
    {"data": "nope"},
    {"data": [item(url="ftp://img.example/a.png")]},
    {"data": [item(url="javascript:alert(1)")]},
    {"data": [item(url="https://user:pw@img.example/a.png")]},
    {"data": [item(url=None)]},
    {"data": [item(url=5)]},
    {"data": [item(is_image_safe="true")]},
    {"data": [item(is_image_safe=None)]},
    {"data": [item(seed="12")]},
    {"data": [item(seed=True)]},
    {"data": [item(prompt=["x"])]},
    {"data": [item(resolution="big")]},
    {"data": ["https://img.example/a.png"]},
    {"created": 17, "data": [item()]},
    {"created": "yesterday", "data": [item()]},
])
async def test_every_answer_field_is_validated(body: dict[str, Any]) -> None:
    async with scripted(answer(200, body)) as client:
        with pytest.raises(errors.MalformedResponse):
            await client.generate(IDEOGRAM_GENERATE_MODEL, stored())


@pytest.mark.parametrize(("prompt", "kept"), [("a\x00 beach", "a beach"),
                                               ("a \ud83d beach", "a  beach"),
                                               ("\x00", None)])
async def test_a_revised_prompt_keeps_only_what_a_database_can(prompt: str,
                                                              kept: str | None) -> None:
    # PostgreSQL refuses NUL; UTF-8 cannot encode a lone surrogate.
    url = "https://ideogram.ai/api/images/direct/8YEpFzHuS-S6xXEGmCsf7g"
    body = json.dumps({"data": [item(url=url, prompt=prompt)]}).encode()  # \ud83d escaped
    async with scripted(answer(200, content=body)) as client:
        result = await client.generate(IDEOGRAM_GENERATE_MODEL, stored())
    assert result.revised_prompt == kept


async def test_the_seeds_example_answer_is_read() -> None:
    """The API reference's example: two images; the first one's prompt is the revised one."""
    url = "https://ideogram.ai/api/images/direct/8YEpFzHuS-S6xXEGmCsf7g"
    body = {"created": "2000-01-23T04:56:07Z",
            "data": [item(url=url, prompt="A serene tropical beach scene."),
                     item(url=url, prompt="A serene tropical beach scene.")]}
    async with scripted(answer(200, body)) as client:
        result = await client.generate(IDEOGRAM_GENERATE_MODEL, stored())
    assert result.image_urls == (url,) and result.revised_prompt == body["data"][0]["prompt"]
    # An unsafe image's URL may be missing: it is never used.
    mixed = {"data": [item(is_image_safe=False, url=None, prompt="q"), item(url=url)]}
    async with scripted(answer(200, mixed)) as client:
        result = await client.generate(IDEOGRAM_GENERATE_MODEL, stored())
    assert result.state is RemoteState.COMPLETED and result.image_urls == (url,)


async def test_no_resend_after_the_request_was_sent(server: LocalRunComfyServer) -> None:
    server.state.config.run_seconds = 1.0
    async with client_for(server, timeout_seconds=0.2) as client:
        with pytest.raises(errors.SubmitUncertain) as info:
            await client.generate(IDEOGRAM_GENERATE_MODEL, stored())
    assert "double charge" in info.value.user_message
    assert server.state.request_counts["generate"] == 1


async def test_connect_errors_are_retried_before_sending() -> None:
    calls: list[int] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) < 3:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"data": [item()]})

    async with scripted(flaky) as client:
        result = await client.generate(IDEOGRAM_GENERATE_MODEL, stored())
    assert len(calls) == 3 and result.image_urls == ("https://img.example/a.png",)

    port = free_port()
    async with IdeogramClient(api_key=TOKEN, base_url=f"http://127.0.0.1:{port}",
                              connect_retry=NO_WAIT) as client:
        with pytest.raises(errors.ProviderUnavailable):
            await client.generate(IDEOGRAM_GENERATE_MODEL, stored())


@pytest.mark.parametrize("failure", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
async def test_every_kind_of_failed_connection_is_retried(failure: type[httpx.TransportError],
                                                          caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    caplog.set_level(logging.INFO, logger="bot.providers.ideogram")
    calls: list[int] = []

    def never_connects(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise failure("no connection", request=request)

    async with scripted(never_connects) as client:
        with pytest.raises(errors.CouldNotConnect) as info:
            await client.generate(IDEOGRAM_GENERATE_MODEL, stored())
    assert len(calls) == NO_WAIT.attempts
    assert isinstance(info.value, errors.ProviderUnavailable)
    retries = [r.getMessage() for r in caplog.records if "; retry" in r.getMessage()]
    assert [m.split(" in ")[0] for m in retries] == [
        "Ideogram API: connecting failed (CouldNotConnect); retry 1",
        "Ideogram API: connecting failed (CouldNotConnect); retry 2"]


def test_a_slow_connect_timeout_leaves_room_for_every_try() -> None:
    """Each try may wait out the whole connect timeout: no time budget may cut the tries."""
    needed = CONNECT_RETRY.attempts * CONNECT_SECONDS + (
        CONNECT_RETRY.attempts - 1) * CONNECT_RETRY.max_delay
    assert CONNECT_RETRY.total_seconds > needed


async def test_broken_connection_after_sending_is_not_resent() -> None:
    calls: list[int] = []

    def broken(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.RemoteProtocolError("server hung up", request=request)

    async with scripted(broken) as client:
        with pytest.raises(errors.SubmitUncertain):
            await client.generate(IDEOGRAM_GENERATE_MODEL, stored())
    assert calls == [1]


async def test_stored_inputs_are_checked_before_sending() -> None:
    calls: list[int] = []

    def never(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(500)

    async with scripted(never) as client:
        bad = stored() | {"model": "V_1", "color_palette": "EMBER"}
        with pytest.raises(errors.InputRejected, match="color_palette"):
            await client.generate(IDEOGRAM_GENERATE_MODEL, bad)
        with pytest.raises(ValueError):
            await client.generate("ideogram/ideogram-v2/generate", stored())
    assert calls == []


async def test_key_never_leaks(caplog: pytest.LogCaptureFixture) -> None:
    secret = "ig-SUPER-SECRET-0123456789"
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    async with LocalRunComfyServer(LocalServerConfig(token=secret, run_seconds=0.01)) as srv:
        for auth in ("bearer", "api-key"):
            async with IdeogramClient(api_key=secret, base_url=srv.base_url, auth=auth,
                                      connect_retry=NO_WAIT) as client:
                texts.append(repr(client))
                texts.append(str(client))
                await client.generate(IDEOGRAM_GENERATE_MODEL, stored())
                for fault in ("server_error", "malformed", "rate_limit"):
                    getattr(srv.state.faults, fault)(1, kind="generate")
                    with pytest.raises(errors.ProviderError) as info:
                        await client.generate(IDEOGRAM_GENERATE_MODEL, stored())
                    texts += [str(info.value), repr(info.value), info.value.user_message]
            async with IdeogramClient(api_key=secret + "x", base_url=srv.base_url, auth=auth,
                                      connect_retry=NO_WAIT) as wrong:
                with pytest.raises(errors.ProviderError) as info:
                    await wrong.generate(IDEOGRAM_GENERATE_MODEL, stored())
                texts += [str(info.value), repr(info.value), info.value.user_message]
    # A provider that echoes the key in its error text: blanked out.
    echo = {"code": "500", "message": f"bad key {secret}", "data": None}
    async with IdeogramClient(api_key=secret, base_url="http://x.test",
                              transport=httpx.MockTransport(answer(500, echo))) as client:
        with pytest.raises(errors.ServiceFailure) as info:
            await client.generate(IDEOGRAM_GENERATE_MODEL, stored())
        texts += [str(info.value), repr(info.value), info.value.user_message]
    assert info.value.detail == "bad key [redacted]"
    assert "bad key" not in info.value.user_message
    texts.append(caplog.text)
    assert all(secret not in t for t in texts)
    assert srv.state.ideogram_auth == ["bearer"] * 5 + ["api-key"] * 5


async def test_requests_are_json_with_only_set_fields() -> None:
    bodies: list[Any] = []

    def capture(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        assert request.url.path == "/generate" and request.method == "POST"
        return httpx.Response(200, json={"data": [item()]})

    client = IdeogramClient(api_key=TOKEN, base_url="http://x.test", path="/generate",
                            transport=httpx.MockTransport(capture))
    await client.generate(IDEOGRAM_GENERATE_MODEL, stored(ideogram_model="V_1_TURBO"))
    await client.aclose()
    assert bodies == [{"image_request": {
        "prompt": "a lighthouse at dusk", "aspect_ratio": "ASPECT_1_1", "model": "V_1_TURBO",
        "magic_prompt_option": "ON", "seed": 77}}]
