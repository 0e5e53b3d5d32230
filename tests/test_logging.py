"""Logs: dated ISO-8601 lines or one JSON object a line, job and server ids when known,
secrets and URL tokens redacted from whole records (tracebacks too), SQL only on request."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from bot import log_context
from bot.logging_setup import REDACTED, configure_logging
from bot.store import Store

SECRET = "rc-secret-token-8f2b1c"
INTERACTION_TOKEN = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5OnNlY3JldA.abc-DEF_123"
WEBHOOK_URL = ("https://discord.com/api/v10/webhooks/1100000000000000001/"
               f"{INTERACTION_TOKEN}/messages/@original")
CALLBACK_URL = ("https://discord.com/api/v10/interactions/1400000000000000001/"
                f"{INTERACTION_TOKEN}/callback?with_response=1")


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """The root logger's configuration is restored after each test."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level,
             {name: logging.getLogger(name).level
              for name in ("aiosqlite", "httpx", "discord.http", "discord.webhook.async_")})
    out = io.StringIO()
    yield out
    root.handlers[:], root.level = saved[0], saved[1]
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


def _fail_with_secret() -> None:
    raise RuntimeError(f"provider said: bad token {SECRET} at {CALLBACK_URL}")


def test_text_lines_have_an_iso_date_and_the_job_and_guild(stream: io.StringIO) -> None:
    configure_logging("INFO", [SECRET], stream=stream)
    log = logging.getLogger("tests.text")
    log.info("plain line")
    log_context.bind_job("0123456789abcdef0123456789abcdef", 4242)
    try:
        log.info("job line")
    finally:
        log_context.bind_guild(None)
    first, second = stream.getvalue().splitlines()
    stamp = first.split(" ", 1)[0]
    parsed = dt.datetime.fromisoformat(stamp)
    assert parsed.tzinfo is not None and abs(dt.datetime.now(dt.UTC) - parsed).total_seconds() < 60
    assert first.endswith("INFO    tests.text: plain line")
    assert second.endswith("tests.text: job line [job=01234567 guild=4242]")


def test_json_lines_are_one_object_each_with_context_and_extra(stream: io.StringIO) -> None:
    configure_logging("DEBUG", [SECRET], log_format="json", stream=stream)
    log = logging.getLogger("tests.json")
    log.info("no context")
    log_context.bind_job("feedfacefeedfacefeedfacefeedface", 77)
    try:
        log.warning("with context: %d", 5)
        log.info("extra wins", extra={"guild_id": 88})
    finally:
        log_context.bind_guild(None)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 3
    plain, ctx, extra = lines
    assert plain["level"] == "INFO" and plain["logger"] == "tests.json"
    assert plain["message"] == "no context" and "job_id" not in plain and "guild_id" not in plain
    assert dt.datetime.fromisoformat(plain["time"]).tzinfo is not None
    assert ctx == {**ctx, "level": "WARNING", "message": "with context: 5",
                   "job_id": "feedfacefeedfacefeedfacefeedface", "guild_id": 77}
    assert extra["guild_id"] == 88 and extra["job_id"] == "feedfacefeedfacefeedfacefeedface"


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_whole_records_are_redacted_tracebacks_included(stream: io.StringIO,
                                                        log_format: str) -> None:
    configure_logging("DEBUG", [SECRET], log_format=log_format, stream=stream)
    log = logging.getLogger("tests.redact")
    log.info("token in the message %s", SECRET)
    log.debug("PATCH %s with %s has returned 200", WEBHOOK_URL, None)
    log.debug("POST %s has received {}", CALLBACK_URL)
    try:
        _fail_with_secret()
    except RuntimeError:
        log.exception("the call failed")
    text = stream.getvalue()
    assert SECRET not in text and INTERACTION_TOKEN not in text
    assert text.count(REDACTED) == 5  # message, two URLs, and twice in the traceback
    assert "/webhooks/1100000000000000001/[redacted]/messages/@original" in text
    assert "/interactions/1400000000000000001/[redacted]/callback" in text
    assert "Traceback" in text and "_fail_with_secret" in text
    if log_format == "json":
        records = [json.loads(line) for line in text.splitlines()]
        assert len(records) == 4 and "RuntimeError" in records[-1]["exc_info"]


def test_json_logs_scrub_secrets_nested_in_extra_fields(stream: io.StringIO) -> None:
    configure_logging("INFO", [SECRET], log_format="json", stream=stream)
    logging.getLogger("tests.redact").info(
        "a payload", extra={"payload": {"auth": f"Bearer {SECRET}", "list": [SECRET]}})
    text = stream.getvalue()
    assert SECRET not in text and REDACTED in text
    assert json.loads(text)["payload"]["auth"] == f"Bearer {REDACTED}"


async def test_sql_statements_only_with_log_sql(stream: io.StringIO, tmp_path) -> None:
    async def some_sql() -> None:
        store = await Store.open(tmp_path / "bot.db")
        await store.get_job("0" * 32)
        await store.close()

    configure_logging("DEBUG", stream=stream)
    await some_sql()
    quiet = stream.getvalue()
    assert "opened database" in quiet  # DEBUG and INFO lines of the bot still show
    assert not [line for line in quiet.splitlines() if " aiosqlite: " in line]

    stream.truncate(0)
    stream.seek(0)
    configure_logging("INFO", log_sql=True, stream=stream)
    await some_sql()
    assert [line for line in stream.getvalue().splitlines() if " aiosqlite: " in line]
    assert not [line for line in stream.getvalue().splitlines() if " DEBUG " in line
                and " aiosqlite: " not in line]


