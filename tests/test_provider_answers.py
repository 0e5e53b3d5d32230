"""Both provider clients against hostile answers over real sockets: one overall deadline,
a cap on the decoded body, malformed bodies as ProviderErrors, credentials scrubbed from
what the provider echoes, and a bounded memory of unknown status words."""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from bot.inputs import IDEOGRAM_GENERATE_MODEL, IdeogramGenerateInputs
from bot.job_errors import FAILED_REMOTELY
from bot.jobs import JobStatus
from bot.polling import PollingConfig
from bot.providers import errors
from bot.providers.answers import STATUS_WORDS_REMEMBERED, note_unknown_status
from bot.providers.ideogram import IdeogramClient
from bot.providers.redact import redact
from bot.providers.retry import RetryPolicy
from bot.providers.runcomfy import RunComfyClient, parse_state
from bot.providers.types import RemoteState
from bot.store import Store
from bot.tracker import JobTracker, TrackerConfig
from cogs.core.rendering import status_line
from tests.helpers import make_job, run_to_end, tracker_running
from tests.hostile_provider import HostileProvider, json_bomb, raw, trickle

SECRET = "rc-SECRET-token-4d3c2b1a"
ONCE = RetryPolicy(attempts=1)
GENERATE = "ideogram/ideogram-v2/generate"


def runcomfy(url: str, **kwargs: Any) -> RunComfyClient:
    kwargs.setdefault("call_deadline", 0.5)
    kwargs.setdefault("retry", ONCE)
    return RunComfyClient(token=SECRET, base_url=url,
                          timeout=httpx.Timeout(2.0, read=1.0), **kwargs)


def ideogram(url: str, **kwargs: Any) -> IdeogramClient:
    kwargs.setdefault("call_deadline", 0.5)
    return IdeogramClient(api_key=SECRET, base_url=url, timeout_seconds=1.0,
                          connect_retry=ONCE, **kwargs)


def stored() -> dict[str, Any]:
    return IdeogramGenerateInputs(prompt="a lighthouse", seed=7).to_payload()


async def test_a_trickling_answer_meets_one_overall_deadline() -> None:
    # Each byte comes well within the 1 s read timeout; the whole answer would take 4 s.
    # (Without the deadline, the same call took 5.1 s: measured before the fix.)
    slow = trickle(b'{"status": "in_queue", "pad": "' + b"x" * 30 + b'"}', every=0.08)
    async with HostileProvider(slow) as server:
        for call in ("status", "generate"):
            started = time.monotonic()
            if call == "status":
                async with runcomfy(server.url) as client:
                    with pytest.raises(errors.ProviderUnavailable, match=r"within 0\.5 s"):
                        await client.status("req-1")
            else:
                async with ideogram(server.url) as sync:
                    with pytest.raises(errors.SubmitUncertain):
                        await sync.generate(IDEOGRAM_GENERATE_MODEL, stored())
            assert time.monotonic() - started < 1.2


async def test_a_submit_cut_by_the_deadline_is_uncertain_not_resent() -> None:
    slow = trickle(b'{"request_id": "r-1"}' + b" " * 40, every=0.05)
    async with HostileProvider(slow) as server, \
            runcomfy(server.url, retry=RetryPolicy(attempts=3)) as client:
        with pytest.raises(errors.SubmitUncertain):
            await client.submit(GENERATE, {"prompt": "x"})
    assert len(server.requests) == 1


async def test_addresses_in_a_submit_answer_are_never_followed() -> None:
    # The answer names another host for status, result and cancel: the client still asks
    # its own base URL, so the token never travels there.
    elsewhere = "http://169.254.169.254/latest"
    answer = json.dumps({"request_id": "r-1", "status_url": f"{elsewhere}/status",
                         "result_url": f"{elsewhere}/result",
                         "cancel_url": f"{elsewhere}/cancel"}).encode()
    async with HostileProvider(raw(answer)) as server, runcomfy(server.url) as client:
        receipt = await client.submit(GENERATE, {"prompt": "x"})
        with contextlib.suppress(errors.ProviderError):  # its status answer is no status
            await client.status(receipt.request_id)
    assert [r.path for r in server.requests] == [f"/v1/models/{GENERATE}",
                                                 "/v1/requests/r-1/status"]


