"""Drive the real discord.py machinery against a fake Discord on loopback.

The harness replaces Discord at the network boundary only: an aiohttp server on 127.0.0.1
plays Discord's REST API and its gateway websocket, and ``discord.http.Route.BASE`` points
at it, so every request discord.py makes (bot-token routes through ``HTTPClient``,
interaction routes through the webhook adapter, the gateway connection) is real network
traffic that the fake records and answers. Nothing reaches discord.com.

Typical use::

    from tests.harness import chat_input, dispatch, opt, running_bot

    async def test_draw(fake_discord):
        async with running_bot(fake_discord, MyBot()) as bot:
            await dispatch(bot, chat_input("draw", [opt("prompt", "a cat")]))
        assert fake_discord.interaction_callbacks()[0]["type"] == 5

The parts, one module each:

* payloads — :mod:`~tests.harness.ids` (the fixed guild, channels, users, permissions;
  ``from tests.harness import ids``, then ``ids.USER_ID``),
  :mod:`~tests.harness.objects` (users, guilds, attachments, components, messages),
  :mod:`~tests.harness.options` and :mod:`~tests.harness.interactions` (INTERACTION_CREATE
  payloads: :func:`chat_input`, :func:`autocomplete`, :func:`component`,
  :func:`message_context`);
* the fake Discord — :class:`FakeDiscord` (:mod:`~tests.harness.server`) with its message
  store, interaction routes, bot routes, request log and :mod:`~tests.harness.gateway`;
  it records every request (:class:`RecordedRequest`), serves uploaded attachments, can
  fail on demand (:meth:`FakeDiscord.fail_next`) and enforces Discord's limits
  (:mod:`~tests.harness.limits`);
* runners — in this process, :func:`running_bot` (login, cache filled from the fake, no
  gateway) with :func:`dispatch` (discord.py's own routing, waiting for every task it
  starts), or :func:`gateway_bot` (connected through the fake gateway); in a child
  process, :class:`BotProcess` runs the real ``python -m bot``.
"""

from tests.harness import ids
from tests.harness.bots import gateway_bot, make_bot, running_bot
from tests.harness.dispatch import Dispatched, HarnessDispatchError, dispatch, start_dispatch
from tests.harness.gateway import FakeGateway, GatewayError, GatewaySession, shard_for
from tests.harness.ids import (
    APP_PERMISSIONS,
    PERMS_ADMIN,
    PERMS_MANAGE_GUILD,
    PERMS_MEMBER,
    new_snowflake,
    new_token,
    png_bytes,
)
from tests.harness.interactions import (
    autocomplete,
    chat_input,
    component,
    message_context,
    modal_submit,
)
from tests.harness.limits import validate_message_body
from tests.harness.objects import (
    action_row,
    attachment_payload,
    button,
    channel_payload,
    guild_payload,
    member_payload,
    message_payload,
    role_payload,
    string_select,
    user_payload,
)
from tests.harness.options import attachment_option, channel_option, opt, user_option
from tests.harness.process import BotProcess, bot_process_env
from tests.harness.records import FailureRule, InteractionRecord, RecordedFile, RecordedRequest
from tests.harness.server import FakeDiscord, fake_with_log_channel
from tests.harness.waiting import eventually

__all__ = [
    "APP_PERMISSIONS",
    "PERMS_ADMIN",
    "PERMS_MANAGE_GUILD",
    "PERMS_MEMBER",
    "BotProcess",
    "Dispatched",
    "FailureRule",
    "FakeDiscord",
    "FakeGateway",
    "GatewayError",
    "GatewaySession",
    "HarnessDispatchError",
    "InteractionRecord",
    "RecordedFile",
    "RecordedRequest",
    "action_row",
    "attachment_option",
    "attachment_payload",
    "autocomplete",
    "bot_process_env",
    "button",
    "channel_option",
    "channel_payload",
    "chat_input",
    "component",
    "dispatch",
    "eventually",
    "fake_with_log_channel",
    "gateway_bot",
    "guild_payload",
    "ids",
    "make_bot",
    "member_payload",
    "message_context",
    "message_payload",
    "modal_submit",
    "new_snowflake",
    "new_token",
    "opt",
    "png_bytes",
    "role_payload",
    "running_bot",
    "shard_for",
    "start_dispatch",
    "string_select",
    "user_option",
    "user_payload",
    "validate_message_body",
]