def test_no_voice_warning_when_the_client_is_made(stream: io.StringIO) -> None:
    configure_logging("DEBUG", stream=stream)
    import discord

    import cogs.core.bot  # noqa: F401  (turns the voice warnings off)

    async def make() -> None:
        discord.Client(intents=discord.Intents.none())

    asyncio.run(make())
    assert "voice will NOT be supported" not in stream.getvalue()


def test_rate_limit_warnings_are_created_even_at_log_level_error(stream: io.StringIO) -> None:
    """The metrics counter listens on discord.py's HTTP loggers: they stay at WARNING, while
    the handler prints only what LOG_LEVEL asks for."""
    configure_logging("ERROR", stream=stream)
    http_log = logging.getLogger("discord.http")
    assert http_log.isEnabledFor(logging.WARNING)
    http_log.warning("We are being rate limited. %s %s responded with 429. Retrying in "
                     "%.2f seconds.", "PATCH", "https://discord.com/api/v10/x", 0.5)
    assert stream.getvalue() == ""


def test_in_the_background_lines_keep_their_context_redaction_and_order(
        stream: io.StringIO) -> None:
    """``python -m bot`` logs through a queue: the loop never waits for the write."""
    stop = configure_logging("INFO", [SECRET], stream=stream, background=True)
    log = logging.getLogger("tests.background")
    try:
        log_context.bind_job("0123456789abcdef0123456789abcdef", 4242)
        try:
            for number in range(50):
                log.info("line %d", number)
            try:
                _fail_with_secret()
            except RuntimeError:
                log.exception("it failed")
            log.debug("not at INFO")
        finally:
            log_context.bind_guild(None)
    finally:
        stop()  # flushes the queue
    lines = stream.getvalue().splitlines()
    assert [line.split(": ", 1)[1].split(" [")[0] for line in lines[:50]] == [
        f"line {n}" for n in range(50)]
    assert all(line.endswith("[job=01234567 guild=4242]") for line in lines[:50])
    text = stream.getvalue()
    assert "it failed" in text and "Traceback" in text
    assert SECRET not in text and INTERACTION_TOKEN not in text and REDACTED in text
    assert "not at INFO" not in text


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_in_the_background_a_traceback_stays_apart_from_the_message(
        stream: io.StringIO, log_format: str) -> None:
    stop = configure_logging("INFO", [SECRET], log_format=log_format, stream=stream,
                             background=True)
    try:
        try:
            _fail_with_secret()
        except RuntimeError:
            logging.getLogger("tests.background").critical("it failed: %s", "why",
                                                           exc_info=True)
    finally:
        stop()
    text = stream.getvalue()
    assert SECRET not in text and "Traceback" in text
    if log_format == "json":
        [line] = [json.loads(each) for each in text.splitlines()]
        assert line["message"] == "it failed: why"
        assert line["exc_info"].startswith("Traceback (most recent call last):")
        assert "RuntimeError: provider said: bad token [redacted]" in line["exc_info"]
    else:
        first, *rest = text.splitlines()
        assert first.endswith("CRITICAL tests.background: it failed: why")
        assert rest[0] == "Traceback (most recent call last):"
        assert rest[-1].startswith("RuntimeError: provider said: bad token [redacted]")


def test_python_warnings_are_log_lines(stream: io.StringIO) -> None:
    with warnings.catch_warnings():  # puts back how warnings were shown
        warnings.simplefilter("always")
        logging.captureWarnings(False)  # as in a new process
        try:
            configure_logging("INFO", [SECRET], log_format="json", stream=stream)
            warnings.warn(f"deprecated, says a library about {SECRET}", DeprecationWarning,
                          stacklevel=1)
        finally:
            logging.captureWarnings(False)
    [line] = [json.loads(each) for each in stream.getvalue().splitlines()]
    assert line["level"] == "WARNING" and line["logger"] == "py.warnings"
    assert "DeprecationWarning: deprecated, says a library about [redacted]" in line["message"]


def test_a_line_break_in_a_message_cannot_forge_a_log_line(stream: io.StringIO) -> None:
    configure_logging("INFO", stream=stream)
    forged = "2026-11-30T19:05:57.123+00:00 ERROR   cogs.core.bot: forged by the provider"
    logging.getLogger("bot.providers.runcomfy").info("request failed: %s", "boom\r\n" + forged)
    [line] = stream.getvalue().splitlines()
    assert line.endswith("request failed: boom\\r\\n" + forged)


def test_tokens_in_payload_dumps_are_redacted(stream: io.StringIO) -> None:
    configure_logging("INFO", stream=stream)
    event = {"op": 0, "t": "INTERACTION_CREATE", "d": {"token": INTERACTION_TOKEN, "id": "1"}}
    logging.getLogger("bot.test").info("event %s and %s", event, json.dumps(event))
    assert INTERACTION_TOKEN not in stream.getvalue()
    assert stream.getvalue().count(REDACTED) == 2


async def test_debug_logs_hold_no_payload_of_discord(stream: io.StringIO, fake: Any,
                                                     local_server: Any, tmp_path: Any) -> None:
    # discord.py writes every gateway event whole at DEBUG: the interaction's token and
    # the member's prompt.
    from tests.harness import chat_input, gateway_bot
    from tests.helpers import build_bot

    configure_logging("DEBUG", log_format="json", stream=stream)
    bot = await build_bot(fake, local_server, tmp_path / "bot.db")
    try:
        async with gateway_bot(fake, bot):
            payload = chat_input("ideogram", {"prompt": "a private prompt"})
            await fake.gateway.push_interaction(payload)
            await fake.wait_for(method="POST", path=rf"^/interactions/{payload['id']}/")
    finally:
        await bot.services.aclose()
    text = stream.getvalue()
    assert '"level": "DEBUG"' in text  # the bot's own DEBUG lines are there
    assert payload["token"] not in text and "a private prompt" not in text