async def test_a_submit_refused_with_503_is_sent_again_but_a_502_is_not() -> None:
    answers = [web.Response(status=503, body=b'{"detail": "busy"}'),
               web.json_response({"request_id": "r-2"})]

    async def busy_then_taken(request: web.Request) -> web.StreamResponse:
        return answers.pop(0)

    async with HostileProvider(busy_then_taken) as server, \
            runcomfy(server.url, retry=RetryPolicy(attempts=3, base_delay=0.01)) as client:
        assert (await client.submit(GENERATE, {"prompt": "x"})).request_id == "r-2"
    assert len(server.requests) == 2
    async with HostileProvider(raw(b'{"detail": "bad gateway"}', 502)) as server, \
            runcomfy(server.url, retry=RetryPolicy(attempts=3, base_delay=0.01)) as client:
        with pytest.raises(errors.SubmitUncertain, match="HTTP 502"):
            await client.submit(GENERATE, {"prompt": "x"})
    assert len(server.requests) == 1  # the gateway may have passed it on: never resent


async def test_a_submit_answered_404_points_the_owner_to_the_base_url() -> None:
    # e.g. RUNCOMFY_BASE_URL ending in /v1: nothing was taken, nothing "expired".
    async with HostileProvider(raw(b'{"detail": "Not Found"}', 404)) as server, \
            runcomfy(server.url) as client:
        with pytest.raises(errors.UnknownAddress) as info:
            await client.submit(GENERATE, {"prompt": "x"})
    assert "RUNCOMFY_BASE_URL" in info.value.localized_message
    assert len(server.requests) == 1


async def test_a_gzip_bomb_stops_at_the_cap_for_both_clients() -> None:
    bomb = json_bomb(64)  # ~65 KB on the wire, 64 MB of valid JSON once inflated
    headers = {"Content-Encoding": "gzip"}
    async with HostileProvider(raw(bomb, **headers)) as server:
        tracemalloc.start()
        try:
            async with runcomfy(server.url) as client:
                with pytest.raises(errors.MalformedResponse, match="over the cap"):
                    await client.status("req-1")
            async with ideogram(server.url) as sync:
                with pytest.raises(errors.MalformedResponse, match="over the cap"):
                    await sync.generate(IDEOGRAM_GENERATE_MODEL, stored())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 16 * 1024 * 1024


HOSTILE_BODIES: list[bytes] = [
    b"[" * 100_000 + b"]" * 100_000,                      # nesting past the recursion limit
    b'{"status": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
    b"[]", b'"completed"', b"null", b"12", b"not json", b"\xff\xfe\x00",
    b'{"status": {"nested": ["completed"]}, "error": ' + b"[" * 900 + b"]" * 900 + b"}",
    b'{"status": "completed", "output": {"images": [1, null, {"url": 2}]}}',
    b'{"status": "completed", "output": "https://x.example/a.png"}',
    b'{"status": "in_queue", "queue_position": 1e400}',
    b'{"status": "in_queue", "queue_position": "3", "created_at": [1, 2]}',
    b'{"status": "failed", "error": {"deep": ' + b"[" * 800 + b"]" * 800 + b"}}",
    b'{"status": "' + b"w" * 500_000 + b'"}',
    b'{"data": [{"is_image_safe": true, "url": ' + b"[" * 900 + b"]" * 900 + b"}]}",
    b'{"data": [{"is_image_safe": "yes"}]}', b'{"data": {"0": 1}}', b'{"data": []}',
]


@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=lambda b: repr(b[:24]))
@pytest.mark.parametrize("status", [200, 400, 500])
async def test_malformed_answers_are_provider_errors(body: bytes, status: int) -> None:
    async with HostileProvider(raw(body, status)) as server, \
            runcomfy(server.url) as client, ideogram(server.url) as sync:
        for call in (client.status("r-1"), client.result("r-1"), client.cancel("r-1"),
                     client.submit(GENERATE, {"prompt": "x"}),
                     sync.generate(IDEOGRAM_GENERATE_MODEL, stored())):
            try:
                await call
            except errors.ProviderError as exc:
                assert exc.user_message and len(exc.detail) <= 500
            # Anything else (RecursionError, TypeError…) fails the test.


