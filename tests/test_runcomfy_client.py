"""The RunComfy client against the local RunComfy-compatible server, over real sockets."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import httpx
import pytest
from PIL import Image

from bot.inputs import GenerateInputs, ReframeInputs
from bot.job_errors import FAILED_REMOTELY
from bot.localserver.app import LocalRunComfyServer
from bot.providers import errors
from bot.providers.retry import RetryPolicy
from bot.providers.runcomfy import RunComfyClient, parse_state
from bot.providers.types import CancelOutcome, RemoteState
from tests.helpers import TOKEN, free_port

FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, total_seconds=5)


class SleepRecorder:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(min(delay, 0.5))


async def download(url: str) -> bytes:
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.get(url)
        response.raise_for_status()
        return response.content


def client_for(server: LocalRunComfyServer, *, token: str = TOKEN, **kwargs: Any
               ) -> RunComfyClient:
    return RunComfyClient(token=token, base_url=server.base_url,
                          retry=kwargs.pop("retry", FAST_RETRY), **kwargs)


async def wait_state(client: RunComfyClient, request_id: str, state: RemoteState,
                     limit: float = 5.0) -> list[RemoteState]:
    seen: list[RemoteState] = []
    async with asyncio.timeout(limit):
        while True:
            status = await client.status(request_id)
            if not seen or seen[-1] is not status.state:
                seen.append(status.state)
            if status.state is state:
                return seen
            await asyncio.sleep(0.05)


async def test_generate_full_life(local_server: LocalRunComfyServer) -> None:
    async with client_for(local_server) as client:
        inputs = GenerateInputs(prompt="a red fox in snow", seed=42, aspect_ratio="16:9")
        receipt = await client.submit(inputs.model, inputs)
        assert receipt.request_id
        first = await client.status(receipt.request_id)
        assert first.state is RemoteState.QUEUED
        assert first.queue_position == 1
        assert first.created_at is not None
        early = await client.result(receipt.request_id)
        assert early.state is RemoteState.QUEUED and early.image_urls == ()
        seen = await wait_state(client, receipt.request_id, RemoteState.COMPLETED)
        assert seen == [RemoteState.QUEUED, RemoteState.RUNNING, RemoteState.COMPLETED]
        result = await client.result(receipt.request_id)
        assert result.state is RemoteState.COMPLETED
        assert len(result.image_urls) == 1
        assert result.cost == pytest.approx(0.08)
        assert result.finished_at is not None
        png = await download(result.image_urls[0])
        with Image.open(io.BytesIO(png)) as img:
            assert img.format == "PNG"
            assert img.size == inputs.size
    received = local_server.state.jobs[receipt.request_id].inputs
    assert received == inputs.to_payload()


async def test_reframe_full_life(local_server: LocalRunComfyServer) -> None:
    async with client_for(local_server) as client:
        source = GenerateInputs(prompt="source", seed=1)
        first = await client.submit(source.model, source)
        await wait_state(client, first.request_id, RemoteState.COMPLETED)
        source_url = (await client.result(first.request_id)).image_urls[0]

        inputs = ReframeInputs(image_url=source_url, seed=7, resolution="1536:640 (12:5)",
                               rendering_speed="QUALITY", color_palette="EMBER")
        receipt = await client.submit(inputs.model, inputs)
        await wait_state(client, receipt.request_id, RemoteState.COMPLETED)
        result = await client.result(receipt.request_id)
        assert result.cost == pytest.approx(0.09)
        with Image.open(io.BytesIO(await download(result.image_urls[0]))) as img:
            assert img.size == (1536, 640)


async def test_queue_position_counts_earlier_queued_jobs(
        local_server: LocalRunComfyServer) -> None:
    async with client_for(local_server) as client:
        ids = [(await client.submit(GenerateInputs(prompt=f"p{i}", seed=i).model,
                                    GenerateInputs(prompt=f"p{i}", seed=i))).request_id
               for i in range(3)]
        positions = [(await client.status(i)).queue_position for i in ids]
        assert positions == [1, 2, 3]


async def test_cancel_queued_and_running(local_server: LocalRunComfyServer) -> None:
    async with client_for(local_server) as client:
        inputs = GenerateInputs(prompt="cancel me", seed=3)
        queued = await client.submit(inputs.model, inputs)
        assert await client.cancel(queued.request_id) is CancelOutcome.CANCELLED
        assert (await client.status(queued.request_id)).state is RemoteState.CANCELLED

        running = await client.submit(inputs.model, inputs)
        await wait_state(client, running.request_id, RemoteState.RUNNING)
        assert await client.cancel(running.request_id) is CancelOutcome.NOT_CANCELLABLE
        await wait_state(client, running.request_id, RemoteState.COMPLETED)


async def test_failed_job_logs_the_provider_error(local_server: LocalRunComfyServer,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.providers.runcomfy")
    async with client_for(local_server) as client:
        inputs = GenerateInputs(prompt="this one [fail]s", seed=3)
        receipt = await client.submit(inputs.model, inputs)
        await wait_state(client, receipt.request_id, RemoteState.FAILED)
        status = await client.status(receipt.request_id)
        # Users see the bot's own words; the provider's reason is in the log.
        assert status.error == FAILED_REMOTELY
        assert f"{receipt.request_id} failed: simulated failure" in caplog.text
        result = await client.result(receipt.request_id)
        assert result.state is RemoteState.FAILED and result.image_urls == ()


async def test_bad_token_is_401_and_not_retried(local_server: LocalRunComfyServer) -> None:
    sleeps = SleepRecorder()
    async with client_for(local_server, token="wrong-token", sleep=sleeps) as client:
        with pytest.raises(errors.AuthenticationError) as info:
            await client.status("abc")
        with pytest.raises(errors.AuthenticationError):
            await client.submit("ideogram/ideogram-v2/generate", {"prompt": "x"})
    assert info.value.status_code == 401
    assert "RUNCOMFY_API_TOKEN" in info.value.user_message
    assert sleeps.delays == []
    assert local_server.state.submit_count == 1  # asked once, not retried
    assert local_server.state.jobs == {}


async def test_insufficient_balance_402(local_server: LocalRunComfyServer) -> None:
    local_server.state.faults.insufficient_balance(1)
    async with client_for(local_server) as client:
        with pytest.raises(errors.InsufficientBalance) as info:
            await client.submit("ideogram/ideogram-v2/generate", {"prompt": "x"})
    assert info.value.status_code == 402
    assert "credit" in info.value.user_message
    assert local_server.state.submit_count == 1
    assert local_server.state.jobs == {}


async def test_invalid_input_422_carries_detail(local_server: LocalRunComfyServer) -> None:
    async with client_for(local_server) as client:
        with pytest.raises(errors.InputRejected) as info:
            await client.submit("ideogram/ideogram-v2/generate",
                                {"prompt": "x", "aspect_ratio": "7:5"})
    assert info.value.status_code == 422
    assert "7:5" in info.value.detail or "aspect_ratio" in info.value.detail
    assert info.value.user_message.startswith("The image service refused these options")


async def test_unknown_request_is_not_found(local_server: LocalRunComfyServer) -> None:
    async with client_for(local_server) as client:
        with pytest.raises(errors.RequestNotFound):
            await client.status("0123456789abcdef")


async def test_429_honours_retry_after(local_server: LocalRunComfyServer) -> None:
    sleeps = SleepRecorder()
    async with client_for(local_server, sleep=sleeps) as client:
        inputs = GenerateInputs(prompt="x", seed=1)
        receipt = await client.submit(inputs.model, inputs)
        local_server.state.faults.rate_limit(2, kind="status", retry_after=0.3)
        status = await client.status(receipt.request_id)
    assert status.state in (RemoteState.QUEUED, RemoteState.RUNNING)
    assert len(sleeps.delays) == 2
    assert all(d >= 0.3 for d in sleeps.delays)


async def test_429_beyond_budget_raises_rate_limited(local_server: LocalRunComfyServer) -> None:
    sleeps = SleepRecorder()
    policy = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, total_seconds=1)
    async with client_for(local_server, sleep=sleeps, retry=policy) as client:
        local_server.state.faults.rate_limit(1, kind="status", retry_after=30)
        with pytest.raises(errors.RateLimited) as info:
            await client.status("abc")
    assert info.value.retry_after == 30
    assert sleeps.delays == []


async def test_a_500_to_a_submit_is_uncertain_and_never_resent(
        local_server: LocalRunComfyServer) -> None:
    # The service may have taken the job before failing: a second submit could be a second
    # charge (a 503, which refuses before taking anything, is retried: test_provider_answers).
    local_server.state.faults.server_error(1, kind="submit")
    sleeps = SleepRecorder()
    async with client_for(local_server, sleep=sleeps) as client:
        inputs = GenerateInputs(prompt="x", seed=1)
        with pytest.raises(errors.SubmitUncertain, match="HTTP 500"):
            await client.submit(inputs.model, inputs)
    assert local_server.state.submit_count == 1 and sleeps.delays == []


async def test_500_on_status_is_retried(local_server: LocalRunComfyServer) -> None:
    async with client_for(local_server) as client:
        inputs = GenerateInputs(prompt="x", seed=1)
        receipt = await client.submit(inputs.model, inputs)
        local_server.state.faults.server_error(3, kind="status")
        status = await client.status(receipt.request_id)
        assert status.request_id == receipt.request_id
        local_server.state.faults.server_error(10, kind="status")
        with pytest.raises(errors.ProviderUnavailable):
            await client.status(receipt.request_id)


async def test_timeout_during_submit_is_never_resent(local_server: LocalRunComfyServer) -> None:
    local_server.state.faults.slow(1.0, kind="submit")
    sleeps = SleepRecorder()
    timeout = httpx.Timeout(connect=2.0, read=0.3, write=2.0, pool=2.0)
    async with client_for(local_server, sleep=sleeps, timeout=timeout) as client:
        with pytest.raises(errors.SubmitUncertain) as info:
            await client.submit("ideogram/ideogram-v2/generate", {"prompt": "x", "seed": 1})
    await asyncio.sleep(0.9)  # let the server finish its slow answer
    assert local_server.state.submit_count == 1  # the provider took it once; we never resent
    assert len(local_server.state.jobs) == 1
    assert sleeps.delays == []
    assert "double charge" in info.value.user_message


async def test_malformed_json(local_server: LocalRunComfyServer) -> None:
    async with client_for(local_server) as client:
        inputs = GenerateInputs(prompt="x", seed=1)
        receipt = await client.submit(inputs.model, inputs)
        local_server.state.faults.malformed(1, kind="status")
        with pytest.raises(errors.MalformedResponse):
            await client.status(receipt.request_id)
        local_server.state.faults.malformed(1, kind="submit")
        with pytest.raises(errors.SubmitUncertain):
            await client.submit(inputs.model, inputs)
    assert local_server.state.submit_count == 2


async def test_http_200_error_body_is_an_error(local_server: LocalRunComfyServer) -> None:
    async with client_for(local_server) as client:
        local_server.state.faults.error_body(1, kind="status", code=500001, message="boom")
        with pytest.raises(errors.ProviderError, match="boom"):
            await client.status("abc")
        local_server.state.faults.error_body(1, kind="status", code=400004, message="bad token")
        with pytest.raises(errors.AuthenticationError):
            await client.status("abc")


async def test_connection_refused_is_retried_then_unavailable() -> None:
    port = free_port()
    sleeps = SleepRecorder()
    async with RunComfyClient(token=TOKEN, base_url=f"http://127.0.0.1:{port}",
                              retry=FAST_RETRY, sleep=sleeps) as client:
        with pytest.raises(errors.ProviderUnavailable):
            await client.submit("ideogram/ideogram-v2/generate", {"prompt": "x"})
    assert len(sleeps.delays) == FAST_RETRY.attempts - 1


async def test_token_never_leaks(local_server: LocalRunComfyServer,
                                 caplog: pytest.LogCaptureFixture) -> None:
    secret = "rc-SUPER-SECRET-0123456789"
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    async with RunComfyClient(token=secret, base_url=local_server.base_url,
                              retry=FAST_RETRY) as client:
        texts.append(repr(client))
        texts.append(str(vars(client).get("base_url")))
        for call in (client.status("abc"), client.submit("ideogram/ideogram-v2/generate", {})):
            with pytest.raises(errors.ProviderError) as info:
                await call
            texts += [str(info.value), repr(info.value), info.value.user_message]
    local_server.state.faults.clear()
    texts.append(caplog.text)
    assert all(secret not in t for t in texts)
    assert "Authorization" not in caplog.text


def test_status_words() -> None:
    assert parse_state("in_queue") is RemoteState.QUEUED
    assert parse_state("IN_PROGRESS") is RemoteState.RUNNING
    assert parse_state("succeeded") is RemoteState.COMPLETED
    assert parse_state("completed") is RemoteState.COMPLETED
    assert parse_state("failed") is RemoteState.FAILED
    assert parse_state("cancelled") is RemoteState.CANCELLED
    for word in ("pending", "starting", "processing", "", None, 5):
        assert parse_state(word) is RemoteState.UNKNOWN


def test_malformed_request_ids_never_reach_a_url() -> None:
    client = RunComfyClient(token=TOKEN, base_url="http://127.0.0.1:9")
    for bad in ("../x", "a/b", "", "a b", "x" * 200):
        with pytest.raises(ValueError):
            client._check_id(bad)