async def test_an_echoed_token_never_reaches_users_logs_or_the_job(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def echo(request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        if request.path.endswith("/status"):
            return web.json_response({"status": "failed", "error": f"denied for {auth}"})
        return web.json_response({"detail": f"bad request, you sent {auth}",
                                  "message": f"key={SECRET}"}, status=400)

    texts: list[str] = []
    async with HostileProvider(echo) as server:
        async with runcomfy(server.url) as client:
            with pytest.raises(errors.InputRejected) as info:
                await client.submit(GENERATE, {"prompt": "x"})
            texts += [str(info.value), repr(info.value), info.value.detail,
                      info.value.user_message]
            assert "[redacted]" in info.value.detail
            status = await client.status("r-1")
            assert status.state is RemoteState.FAILED and status.error == FAILED_REMOTELY
            texts.append(status.error or "")
        async with ideogram(server.url) as sync:
            with pytest.raises(errors.InputRejected) as info:
                await sync.generate(IDEOGRAM_GENERATE_MODEL, stored())
            texts += [str(info.value), info.value.detail, info.value.user_message]
    texts.append(caplog.text)
    assert "denied for Bearer [redacted]" in caplog.text
    assert all(SECRET not in text for text in texts)


def test_users_see_the_bots_words_per_error_class() -> None:
    assert errors.InputRejected("prompt: field required").user_message == (
        "The image service refused these options. Try a shorter or different prompt, "
        "or other options.")
    failure = errors.ServiceFailure("[free nitro](https://evil.example)", status_code=503)
    assert failure.user_message == "The image service failed (error 503). Please try again " \
                                   "shortly."


def test_redact_blanks_the_secret_and_any_labelled_credential() -> None:
    text = (f"auth=Bearer {SECRET}; Api-Key: other-key-1; url=/x?token=abc123&b=1; "
            f"quoted=rc-SECRET-token-4d3c2b1a%21 {{'authorization': 'Bearer zzz'}}")
    cleaned = redact(text, [SECRET])
    for leaked in (SECRET, "other-key-1", "abc123", "zzz"):
        assert leaked not in cleaned
    assert "b=1" in cleaned


def test_unknown_status_words_are_remembered_in_bounded_memory(
        caplog: pytest.LogCaptureFixture) -> None:
    note_unknown_status.cache_clear()
    caplog.set_level(logging.WARNING)
    for number in range(1000):
        assert parse_state(f"warming-up-{number}") is RemoteState.UNKNOWN
    assert note_unknown_status.cache_info().currsize <= STATUS_WORDS_REMEMBERED
    caplog.clear()
    parse_state("warming-up-999")  # still remembered: not logged again
    assert caplog.text == ""


async def test_an_echoed_token_reaches_neither_the_job_row_nor_its_message(
        tmp_path: Path) -> None:
    """Through the tracker: the job's stored error and the text rendered from it carry the
    bot's words only, however the provider echoes the Authorization header."""
    async def echo(request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        if request.path.startswith("/v1/models/") and "refuse" in await request.text():
            return web.json_response({"detail": f"rejected {auth}"}, status=400)
        if request.path.startswith("/v1/models/"):
            return web.json_response({"request_id": "req-1"})
        return web.json_response({"status": "failed", "error": f"nope, {auth}"})

    async with HostileProvider(echo) as server, \
            await Store.open(tmp_path / "echo.db") as store, runcomfy(server.url) as client:
        tracker = JobTracker(store, {"runcomfy": client}, config=TrackerConfig(
            polling=PollingConfig(first_delay=0.01, min_interval=0.01)))
        async with tracker_running(tracker):
            jobs = await run_to_end(tracker, store, (
                make_job(prompt, seed=1, provider="runcomfy")
                for prompt in ("please refuse", "fail later")))
        for job in jobs:
            ended = await store.get_job(job.id)
            assert ended is not None and ended.status is JobStatus.FAILED and ended.error
            assert SECRET not in ended.error and "Bearer" not in ended.error
            assert SECRET not in status_line(ended)
    with sqlite3.connect(tmp_path / "echo.db") as raw_db:
        assert SECRET not in str(raw_db.execute("SELECT * FROM jobs").fetchall())
