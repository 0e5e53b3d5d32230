"""Drive the real discord.py machinery against a fake Discord HTTP API.

The harness replaces Discord at the HTTP boundary only: an aiohttp server on
127.0.0.1 plays the Discord REST API, and ``discord.http.Route.BASE`` points at
it, so every request discord.py makes (bot-token routes through ``HTTPClient``
and interaction routes through the webhook adapter) is real HTTP that the fake
records and answers. Nothing reaches discord.com.

Typical use::

    from tests.discord_harness import (
        chat_input, dispatch, fake_discord, opt, running_bot,  # noqa: F401
    )

    async def test_draw(fake_discord):
        async with running_bot(fake_discord, MyBot()) as bot:
            await dispatch(bot, chat_input("draw", [opt("prompt", "a cat")]))
        assert fake_discord.interaction_callbacks()[0]["type"] == 5

* :class:`FakeDiscord` is the server (``async with FakeDiscord() as fake``, or
  the ``fake_discord`` pytest fixture). It records every request
  (:class:`RecordedRequest`), keeps a message store, serves uploaded
  attachments, validates Discord's limits and can fail on demand
  (:meth:`FakeDiscord.fail_next`).
* Builders (:func:`chat_input`, :func:`autocomplete`, :func:`component`,
  :func:`message_context`, :func:`message_payload`, ...) return raw
  INTERACTION_CREATE / message dicts as the gateway would deliver them.
* :func:`running_bot` logs a bot in against the fake (``GET /users/@me``,
  ``GET /oauth2/applications/@me``, then ``setup_hook``, exactly like
  ``Client.login``) and puts the fake's guilds into the bot's cache.
* :func:`dispatch` feeds a payload through the same routing as
  ``ConnectionState.parse_interaction_create`` and waits until every task
  discord.py spawned for it (command invoker, view/dynamic-item/modal callbacks,
  ``on_interaction`` listeners) has finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
import itertools
import json as jsonlib
import logging
import mimetypes
import re
import secrets
import struct
import weakref
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypedDict, TypeVar, Unpack

import discord
import pytest_asyncio
import yarl
from aiohttp import BodyPartReader, web
from discord.ext import commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from tests.harness.gateway import GATEWAY_PATH, FakeGateway

__all__ = [
    "APPLICATION_ID",
    "APP_PERMISSIONS",
    "BOT_USER_ID",
    "CHANNEL_ID",
    "GUILD_ID",
    "LOG_CHANNEL_ID",
    "MOD_ROLE_ID",
    "MOD_USER_ID",
    "OTHER_USER_ID",
    "OWNER_USER_ID",
    "PERMS_ADMIN",
    "PERMS_MANAGE_GUILD",
    "PERMS_MEMBER",
    "USER_ID",
    "Dispatched",
    "FailureRule",
    "FakeDiscord",
    "HarnessDispatchError",
    "InteractionRecord",
    "RecordedFile",
    "RecordedRequest",
    "action_row",
    "attachment_option",
    "attachment_payload",
    "autocomplete",
    "button",
    "channel_option",
    "channel_payload",
    "chat_input",
    "component",
    "dispatch",
    "fake_discord",
    "gateway_bot",
    "guild_payload",
    "make_bot",
    "member_payload",
    "message_context",
    "message_payload",
    "new_snowflake",
    "new_token",
    "opt",
    "png_bytes",
    "role_payload",
    "running_bot",
    "start_dispatch",
    "string_select",
    "user_option",
    "user_payload",
    "validate_message_body",
]

# --------------------------------------------------------------------------- ids

#: The application id; also the bot user's id (as for every modern Discord app).
APPLICATION_ID = 1100000000000000001
BOT_USER_ID = APPLICATION_ID
GUILD_ID = 1200000000000000001
CHANNEL_ID = 1300000000000000001  # "general", where interactions happen by default
LOG_CHANNEL_ID = 1300000000000000002  # "mod-log"
USER_ID = 1400000000000000001  # "alice", a plain member (the default interaction user)
OTHER_USER_ID = 1400000000000000002  # "bob", another plain member
MOD_USER_ID = 1400000000000000003  # "morgan", has the Moderator role (Manage Server)
OWNER_USER_ID = 1400000000000000004  # "olivia", owns the guild
MOD_ROLE_ID = 1500000000000000001

DEFAULT_ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024  # 10 MiB, Discord's default upload limit

# ------------------------------------------------------------------- permissions

_P = discord.Permissions
#: What @everyone typically has: read/send/embed/attach/react/use commands.
PERMS_MEMBER = str(
    _P(
        view_channel=True,
        send_messages=True,
        send_messages_in_threads=True,
        create_public_threads=True,
        embed_links=True,
        attach_files=True,
        read_message_history=True,
        add_reactions=True,
        use_external_emojis=True,
        use_external_stickers=True,
        use_application_commands=True,
        change_nickname=True,
        connect=True,
        speak=True,
    ).value
)
#: A moderator: member permissions plus Manage Server (and Manage Messages).
PERMS_MANAGE_GUILD = str(int(PERMS_MEMBER) | _P(manage_guild=True, manage_messages=True).value)
#: Everything, including Administrator.
PERMS_ADMIN = str(_P.all().value)
#: The bot's own permissions in the channel (``app_permissions``).
APP_PERMISSIONS = str(
    _P(
        view_channel=True,
        send_messages=True,
        send_messages_in_threads=True,
        embed_links=True,
        attach_files=True,
        read_message_history=True,
        add_reactions=True,
        use_external_emojis=True,
    ).value
)

# (username, default interaction permissions, roles)
_KNOWN_USERS: dict[int, tuple[str, str, tuple[int, ...]]] = {
    USER_ID: ("alice", PERMS_MEMBER, ()),
    OTHER_USER_ID: ("bob", PERMS_MEMBER, ()),
    MOD_USER_ID: ("morgan", PERMS_MANAGE_GUILD, (MOD_ROLE_ID,)),
    OWNER_USER_ID: ("olivia", PERMS_ADMIN, ()),
}
BOT_USERNAME = "Ideogram Harness Bot"

# ---------------------------------------------------------------------- helpers

_seq = itertools.count(1)


def new_snowflake(when: datetime.datetime | None = None) -> int:
    """A unique snowflake whose timestamp is *when* (default: now), so ``created_at`` is current."""
    when = when or datetime.datetime.now(datetime.UTC)
    return discord.utils.time_snowflake(when) + (next(_seq) % (1 << 22))


def new_token() -> str:
    """A fresh, unique interaction token."""
    return "harness-" + secrets.token_urlsafe(24)


def _iso(snowflake: int) -> str:
    return discord.utils.snowflake_time(snowflake).isoformat()


def _now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def png_bytes(width: int = 2, height: int = 2, rgb: tuple[int, int, int] = (200, 40, 120)) -> bytes:
    """A valid, tiny RGB PNG (no Pillow needed)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    row = b"\x00" + bytes(rgb) * width
    raw = row * height
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    return None


# ----------------------------------------------------------- payload builders


def user_payload(
    user_id: int = USER_ID,
    *,
    username: str | None = None,
    global_name: str | None = None,
    bot: bool = False,
) -> dict[str, Any]:
    """A Discord user object."""
    if username is None:
        known = _KNOWN_USERS.get(user_id)
        if user_id == BOT_USER_ID:
            username, bot = BOT_USERNAME, True
        else:
            username = known[0] if known else f"user{user_id % 10000}"
    data: dict[str, Any] = {
        "id": str(user_id),
        "username": username,
        "discriminator": "0",
        "global_name": global_name if global_name is not None else username.title(),
        "avatar": None,
        "public_flags": 0,
        "flags": 0,
    }
    if bot:
        data["bot"] = True
    return data


def _default_perms_roles(user_id: int) -> tuple[str, tuple[int, ...]]:
    known = _KNOWN_USERS.get(user_id)
    if known:
        return known[1], known[2]
    return PERMS_MEMBER, ()


def member_payload(
    user_id: int = USER_ID,
    *,
    username: str | None = None,
    roles: Iterable[int] | None = None,
    permissions: str | None = None,
    nick: str | None = None,
    include_user: bool = True,
) -> dict[str, Any]:
    """A guild member object. ``permissions`` (a string of bits) is only set when given:
    interaction members carry it, guild member lists do not."""
    default_roles = _default_perms_roles(user_id)[1]
    data: dict[str, Any] = {
        "roles": [str(r) for r in (default_roles if roles is None else roles)],
        "joined_at": "2024-01-01T00:00:00+00:00",
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "nick": nick,
        "avatar": None,
        "communication_disabled_until": None,
    }
    if include_user:
        data["user"] = user_payload(user_id, username=username)
    if permissions is not None:
        data["permissions"] = permissions
    return data


def channel_payload(
    channel_id: int = CHANNEL_ID,
    *,
    guild_id: int | None = GUILD_ID,
    name: str | None = None,
    type: int = 0,
    position: int = 0,
    permissions: str | None = None,
) -> dict[str, Any]:
    """A guild text channel object (``type`` 0). ``permissions`` is what interaction
    payloads carry for the invoking member."""
    if name is None:
        name = {CHANNEL_ID: "general", LOG_CHANNEL_ID: "mod-log"}.get(
            channel_id, f"channel-{position}"
        )
    data: dict[str, Any] = {
        "id": str(channel_id),
        "type": type,
        "name": name,
        "position": position,
        "permission_overwrites": [],
        "nsfw": False,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "parent_id": None,
        "flags": 0,
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    if permissions is not None:
        data["permissions"] = permissions
    return data


def role_payload(
    role_id: int, *, name: str, permissions: str, position: int = 0, color: int = 0
) -> dict[str, Any]:
    """A role object."""
    return {
        "id": str(role_id),
        "name": name,
        "color": color,
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": permissions,
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }


def guild_payload(
    guild_id: int = GUILD_ID,
    *,
    name: str = "Harness Guild",
    channels: Sequence[Mapping[str, Any]] | None = None,
    roles: Sequence[Mapping[str, Any]] | None = None,
    members: Sequence[Mapping[str, Any]] | None = None,
    owner_id: int = OWNER_USER_ID,
) -> dict[str, Any]:
    """A full guild (as in GUILD_CREATE). Defaults: channels ``general`` (CHANNEL_ID) and
    ``mod-log`` (LOG_CHANNEL_ID); roles @everyone (PERMS_MEMBER) and Moderator
    (MOD_ROLE_ID, PERMS_MANAGE_GUILD); members: the bot, alice, bob, morgan, olivia."""
    if channels is None:
        channels = [
            channel_payload(CHANNEL_ID, guild_id=guild_id, position=0),
            channel_payload(LOG_CHANNEL_ID, guild_id=guild_id, position=1),
        ]
    if roles is None:
        roles = [
            role_payload(guild_id, name="@everyone", permissions=PERMS_MEMBER, position=0),
            role_payload(MOD_ROLE_ID, name="Moderator", permissions=PERMS_MANAGE_GUILD, position=1),
        ]
    if members is None:
        members = [member_payload(BOT_USER_ID, roles=())] + [
            member_payload(uid) for uid in (USER_ID, OTHER_USER_ID, MOD_USER_ID, OWNER_USER_ID)
        ]
    return {
        "id": str(guild_id),
        "name": name,
        "icon": None,
        "owner_id": str(owner_id),
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "afk_timeout": 300,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "preferred_locale": "en-US",
        "features": [],
        "emojis": [],
        "stickers": [],
        "roles": [dict(r) for r in roles],
        "channels": [dict(c) for c in channels],
        "threads": [],
        "members": [dict(m) for m in members],
        "voice_states": [],
        "presences": [],
        "member_count": len(members),
        "large": False,
        "unavailable": False,
        "system_channel_id": None,
        "rules_channel_id": None,
        "joined_at": "2024-01-01T00:00:00+00:00",
    }


def attachment_payload(
    filename: str = "image.png",
    *,
    content_type: str | None = None,
    data: bytes | None = None,
    size: int | None = None,
    url: str | None = None,
    attachment_id: int | None = None,
    width: int | None = None,
    height: int | None = None,
    channel_id: int = CHANNEL_ID,
) -> dict[str, Any]:
    """An attachment object. With ``data``, the bytes are registered with the running
    :class:`FakeDiscord` and ``url`` points at it (``GET /attachments/...`` serves them),
    so ``await attachment.read()`` works. Without ``data`` and ``url``, the url still
    points at the running fake (and 404s) or, with no fake running, at cdn.discordapp.com."""
    attachment_id = attachment_id or new_snowflake()
    if content_type is None:
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    if data is not None:
        size = len(data) if size is None else size
        dims = _png_size(data)
        if dims and width is None and height is None:
            width, height = dims
    fake = FakeDiscord.current()
    if url is None:
        if fake is not None:
            url = fake.attachment_url(channel_id, attachment_id, filename)
        else:
            if data is not None:
                raise RuntimeError("attachment_payload(data=...) needs a running FakeDiscord")
            url = f"https://cdn.discordapp.com/attachments/{channel_id}/{attachment_id}/{filename}"
    if data is not None and fake is not None:
        fake.attachment_data[attachment_id] = (data, content_type)
    payload: dict[str, Any] = {
        "id": str(attachment_id),
        "filename": filename,
        "size": size if size is not None else 0,
        "url": url,
        "proxy_url": url,
        "content_type": content_type,
        "flags": 0,
    }
    if width is not None and height is not None:
        payload["width"] = width
        payload["height"] = height
    return payload


def button(
    custom_id: str | None,
    *,
    label: str = "Button",
    style: int = 1,
    url: str | None = None,
    disabled: bool = False,
) -> dict[str, Any]:
    """A button component (style 5 = link button with ``url`` and no custom_id)."""
    data: dict[str, Any] = {"type": 2, "style": style, "label": label, "disabled": disabled}
    if custom_id is not None:
        data["custom_id"] = custom_id
    if url is not None:
        data["url"] = url
    return data


def string_select(
    custom_id: str,
    options: Sequence[str | Mapping[str, Any]],
    *,
    placeholder: str | None = None,
    min_values: int = 1,
    max_values: int = 1,
) -> dict[str, Any]:
    """A string select component; options are values or full option dicts."""
    opts = [
        {"label": o, "value": o, "default": False} if isinstance(o, str) else dict(o)
        for o in options
    ]
    data: dict[str, Any] = {
        "type": 3,
        "custom_id": custom_id,
        "options": opts,
        "min_values": min_values,
        "max_values": max_values,
        "disabled": False,
    }
    if placeholder is not None:
        data["placeholder"] = placeholder
    return data


def action_row(*components: Mapping[str, Any]) -> dict[str, Any]:
    """An action row holding *components*."""
    return {"type": 1, "components": [dict(c) for c in components]}


def message_payload(
    content: str = "",
    *,
    message_id: int | None = None,
    channel_id: int = CHANNEL_ID,
    guild_id: int | None = GUILD_ID,
    author: Mapping[str, Any] | None = None,
    attachments: Sequence[Mapping[str, Any]] = (),
    embeds: Sequence[Mapping[str, Any] | discord.Embed] = (),
    components: Sequence[Mapping[str, Any]] = (),
    flags: int = 0,
    webhook_id: int | None = None,
    application_id: int | None = None,
    interaction_metadata: Mapping[str, Any] | None = None,
    edited: bool = False,
) -> dict[str, Any]:
    """A full message object. ``author`` defaults to alice (USER_ID); pass
    ``user_payload(BOT_USER_ID)`` for one of the bot's messages. Embeds may be
    :class:`discord.Embed` instances."""
    message_id = message_id or new_snowflake()
    data: dict[str, Any] = {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "author": dict(author) if author is not None else user_payload(USER_ID),
        "content": content,
        "timestamp": _iso(message_id),
        "edited_timestamp": _now_iso() if edited else None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "mention_channels": [],
        "attachments": [dict(a) for a in attachments],
        "embeds": [e.to_dict() if isinstance(e, discord.Embed) else dict(e) for e in embeds],
        "components": [dict(c) for c in components],
        "reactions": [],
        "pinned": False,
        "type": 0,
        "flags": flags,
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    if webhook_id is not None:
        data["webhook_id"] = str(webhook_id)
    if application_id is not None:
        data["application_id"] = str(application_id)
    if interaction_metadata is not None:
        data["interaction_metadata"] = dict(interaction_metadata)
    return data


# ----------------------------------------------------------------- options

_RESOLVED_KEY = "__resolved__"  # private: carried on option dicts, moved into data.resolved


def opt(name: str, value: Any, type: int | None = None) -> dict[str, Any]:
    """An option in wire format; ``type`` is inferred: bool 5, int 4, float 10, str 3.
    Use :func:`attachment_option`, :func:`user_option`, :func:`channel_option` for
    types 11, 6 and 7 (they need ``resolved`` data)."""
    if type is None:
        if isinstance(value, bool):
            type = 5
        elif isinstance(value, int):
            type = 4
        elif isinstance(value, float):
            type = 10
        elif isinstance(value, str):
            type = 3
        else:
            raise TypeError(f"cannot infer the option type of {value!r}; pass type=")
    return {"name": name, "type": type, "value": value}


def attachment_option(
    name: str,
    *,
    filename: str = "image.png",
    content_type: str | None = None,
    size: int | None = None,
    url: str | None = None,
    data: bytes | None = None,
    width: int | None = None,
    height: int | None = None,
    attachment: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An attachment option (type 11). The matching ``resolved.attachments`` entry rides
    along and is moved into ``data.resolved`` by :func:`chat_input`/:func:`autocomplete`.
    Pass ``data=`` (bytes served by the running fake) or a prebuilt ``attachment``."""
    att = (
        dict(attachment)
        if attachment is not None
        else attachment_payload(
            filename,
            content_type=content_type,
            data=data,
            size=size,
            url=url,
            width=width,
            height=height,
        )
    )
    return {
        "name": name,
        "type": 11,
        "value": att["id"],
        _RESOLVED_KEY: {"attachments": {att["id"]: att}},
    }


def user_option(
    name: str,
    user_id: int,
    *,
    username: str | None = None,
    roles: Iterable[int] | None = None,
    permissions: str | None = None,
    as_member: bool = True,
) -> dict[str, Any]:
    """A user option (type 6) with ``resolved.users`` (and ``resolved.members``)."""
    perms = permissions if permissions is not None else _default_perms_roles(user_id)[0]
    resolved: dict[str, Any] = {"users": {str(user_id): user_payload(user_id, username=username)}}
    if as_member:
        resolved["members"] = {
            str(user_id): member_payload(
                user_id, roles=roles, permissions=perms, include_user=False
            )
        }
    return {"name": name, "type": 6, "value": str(user_id), _RESOLVED_KEY: resolved}


def channel_option(
    name: str,
    channel_id: int,
    *,
    channel_name: str | None = None,
    channel_type: int = 0,
    permissions: str = PERMS_MEMBER,
) -> dict[str, Any]:
    """A channel option (type 7) with ``resolved.channels``."""
    ch = channel_payload(channel_id, guild_id=None, name=channel_name, type=channel_type)
    ch["permissions"] = permissions
    return {
        "name": name,
        "type": 7,
        "value": str(channel_id),
        _RESOLVED_KEY: {"channels": {str(channel_id): ch}},
    }


def _merge_resolved(into: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for kind, entries in extra.items():
        into.setdefault(kind, {}).update(copy.deepcopy(dict(entries)))


def _normalise_options(
    options: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None,
    resolved: dict[str, Any],
) -> list[dict[str, Any]]:
    if options is None:
        return []
    if isinstance(options, Mapping):
        items = [opt(k, v) for k, v in options.items()]
    else:
        items = [copy.deepcopy(dict(o)) for o in options]
    out: list[dict[str, Any]] = []
    for o in items:
        extra = o.pop(_RESOLVED_KEY, None)
        if extra:
            _merge_resolved(resolved, extra)
        if "options" in o:
            o["options"] = _normalise_options(o["options"], resolved)
        out.append(o)
    return out


def _wrap_subcommand(options: list[dict[str, Any]], subcommand: str | None) -> list[dict[str, Any]]:
    if not subcommand:
        return options
    parts = subcommand.split()
    if len(parts) == 1:
        return [{"name": parts[0], "type": 1, "options": options}]
    if len(parts) == 2:
        return [
            {
                "name": parts[0],
                "type": 2,
                "options": [{"name": parts[1], "type": 1, "options": options}],
            }
        ]
    raise ValueError(f"subcommand {subcommand!r}: expected 'sub' or 'group sub'")


# ------------------------------------------------------------- interactions


class InteractionContext(TypedDict, total=False):
    """Keyword arguments shared by every interaction builder."""

    user_id: int  # default USER_ID
    username: str
    permissions: (
        str  # default: PERMS_MANAGE_GUILD for MOD_USER_ID, PERMS_ADMIN for owner, else PERMS_MEMBER
    )
    roles: Iterable[int]
    guild_id: int | None  # None = a DM with the bot
    channel_id: int
    app_permissions: str
    locale: str
    guild_locale: str
    attachment_size_limit: int
    application_id: int
    interaction_id: int
    token: str


def _envelope(type: int, data: dict[str, Any] | None, ctx: InteractionContext) -> dict[str, Any]:
    user_id = ctx.get("user_id", USER_ID)
    guild_id = ctx.get("guild_id", GUILD_ID)
    channel_id = ctx.get("channel_id", CHANNEL_ID)
    default_perms, default_roles = _default_perms_roles(user_id)
    permissions = ctx.get("permissions", default_perms)
    application_id = ctx.get("application_id", APPLICATION_ID)
    payload: dict[str, Any] = {
        "id": str(ctx.get("interaction_id") or new_snowflake()),
        "application_id": str(application_id),
        "type": type,
        "token": ctx.get("token") or new_token(),
        "version": 1,
        "attachment_size_limit": ctx.get("attachment_size_limit", DEFAULT_ATTACHMENT_SIZE_LIMIT),
        "app_permissions": ctx.get("app_permissions", APP_PERMISSIONS),
        "locale": ctx.get("locale", "en-US"),
        "entitlements": [],
        "entitlement_sku_ids": [],
    }
    if data is not None:
        payload["data"] = data
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
        payload["guild_locale"] = ctx.get("guild_locale", "en-US")
        payload["guild"] = {"id": str(guild_id), "locale": payload["guild_locale"], "features": []}
        payload["channel_id"] = str(channel_id)
        payload["channel"] = channel_payload(channel_id, guild_id=guild_id, permissions=permissions)
        payload["member"] = member_payload(
            user_id,
            username=ctx.get("username"),
            roles=ctx.get("roles", default_roles),
            permissions=permissions,
        )
        payload["authorizing_integration_owners"] = {"0": str(guild_id)}
        payload["context"] = 0
    else:
        user = user_payload(user_id, username=ctx.get("username"))
        payload["user"] = user
        payload["channel_id"] = str(channel_id)
        payload["channel"] = {
            "id": str(channel_id),
            "type": 1,
            "last_message_id": None,
            "flags": 0,
            "recipients": [user],
        }
        payload["authorizing_integration_owners"] = {"0": "0"}
        payload["context"] = 1
    return payload


def chat_input(
    name: str,
    options: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
    *,
    subcommand: str | None = None,
    resolved: Mapping[str, Any] | None = None,
    command_id: int | None = None,
    command_guild_id: int | None = None,
    **context: Unpack[InteractionContext],
) -> dict[str, Any]:
    """A slash-command INTERACTION_CREATE (type 2, data.type 1).

    ``options``: wire-format dicts (see :func:`opt`) or a ``{name: value}`` mapping.
    ``subcommand``: ``"set"`` or ``"group sub"``. ``command_guild_id``: set ``data.guild_id``
    for a guild-registered command."""
    res: dict[str, Any] = copy.deepcopy(dict(resolved)) if resolved else {}
    opts = _wrap_subcommand(_normalise_options(options, res), subcommand)
    data: dict[str, Any] = {
        "id": str(command_id or new_snowflake()),
        "name": name,
        "type": 1,
        "options": opts,
    }
    if res:
        data["resolved"] = res
    if command_guild_id is not None:
        data["guild_id"] = str(command_guild_id)
    return _envelope(2, data, context)


def autocomplete(
    name: str,
    options: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None,
    focused: str,
    *,
    subcommand: str | None = None,
    command_id: int | None = None,
    command_guild_id: int | None = None,
    **context: Unpack[InteractionContext],
) -> dict[str, Any]:
    """An autocomplete INTERACTION_CREATE (type 4). The option named *focused* gets
    ``"focused": true`` (added as an empty string option if missing)."""
    res: dict[str, Any] = {}
    opts = _normalise_options(options, res)
    for o in opts:
        if o["name"] == focused:
            o["focused"] = True
            break
    else:
        opts.append({"name": focused, "type": 3, "value": "", "focused": True})
    data: dict[str, Any] = {
        "id": str(command_id or new_snowflake()),
        "name": name,
        "type": 1,
        "options": _wrap_subcommand(opts, subcommand),
    }
    if res:
        data["resolved"] = res
    if command_guild_id is not None:
        data["guild_id"] = str(command_guild_id)
    return _envelope(4, data, context)


def component(
    custom_id: str,
    *,
    component_type: int = 2,
    values: Sequence[str] | None = None,
    message: Mapping[str, Any] | None = None,
    resolved: Mapping[str, Any] | None = None,
    **context: Unpack[InteractionContext],
) -> dict[str, Any]:
    """A component INTERACTION_CREATE (type 3): a button click (``component_type=2``) or a
    select (3 string, 5 user, 6 role, 7 mentionable, 8 channel; pass ``values``).

    ``message`` is the message the component is attached to; by default one of the bot's
    messages holding just this component (a DynamicItem needs the component to be in it)."""
    guild_id = context.get("guild_id", GUILD_ID)
    channel_id = context.get("channel_id", CHANNEL_ID)
    if message is None:
        if component_type == 2:
            comp = button(custom_id)
        elif component_type == 3:
            comp = string_select(custom_id, list(values or ["option"]))
        else:
            comp = {"type": component_type, "custom_id": custom_id}
        message = message_payload(
            "",
            channel_id=channel_id,
            guild_id=guild_id,
            author=user_payload(BOT_USER_ID),
            components=[action_row(comp)],
            application_id=context.get("application_id", APPLICATION_ID),
        )
    data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
    if values is not None or component_type != 2:
        data["values"] = list(values or [])
    if resolved:
        data["resolved"] = copy.deepcopy(dict(resolved))
    payload = _envelope(3, data, context)
    payload["message"] = copy.deepcopy(dict(message))
    return payload


def message_context(
    name: str,
    target_message: Mapping[str, Any],
    *,
    command_id: int | None = None,
    command_guild_id: int | None = None,
    **context: Unpack[InteractionContext],
) -> dict[str, Any]:
    """A message context-menu INTERACTION_CREATE (type 2, data.type 3) on *target_message*
    (see :func:`message_payload`)."""
    msg = copy.deepcopy(dict(target_message))
    data: dict[str, Any] = {
        "id": str(command_id or new_snowflake()),
        "name": name,
        "type": 3,
        "target_id": msg["id"],
        "resolved": {"messages": {msg["id"]: msg}},
    }
    if command_guild_id is not None:
        data["guild_id"] = str(command_guild_id)
    return _envelope(2, data, context)


# --------------------------------------------------------------- validation

_EMBED_TOTAL = 6000


def _validate_components(components: Sequence[Any], *, v2: bool) -> list[str]:
    errors: list[str] = []
    custom_ids: list[str] = []

    def check_item(c: Mapping[str, Any], where: str) -> None:
        ctype = c.get("type")
        cid = c.get("custom_id")
        if ctype == 2 and c.get("style") in (5, 6):
            if cid is not None:
                errors.append(f"{where}: link/premium buttons cannot have a custom_id")
        elif ctype in (2, 3, 4, 5, 6, 7, 8):
            if not isinstance(cid, str) or not 1 <= len(cid) <= 100:
                errors.append(f"{where}: custom_id must be 1-100 characters, got {cid!r}")
            else:
                custom_ids.append(cid)
        if ctype == 2 and len(c.get("label") or "") > 80:
            errors.append(f"{where}: button label longer than 80 characters")
        if ctype == 3:
            options = c.get("options") or []
            if not 1 <= len(options) <= 25:
                errors.append(f"{where}: a select needs 1-25 options, got {len(options)}")
            for o in options:
                if (
                    not 1 <= len(o.get("label") or "") <= 100
                    or not 1 <= len(o.get("value") or "") <= 100
                ):
                    errors.append(f"{where}: select option label/value must be 1-100 characters")
        if ctype in (3, 5, 6, 7, 8) and len(c.get("placeholder") or "") > 150:
            errors.append(f"{where}: placeholder longer than 150 characters")

    def walk(c: Mapping[str, Any], where: str) -> None:
        check_item(c, where)
        for i, child in enumerate(c.get("components") or []):
            walk(child, f"{where}.components[{i}]")
        accessory = c.get("accessory")
        if isinstance(accessory, Mapping):
            walk(accessory, f"{where}.accessory")
        inner = c.get("component")
        if isinstance(inner, Mapping):
            walk(inner, f"{where}.component")

    if v2:
        for i, c in enumerate(components):
            walk(c, f"components[{i}]")
    else:
        if len(components) > 5:
            errors.append(f"components: at most 5 action rows, got {len(components)}")
        for r, row in enumerate(components):
            if row.get("type") != 1:
                errors.append(f"components[{r}]: top-level components must be action rows")
                continue
            children = row.get("components") or []
            if not 1 <= len(children) <= 5:
                errors.append(
                    f"components[{r}]: an action row holds 1-5 components, got {len(children)}"
                )
            if any(c.get("type") in (3, 5, 6, 7, 8) for c in children) and len(children) > 1:
                errors.append(f"components[{r}]: a select menu must be alone in its row")
            for i, c in enumerate(children):
                check_item(c, f"components[{r}].components[{i}]")
    dupes = sorted({c for c in custom_ids if custom_ids.count(c) > 1})
    if dupes:
        errors.append(f"components: duplicate custom_id(s) {dupes}")
    return errors


def _validate_embeds(embeds: Sequence[Any]) -> list[str]:
    errors: list[str] = []
    if len(embeds) > 10:
        errors.append(f"embeds: at most 10, got {len(embeds)}")
    total = 0
    for i, e in enumerate(embeds):
        where = f"embeds[{i}]"
        title = e.get("title") or ""
        desc = e.get("description") or ""
        footer = (e.get("footer") or {}).get("text") or ""
        author = (e.get("author") or {}).get("name") or ""
        fields = e.get("fields") or []
        for label, value, limit in (
            ("title", title, 256),
            ("description", desc, 4096),
            ("footer.text", footer, 2048),
            ("author.name", author, 256),
        ):
            if len(value) > limit:
                errors.append(f"{where}.{label}: {len(value)} > {limit} characters")
        if len(fields) > 25:
            errors.append(f"{where}.fields: at most 25, got {len(fields)}")
        for j, f in enumerate(fields):
            name, value = f.get("name") or "", f.get("value") or ""
            if not 1 <= len(name) <= 256:
                errors.append(f"{where}.fields[{j}].name must be 1-256 characters")
            if not 1 <= len(value) <= 1024:
                errors.append(f"{where}.fields[{j}].value must be 1-1024 characters")
            total += len(name) + len(value)
        total += len(title) + len(desc) + len(footer) + len(author)
    if total > _EMBED_TOTAL:
        errors.append(f"embeds: {total} > {_EMBED_TOTAL} characters in all")
    return errors


def validate_message_body(body: Mapping[str, Any]) -> list[str]:
    """Discord's limits on a message create/edit body; returns error strings."""
    errors: list[str] = []
    content = body.get("content")
    if isinstance(content, str) and len(content) > 2000:
        errors.append(f"content: {len(content)} > 2000 characters")
    errors += _validate_embeds(body.get("embeds") or [])
    flags = body.get("flags") or 0
    errors += _validate_components(body.get("components") or [], v2=bool(flags & (1 << 15)))
    if len(body.get("attachments") or []) > 10:
        errors.append("attachments: at most 10")
    return errors


def _validate_choices(choices: Sequence[Any]) -> list[str]:
    errors: list[str] = []
    if len(choices) > 25:
        errors.append(f"choices: at most 25, got {len(choices)}")
    for i, c in enumerate(choices):
        if not 1 <= len(c.get("name") or "") <= 100:
            errors.append(f"choices[{i}].name must be 1-100 characters")
        value = c.get("value")
        if isinstance(value, str) and len(value) > 100:
            errors.append(f"choices[{i}].value longer than 100 characters")
    return errors


_COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")


def _validate_commands(commands_: Sequence[Any]) -> list[str]:
    errors: list[str] = []

    def check_options(options: Sequence[Any], where: str) -> None:
        if len(options) > 25:
            errors.append(f"{where}.options: at most 25")
        seen_optional = False
        for i, o in enumerate(options):
            w = f"{where}.options[{i}]"
            name = o.get("name") or ""
            if not _COMMAND_NAME.match(name) or name != name.lower():
                errors.append(f"{w}.name {name!r} invalid")
            if not 1 <= len(o.get("description") or "") <= 100:
                errors.append(f"{w}.description must be 1-100 characters")
            errors.extend(f"{w}.{e}" for e in _validate_choices(o.get("choices") or []))
            if o.get("type") in (1, 2):
                check_options(o.get("options") or [], w)
            elif o.get("required"):
                if seen_optional:
                    errors.append(f"{w}: required options must come before optional ones")
            else:
                seen_optional = True

    for i, c in enumerate(commands_):
        where = f"commands[{i}]"
        name = c.get("name") or ""
        if c.get("type", 1) == 1:
            if not _COMMAND_NAME.match(name) or name != name.lower():
                errors.append(f"{where}.name {name!r} invalid")
            if not 1 <= len(c.get("description") or "") <= 100:
                errors.append(f"{where}.description must be 1-100 characters")
            check_options(c.get("options") or [], where)
        elif not 1 <= len(name) <= 32:
            errors.append(f"{where}.name must be 1-32 characters")
    return errors


# ------------------------------------------------------------- fake server


@dataclass
class RecordedFile:
    """One uploaded file part of a multipart request."""

    filename: str | None
    content_type: str | None
    data: bytes
    field_name: str = ""


@dataclass
class RecordedRequest:
    """One request the fake received.

    ``path`` is relative to the API base (``/interactions/1/tok/callback``; attachment
    downloads are ``/attachments/...``). ``json`` is the JSON body, or for a multipart
    request the parsed ``payload_json`` part (then also in ``form_payload``).
    ``auth_scheme`` is ``"Bot"`` for bot-token requests, ``None`` for webhook ones
    (the Authorization header itself is never recorded)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None
    files: list[RecordedFile] = field(default_factory=list)
    form_payload: Any = None
    auth_scheme: str | None = None
    status: int = 0
    response: Any = None
    index: int = 0

    @property
    def is_multipart(self) -> bool:
        return self.form_payload is not None

    def __repr__(self) -> str:
        return f"<RecordedRequest #{self.index} {self.method} {self.path} -> {self.status}>"


@dataclass
class FailureRule:
    """A programmed failure (see :meth:`FakeDiscord.fail_next`)."""

    method: str
    pattern: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    times: int
    delay: float = 0.0
    hits: int = 0


@dataclass
class InteractionRecord:
    """What the fake knows about one interaction (by id and token)."""

    id: int
    token: str
    type: int
    application_id: int
    guild_id: int | None
    channel_id: int
    payload: dict[str, Any] | None = None
    registered_at: float | None = None
    attachment_size_limit: int = DEFAULT_ATTACHMENT_SIZE_LIMIT
    callback_type: int | None = None
    original_id: int | None = None
    loading: bool = False
    followup_ids: list[int] = field(default_factory=list)
    expired: bool = False
    component_message_id: int | None = None

    @property
    def user(self) -> dict[str, Any] | None:
        if not self.payload:
            return None
        if "member" in self.payload:
            return self.payload["member"].get("user")
        return self.payload.get("user")


_DEFAULT_ERROR_BODIES: dict[int, dict[str, Any]] = {
    400: {"message": "Invalid Form Body", "code": 50035},
    401: {"message": "Invalid Webhook Token", "code": 50027},
    403: {"message": "Missing Permissions", "code": 50013},
    404: {"message": "Unknown Message", "code": 10008},
    429: {
        "message": "You are being rate limited.",
        "retry_after": 0.01,
        "global": False,
        "code": 0,
    },
    500: {"message": "500: Internal Server Error", "code": 0},
}

# interaction type -> callback types Discord accepts for it
_ALLOWED_CALLBACKS: dict[int, set[int]] = {
    2: {4, 5, 9, 10, 12},
    3: {4, 5, 6, 7, 9, 10, 12},
    4: {8},
    5: {4, 5, 6, 7, 10, 12},
}

_API_PREFIX = "/api/v10"
_Handler = Callable[..., Any]


class _ErrorCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class FakeDiscord:
    """A fake Discord REST API on 127.0.0.1 that discord.py talks real HTTP to.

    ``async with FakeDiscord() as fake:`` starts it and points ``Route.BASE`` at it
    (restored on exit). Attributes for assertions: ``requests``, ``messages`` (id ->
    latest message dict), ``interactions`` (token -> :class:`InteractionRecord`),
    ``violations`` (limit breaches answered with 400), ``unhandled`` (requests answered
    404 because no route matched), ``server_errors`` (bugs in the fake itself).

    Knobs: ``ack_deadline`` (seconds from :meth:`register_interaction` to the callback,
    default 3.0, ``None`` disables; later callbacks get 404/10062), ``validate`` (enforce
    Discord's message/component/choice/command limits, default True)."""

    _active: ClassVar[FakeDiscord | None] = None

    def __init__(
        self,
        *,
        application_id: int = APPLICATION_ID,
        bot_user_id: int = BOT_USER_ID,
        guilds: Sequence[Mapping[str, Any]] | None = None,
        ack_deadline: float | None = 3.0,
        validate: bool = True,
        shard_count: int = 1,
    ) -> None:
        self.application_id = application_id
        self.bot_user = user_payload(bot_user_id, username=BOT_USERNAME, bot=True)
        self.guilds: dict[int, dict[str, Any]] = {}
        for g in guilds if guilds is not None else [guild_payload()]:
            self.add_guild(g)
        self.ack_deadline = ack_deadline
        self.validate = validate
        self.requests: list[RecordedRequest] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self.attachment_data: dict[int, tuple[bytes, str]] = {}
        self.interactions: dict[str, InteractionRecord] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self.violations: list[str] = []
        self.unhandled: list[RecordedRequest] = []
        self.server_errors: list[str] = []
        self.failures: list[FailureRule] = []
        self.url = ""
        self._waiters: list[
            tuple[Callable[[RecordedRequest], bool], asyncio.Future[RecordedRequest]]
        ] = []
        self._runner: web.AppRunner | None = None
        self._old_base: str | None = None
        self._routes: list[tuple[str, re.Pattern[str], _Handler]] = self._build_routes()
        self._old_gateway: yarl.URL | None = None
        #: The websocket side: sessions, READY/GUILD_CREATE, pushed interactions.
        self.gateway = FakeGateway(self, shard_count=shard_count)

    # ------------------------------------------------------------ lifecycle

    @classmethod
    def current(cls) -> FakeDiscord | None:
        """The fake that currently owns ``Route.BASE``, if any."""
        return cls._active

    @property
    def api_base(self) -> str:
        return self.url + _API_PREFIX

    async def start(self) -> None:
        app = web.Application(client_max_size=512 * 1024 * 1024)
        app.router.add_get(GATEWAY_PATH, self.gateway.handle)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self._old_base = Route.BASE
        Route.BASE = self.api_base
        self._old_gateway = DiscordWebSocket.DEFAULT_GATEWAY
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway.url)
        FakeDiscord._active = self

    async def stop(self) -> None:
        if self._old_base is not None:
            Route.BASE = self._old_base
            self._old_base = None
        if self._old_gateway is not None:
            DiscordWebSocket.DEFAULT_GATEWAY = self._old_gateway
            self._old_gateway = None
        if FakeDiscord._active is self:
            FakeDiscord._active = None
        for _, fut in self._waiters:
            if not fut.done():
                fut.cancel()
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ---------------------------------------------------------- world state

    def add_guild(self, guild: Mapping[str, Any]) -> None:
        """Make a guild (see :func:`guild_payload`) known: its channels answer
        ``GET /channels/{id}`` and accept messages; :func:`running_bot` caches it."""
        g = copy.deepcopy(dict(guild))
        for ch in g.get("channels", []):
            ch.setdefault("guild_id", g["id"])
        self.guilds[int(g["id"])] = g

    def channel(self, channel_id: int) -> dict[str, Any] | None:
        for g in self.guilds.values():
            for ch in g.get("channels", []):
                if int(ch["id"]) == int(channel_id):
                    return ch
        return None

    def add_message(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """Put a message (see :func:`message_payload`) into the store."""
        msg = copy.deepcopy(dict(message))
        self.messages[int(msg["id"])] = msg
        return msg

    def message(self, message_id: int | str) -> dict[str, Any] | None:
        """The latest state of a stored message."""
        return self.messages.get(int(message_id))

    def attachment_url(self, channel_id: int, attachment_id: int, filename: str) -> str:
        return f"{self.url}/attachments/{channel_id}/{attachment_id}/{filename}"

    def register_interaction(self, payload: Mapping[str, Any]) -> InteractionRecord:
        """Tell the fake about an interaction before it is dispatched (:func:`dispatch`
        does it): the callback then answers with the right interaction type, messages get
        ``interaction_metadata``, the 3-second deadline runs from now, and a component's
        message enters the store."""
        guild_id = payload.get("guild_id")
        channel = payload.get("channel") or {}
        channel_id = channel.get("id") or payload.get("channel_id") or CHANNEL_ID
        rec = InteractionRecord(
            id=int(payload["id"]),
            token=payload["token"],
            type=int(payload["type"]),
            application_id=int(payload["application_id"]),
            guild_id=int(guild_id) if guild_id else None,
            channel_id=int(channel_id),
            payload=copy.deepcopy(dict(payload)),
            registered_at=asyncio.get_running_loop().time(),
            attachment_size_limit=int(
                payload.get("attachment_size_limit", DEFAULT_ATTACHMENT_SIZE_LIMIT)
            ),
        )
        msg = payload.get("message")
        if msg is not None:
            rec.component_message_id = int(msg["id"])
            if rec.component_message_id not in self.messages:
                self.add_message(msg)
        self.interactions[rec.token] = rec
        return rec

    def interaction(self, token_or_id: str | int) -> InteractionRecord | None:
        """The record of an interaction, by token or by id."""
        if isinstance(token_or_id, str) and token_or_id in self.interactions:
            return self.interactions[token_or_id]
        for rec in self.interactions.values():
            if str(rec.id) == str(token_or_id):
                return rec
        return None

    def expire_interaction(self, token: str) -> None:
        """Simulate the 15-minute token lifetime being over: every later webhook request
        for *token* gets 401 / 50027 (and a late callback 404 / 10062)."""
        rec = self.interactions.get(token)
        if rec is None:
            raise KeyError(f"unknown interaction token {token!r}")
        rec.expired = True

    def original_message(self, token: str) -> dict[str, Any] | None:
        """The latest state of an interaction's original response message."""
        rec = self.interactions.get(token)
        if rec is None or rec.original_id is None:
            return None
        return self.messages.get(rec.original_id)

    def messages_in(self, channel_id: int) -> list[dict[str, Any]]:
        """Stored messages of a channel, oldest first."""
        return sorted(
            (m for m in self.messages.values() if int(m["channel_id"]) == int(channel_id)),
            key=lambda m: int(m["id"]),
        )

    # ------------------------------------------------------------- failures

    def fail_next(
        self,
        method: str,
        path_regex: str,
        *,
        status: int = 401,
        body: Any = None,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> FailureRule:
        """Answer the next *times* requests matching *method* (``"*"`` for any) and
        *path_regex* (``re.search`` on the API-relative path, e.g. ``r"/messages/@original$"``)
        with *status* and *body* (default bodies: 401 Invalid Webhook Token/50027,
        404 Unknown Message/10008, 403 Missing Permissions/50013, 429 with
        ``retry_after`` 0.01). A 429 always carries a ``Via`` header so discord.py treats it
        as a real rate limit and retries. Note: discord.py retries 5xx after sleeping
        1 s, 3 s, ... , so prefer 4xx in fast tests. ``delay`` sleeps before answering."""
        if body is None:
            body = copy.deepcopy(_DEFAULT_ERROR_BODIES.get(status, {"message": "Error", "code": 0}))
        hdrs = dict(headers or {})
        if status == 429:
            hdrs.setdefault("Via", "1.1 google")
            retry = body.get("retry_after", 0.01) if isinstance(body, Mapping) else 0.01
            hdrs.setdefault("Retry-After", str(retry))
            hdrs.setdefault("X-RateLimit-Scope", "user")
        rule = FailureRule(
            method=method.upper(),
            pattern=re.compile(path_regex),
            status=status,
            body=body,
            headers=hdrs,
            times=times,
            delay=delay,
        )
        self.failures.append(rule)
        return rule

    def clear_failures(self) -> None:
        self.failures.clear()

    # -------------------------------------------------------------- queries

    def calls(
        self, method: str | None = None, path_regex: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests filtered by method (None/"*" = any) and ``re.search`` on path."""
        pattern = re.compile(path_regex) if path_regex else None
        return [
            r
            for r in self.requests
            if (method in (None, "*") or r.method == method.upper())
            and (pattern is None or pattern.search(r.path))
        ]

    def interaction_callbacks(
        self, interaction_id: int | str | None = None
    ) -> list[dict[str, Any]]:
        """Bodies of ``POST /interactions/{id}/{token}/callback`` (``{"type", "data"}``;
        ``data.flags`` 64 = ephemeral), for one interaction or all, in order."""
        iid = r"\d+" if interaction_id is None else re.escape(str(interaction_id))
        return [r.json for r in self.calls("POST", rf"^/interactions/{iid}/[^/]+/callback$")]

    def edits_of_original(self, token: str) -> list[RecordedRequest]:
        """The ``PATCH /webhooks/{app}/{token}/messages/@original`` requests, in order."""
        return self.calls("PATCH", rf"^/webhooks/\d+/{re.escape(token)}/messages/@original$")

    def followups(self, token: str) -> list[RecordedRequest]:
        """The ``POST /webhooks/{app}/{token}`` (followup) requests, in order."""
        return self.calls("POST", rf"^/webhooks/\d+/{re.escape(token)}$")

    def summary(self) -> str:
        """One line per recorded request, for assertion messages."""
        return "\n".join(f"{r.method} {r.path} -> {r.status}" for r in self.requests) or "(none)"

    async def wait_for(
        self,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - the documented API
        since: int = 0,
    ) -> RecordedRequest:
        """Wait until a request matching *predicate* and/or *method*/*path* (regex) has
        arrived and return it. Requests already recorded (from index *since*) count.
        Event-based (no polling); raises AssertionError after *timeout* seconds."""
        pattern = re.compile(path) if path else None

        def match(r: RecordedRequest) -> bool:
            if method not in (None, "*") and r.method != method.upper():
                return False
            if pattern is not None and not pattern.search(r.path):
                return False
            return predicate is None or bool(predicate(r))

        for r in self.requests[since:]:
            if match(r):
                return r
        fut: asyncio.Future[RecordedRequest] = asyncio.get_running_loop().create_future()
        waiter = (match, fut)
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise AssertionError(
                f"no matching request ({method} {path}) within {timeout}s; got:\n{self.summary()}"
            ) from None
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def _notify(self, rec: RecordedRequest) -> None:
        for match, fut in list(self._waiters):
            if fut.done():
                continue
            try:
                if match(rec):
                    fut.set_result(rec)
            except Exception as exc:
                fut.set_exception(exc)

    # ----------------------------------------------------------- plumbing

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], _Handler]]:
        wh = r"^/webhooks/(?P<app>\d+)/(?P<token>[^/]+)"
        msg = wh + r"/messages/(?P<mid>@original|\d+)$"
        ch_msg = r"^/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)$"
        table: list[tuple[str, str, _Handler]] = [
            ("POST", r"^/interactions/(?P<iid>\d+)/(?P<token>[^/]+)/callback$", self._h_callback),
            ("GET", msg, self._h_webhook_get),
            ("PATCH", msg, self._h_webhook_patch),
            ("DELETE", msg, self._h_webhook_delete),
            ("POST", wh + "$", self._h_followup),
            ("POST", r"^/channels/(?P<cid>\d+)/messages$", self._h_channel_create),
            ("GET", ch_msg, self._h_channel_get),
            ("PATCH", ch_msg, self._h_channel_patch),
            ("DELETE", ch_msg, self._h_channel_delete),
            ("POST", r"^/channels/(?P<cid>\d+)/typing$", self._h_typing),
            ("GET", r"^/channels/(?P<cid>\d+)$", self._h_get_channel),
            ("GET", r"^/gateway/bot$", self._h_gateway_bot),
            ("GET", r"^/gateway$", self._h_gateway),
            ("GET", r"^/users/@me$", self._h_me),
            ("GET", r"^/users/(?P<uid>\d+)$", self._h_user),
            ("GET", r"^/oauth2/applications/@me$", self._h_application),
            ("GET", r"^/applications/@me$", self._h_application),
            ("PUT", r"^/applications/(?P<app>\d+)/commands$", self._h_put_commands),
            (
                "PUT",
                r"^/applications/(?P<app>\d+)/guilds/(?P<gid>\d+)/commands$",
                self._h_put_commands,
            ),
            ("GET", r"^/applications/(?P<app>\d+)/commands$", self._h_get_commands),
            (
                "GET",
                r"^/applications/(?P<app>\d+)/guilds/(?P<gid>\d+)/commands$",
                self._h_get_commands,
            ),
            ("GET", r"^/guilds/(?P<gid>\d+)/members/(?P<uid>\d+)$", self._h_member),
            ("GET", r"^/guilds/(?P<gid>\d+)$", self._h_guild),
            (
                "GET",
                r"^/attachments/(?P<cid>\d+)/(?P<aid>\d+)/(?P<fname>[^/]+)$",
                self._h_attachment,
            ),
        ]
        return [(m, re.compile(p), h) for m, p, h in table]

    async def _record(self, request: web.Request) -> RecordedRequest:
        path = request.path
        if path.startswith(_API_PREFIX):
            path = path[len(_API_PREFIX) :] or "/"
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        auth = request.headers.get("Authorization")
        rec = RecordedRequest(
            method=request.method.upper(),
            path=path,
            query=dict(request.query),
            headers=headers,
            auth_scheme=auth.split(" ", 1)[0] if auth else None,
        )
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            form: dict[str, Any] = {}
            async for part in reader:
                if not isinstance(part, BodyPartReader):  # nested multipart: ignore
                    continue
                raw = bytes(await part.read(decode=False))
                if part.filename is None:
                    text = raw.decode("utf-8")
                    if part.name == "payload_json":
                        form = jsonlib.loads(text)
                    else:
                        form.setdefault("_fields", {})[part.name] = text
                else:
                    rec.files.append(
                        RecordedFile(
                            filename=part.filename,
                            content_type=part.headers.get("Content-Type"),
                            data=raw,
                            field_name=part.name or "",
                        )
                    )
            rec.form_payload = form
            rec.json = form
        elif request.can_read_body:
            raw = await request.read()
            if raw:
                try:
                    rec.json = jsonlib.loads(raw)
                except ValueError:
                    rec.json = raw.decode("utf-8", "replace")
        return rec

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            rec = await self._record(request)
        except Exception as exc:  # unparsable body: answer 400 (a 5xx makes discord.py sleep)
            self.server_errors.append(f"{request.method} {request.path}: {exc!r}")
            rec = RecordedRequest(request.method, request.path, dict(request.query), {})
            rec.status, rec.response = 400, {"message": f"fake Discord error: {exc!r}", "code": 0}
            rec.index = len(self.requests)
            self.requests.append(rec)
            return web.Response(
                status=400,
                body=jsonlib.dumps(rec.response).encode(),
                headers={"Content-Type": "application/json"},
            )
        headers: dict[str, str] = {}
        status: int
        body: Any
        try:
            rule = next(
                (
                    r
                    for r in self.failures
                    if r.method in ("*", rec.method) and r.pattern.search(rec.path)
                ),
                None,
            )
            if rule is not None:
                rule.times -= 1
                rule.hits += 1
                if rule.times <= 0:
                    self.failures.remove(rule)
                if rule.delay:
                    await asyncio.sleep(rule.delay)
                status, body, headers = rule.status, copy.deepcopy(rule.body), dict(rule.headers)
            else:
                status, body, headers = await self._route(rec)
        except Exception as exc:  # a bug in the fake: answer 400 (a 5xx makes discord.py sleep)
            logging.getLogger(__name__).exception(
                "fake Discord failed on %s %s", rec.method, rec.path
            )
            self.server_errors.append(f"{rec.method} {rec.path}: {exc!r}")
            status, body = 400, {"message": f"fake Discord error: {exc!r}", "code": 0}
        rec.status, rec.response = status, body
        rec.index = len(self.requests)
        self.requests.append(rec)
        self._notify(rec)
        if isinstance(body, bytes):
            return web.Response(status=status, body=body, headers=headers)
        if body is None:
            return web.Response(status=status, headers=headers)
        headers["Content-Type"] = "application/json"
        return web.Response(status=status, body=jsonlib.dumps(body).encode(), headers=headers)

    async def _route(self, rec: RecordedRequest) -> tuple[int, Any, dict[str, str]]:
        for method, pattern, handler in self._routes:
            if method != rec.method:
                continue
            m = pattern.match(rec.path)
            if m:
                result = handler(rec, **m.groupdict())
                if asyncio.iscoroutine(result):
                    result = await result
                if len(result) == 2:
                    return result[0], result[1], {}
                return result
        self.unhandled.append(rec)
        return 404, {"message": "Unknown", "code": 0}, {}

    @staticmethod
    def _err(status: int, message: str, code: int) -> tuple[int, Any]:
        return status, {"message": message, "code": code}

    def _invalid(self, errors: list[str]) -> tuple[int, Any] | None:
        if not errors or not self.validate:
            return None
        self.violations.extend(errors)
        return 400, {
            "message": "Invalid Form Body",
            "code": 50035,
            "errors": {
                "harness": {"_errors": [{"code": "HARNESS_LIMIT", "message": e} for e in errors]}
            },
        }

    def _too_large(self, rec: RecordedRequest, limit: int) -> tuple[int, Any] | None:
        big = [f for f in rec.files if len(f.data) > limit]
        if big and self.validate:
            self.violations.append(f"file {big[0].filename!r} larger than {limit} bytes")
            return self._err(413, "Request entity too large", 40005)
        return None

    def _require_bot(self, rec: RecordedRequest) -> tuple[int, Any] | None:
        if rec.auth_scheme != "Bot":
            return self._err(401, "401: Unauthorized", 0)
        return None

    # --------------------------------------------------------- messages

    def _new_message(
        self,
        *,
        channel_id: int,
        guild_id: int | None,
        interaction: InteractionRecord | None = None,
        flags: int = 0,
    ) -> dict[str, Any]:
        metadata = None
        msg = message_payload(
            "",
            channel_id=channel_id,
            guild_id=guild_id,
            author=self.bot_user,
            flags=flags,
            webhook_id=interaction.application_id if interaction else None,
            application_id=interaction.application_id if interaction else None,
        )
        if interaction is not None and interaction.user is not None:
            metadata = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": interaction.user,
                "authorizing_integration_owners": (interaction.payload or {}).get(
                    "authorizing_integration_owners", {}
                ),
            }
            msg["interaction_metadata"] = metadata
            name = ((interaction.payload or {}).get("data") or {}).get("name")
            if name and interaction.type in (2, 4):
                msg["interaction"] = {
                    "id": str(interaction.id),
                    "type": interaction.type,
                    "name": name,
                    "user": interaction.user,
                }
            msg["type"] = 20 if interaction.type == 2 else 0
        self.messages[int(msg["id"])] = msg
        return msg

    def _apply_body(
        self,
        msg: dict[str, Any],
        body: Mapping[str, Any],
        files: Sequence[RecordedFile],
        *,
        edit: bool,
    ) -> dict[str, Any]:
        if "content" in body:
            msg["content"] = body["content"] or ""
        if "components" in body:
            msg["components"] = copy.deepcopy(body["components"] or [])
        if "flags" in body and body["flags"] is not None:
            requested = int(body["flags"])
            if edit:
                msg["flags"] = (msg.get("flags", 0) & (64 | 128)) | (requested & ~(64 | 128))
            else:
                msg["flags"] = requested
        if "message_reference" in body and not edit:
            msg["message_reference"] = body["message_reference"]
            msg["type"] = 19
        if "poll" in body and body["poll"] is not None and not edit:
            msg["poll"] = body["poll"]
        new_files = {
            (int(m.group(1)) if (m := re.fullmatch(r"files\[(\d+)\]", f.field_name)) else i): f
            for i, f in enumerate(files)
        }
        existing = {str(a["id"]): a for a in msg.get("attachments", [])}
        if "attachments" in body and body["attachments"] is not None:
            result = []
            for item in body["attachments"]:
                key = str(item.get("id"))
                if key in existing:
                    kept = dict(existing[key])
                    if "description" in item:
                        kept["description"] = item["description"]
                    result.append(kept)
                elif key.isdigit() and int(key) in new_files:
                    result.append(self._store_file(msg, new_files.pop(int(key)), item))
            msg["attachments"] = result + [self._store_file(msg, f, {}) for f in new_files.values()]
        elif files:
            msg["attachments"] = list(msg.get("attachments", [])) + [
                self._store_file(msg, f, {}) for f in new_files.values()
            ]
        if "embeds" in body:
            msg["embeds"] = self._resolve_embed_urls(copy.deepcopy(body["embeds"] or []), msg)
        if edit:
            msg["edited_timestamp"] = _now_iso()
        return msg

    def _store_file(
        self, msg: Mapping[str, Any], f: RecordedFile, item: Mapping[str, Any]
    ) -> dict[str, Any]:
        filename = item.get("filename") or f.filename or "file"
        content_type = f.content_type
        if not content_type or content_type == "application/octet-stream":
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        att_id = new_snowflake()
        self.attachment_data[att_id] = (f.data, content_type)
        url = self.attachment_url(int(msg["channel_id"]), att_id, filename)
        att: dict[str, Any] = {
            "id": str(att_id),
            "filename": filename,
            "size": len(f.data),
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
            "flags": 0,
        }
        if item.get("description"):
            att["description"] = item["description"]
        dims = _png_size(f.data)
        if dims:
            att["width"], att["height"] = dims
        return att

    @staticmethod
    def _resolve_embed_urls(
        embeds: list[dict[str, Any]], msg: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        by_name = {a["filename"]: a for a in msg.get("attachments", [])}
        for e in embeds:
            for key in ("image", "thumbnail"):
                part = e.get(key)
                if isinstance(part, dict) and str(part.get("url", "")).startswith("attachment://"):
                    att = by_name.get(part["url"][len("attachment://") :])
                    if att is not None:
                        part["url"] = att["url"]
                        part["proxy_url"] = att["proxy_url"]
                        if "width" in att:
                            part["width"], part["height"] = att["width"], att["height"]
        return embeds

    # ------------------------------------------------------ interaction routes

    def _record_for(self, iid: int, token: str) -> InteractionRecord:
        rec = self.interactions.get(token)
        if rec is None:  # an interaction the test never registered: assume a guild command
            rec = InteractionRecord(
                id=iid,
                token=token,
                type=2,
                application_id=self.application_id,
                guild_id=GUILD_ID,
                channel_id=CHANNEL_ID,
            )
            self.interactions[token] = rec
        return rec

    def _h_callback(self, req: RecordedRequest, iid: str, token: str) -> tuple[int, Any]:
        body = req.json if isinstance(req.json, Mapping) else {}
        cb_type = int(body.get("type", 0))
        data = body.get("data") or {}
        rec = self._record_for(int(iid), token)
        if rec.expired or rec.id != int(iid):
            return self._err(404, "Unknown interaction", 10062)
        if (
            self.ack_deadline is not None
            and rec.registered_at is not None
            and asyncio.get_running_loop().time() - rec.registered_at > self.ack_deadline
        ):
            self.violations.append(f"interaction {iid} acknowledged after {self.ack_deadline}s")
            return self._err(404, "Unknown interaction", 10062)
        if rec.callback_type is not None:
            return self._err(400, "Interaction has already been acknowledged.", 40060)
        allowed = _ALLOWED_CALLBACKS.get(rec.type)
        if allowed is not None and cb_type not in allowed:
            bad = self._invalid(
                [f"callback type {cb_type} is not valid for interaction type {rec.type}"]
            )
            if bad:
                return bad
        if cb_type in (4, 7):
            bad = self._too_large(req, rec.attachment_size_limit) or self._invalid(
                validate_message_body(data)
            )
            if bad:
                return bad
        elif cb_type == 8:
            bad = self._invalid(_validate_choices(data.get("choices") or []))
            if bad:
                return bad
        elif cb_type == 9:
            errors = []
            if not 1 <= len(data.get("title") or "") <= 45:
                errors.append("modal title must be 1-45 characters")
            if not 1 <= len(data.get("custom_id") or "") <= 100:
                errors.append("modal custom_id must be 1-100 characters")
            bad = self._invalid(errors)
            if bad:
                return bad

        rec.callback_type = cb_type
        info: dict[str, Any] = {
            "id": str(rec.id),
            "type": rec.type,
            "activity_instance_id": None,
            "response_message_id": None,
            "response_message_loading": False,
            "response_message_ephemeral": False,
        }
        resource: dict[str, Any] = {"type": cb_type}
        if cb_type == 4:
            msg = self._new_message(
                channel_id=rec.channel_id, guild_id=rec.guild_id, interaction=rec
            )
            self._apply_body(msg, data, req.files, edit=False)
            rec.original_id = int(msg["id"])
            info["response_message_id"] = msg["id"]
            info["response_message_ephemeral"] = bool(msg["flags"] & 64)
            resource["message"] = copy.deepcopy(msg)
        elif cb_type == 5:
            flags = 128 | (int(data.get("flags") or 0) & 64)
            msg = self._new_message(
                channel_id=rec.channel_id, guild_id=rec.guild_id, interaction=rec, flags=flags
            )
            rec.original_id = int(msg["id"])
            rec.loading = True
            info["response_message_id"] = msg["id"]
            info["response_message_loading"] = True
            info["response_message_ephemeral"] = bool(flags & 64)
        elif cb_type in (6, 7):
            mid = rec.component_message_id
            if mid is not None:
                rec.original_id = mid
                info["response_message_id"] = str(mid)
                stored = self.messages.get(mid)
                if stored is not None:
                    info["response_message_ephemeral"] = bool(stored.get("flags", 0) & 64)
                    if cb_type == 7:
                        self._apply_body(stored, data, req.files, edit=True)
                        resource["message"] = copy.deepcopy(stored)
        return 200, {"interaction": info, "resource": resource}

    def _webhook_record(
        self, app: str, token: str
    ) -> tuple[InteractionRecord | None, tuple[int, Any] | None]:
        rec = self.interactions.get(token)
        if rec is None or rec.callback_type is None or int(app) != rec.application_id:
            return None, self._err(404, "Unknown Webhook", 10015)
        if rec.expired:
            return None, self._err(401, "Invalid Webhook Token", 50027)
        return rec, None

    def _webhook_message(
        self, rec: InteractionRecord, mid: str
    ) -> tuple[dict[str, Any] | None, tuple[int, Any] | None]:
        if mid == "@original":
            msg_id = rec.original_id
        else:
            msg_id = int(mid)
            if msg_id != rec.original_id and msg_id not in rec.followup_ids:
                msg_id = None
        msg = self.messages.get(msg_id) if msg_id is not None else None
        if msg is None:
            return None, self._err(404, "Unknown Message", 10008)
        return msg, None

    def _h_webhook_get(
        self, req: RecordedRequest, app: str, token: str, mid: str
    ) -> tuple[int, Any]:
        rec, err = self._webhook_record(app, token)
        if err:
            return err
        assert rec is not None
        msg, err = self._webhook_message(rec, mid)
        return err or (200, copy.deepcopy(msg))

    def _h_webhook_patch(
        self, req: RecordedRequest, app: str, token: str, mid: str
    ) -> tuple[int, Any]:
        rec, err = self._webhook_record(app, token)
        if err:
            return err
        assert rec is not None
        msg, err = self._webhook_message(rec, mid)
        if err:
            return err
        assert msg is not None
        body = req.json if isinstance(req.json, Mapping) else {}
        bad = self._too_large(req, rec.attachment_size_limit) or self._invalid(
            validate_message_body(body)
        )
        if bad:
            return bad
        self._apply_body(msg, body, req.files, edit=True)
        if int(msg["id"]) == rec.original_id and rec.loading:
            rec.loading = False
            msg["flags"] = msg.get("flags", 0) & ~128
        return 200, copy.deepcopy(msg)

    def _h_webhook_delete(
        self, req: RecordedRequest, app: str, token: str, mid: str
    ) -> tuple[int, Any]:
        rec, err = self._webhook_record(app, token)
        if err:
            return err
        assert rec is not None
        msg, err = self._webhook_message(rec, mid)
        if err:
            return err
        assert msg is not None
        self.messages.pop(int(msg["id"]), None)
        return 204, None

    def _h_followup(self, req: RecordedRequest, app: str, token: str) -> tuple[int, Any]:
        rec, err = self._webhook_record(app, token)
        if err:
            return err
        assert rec is not None
        body = req.json if isinstance(req.json, Mapping) else {}
        bad = self._too_large(req, rec.attachment_size_limit) or self._invalid(
            validate_message_body(body)
        )
        if bad:
            return bad
        original = self.messages.get(rec.original_id) if rec.original_id is not None else None
        if rec.loading and original is not None:
            # The first followup after a deferral replaces the "thinking" message and keeps
            # the deferral's visibility.
            rec.loading = False
            keep = original.get("flags", 0) & 64
            self._apply_body(
                original, {k: v for k, v in body.items() if k != "flags"}, req.files, edit=False
            )
            original["flags"] = ((original.get("flags", 0) & ~(128 | 64)) | keep) | (
                int(body.get("flags") or 0) & ~(64 | 128)
            )
            msg = original
        else:
            msg = self._new_message(
                channel_id=rec.channel_id, guild_id=rec.guild_id, interaction=rec
            )
            self._apply_body(msg, body, req.files, edit=False)
        rec.followup_ids.append(int(msg["id"]))
        if req.query.get("wait", "").lower() in ("1", "true"):
            return 200, copy.deepcopy(msg)
        return 204, None

    # ------------------------------------------------------------ bot routes

    def _channel_message(
        self, cid: str, mid: str
    ) -> tuple[dict[str, Any] | None, tuple[int, Any] | None]:
        msg = self.messages.get(int(mid))
        if msg is None or int(msg["channel_id"]) != int(cid) or msg.get("flags", 0) & 64:
            return None, self._err(404, "Unknown Message", 10008)
        return msg, None

    def _h_channel_create(self, req: RecordedRequest, cid: str) -> tuple[int, Any]:
        err = self._require_bot(req)
        if err:
            return err
        channel = self.channel(int(cid))
        if channel is None:
            return self._err(404, "Unknown Channel", 10003)
        body = req.json if isinstance(req.json, Mapping) else {}
        bad = self._too_large(req, DEFAULT_ATTACHMENT_SIZE_LIMIT) or self._invalid(
            validate_message_body(body)
        )
        if bad:
            return bad
        guild_id = channel.get("guild_id")
        msg = self._new_message(channel_id=int(cid), guild_id=int(guild_id) if guild_id else None)
        self._apply_body(msg, body, req.files, edit=False)
        return 200, copy.deepcopy(msg)

    def _h_channel_get(self, req: RecordedRequest, cid: str, mid: str) -> tuple[int, Any]:
        err = self._require_bot(req)
        if err:
            return err
        msg, err = self._channel_message(cid, mid)
        return err or (200, copy.deepcopy(msg))

    def _h_channel_patch(self, req: RecordedRequest, cid: str, mid: str) -> tuple[int, Any]:
        err = self._require_bot(req)
        if err:
            return err
        msg, err = self._channel_message(cid, mid)
        if err:
            return err
        assert msg is not None
        body = req.json if isinstance(req.json, Mapping) else {}
        if str(msg["author"]["id"]) != str(self.bot_user["id"]) and set(body) - {"flags"}:
            return self._err(403, "Cannot edit a message authored by another user", 50005)
        bad = self._too_large(req, DEFAULT_ATTACHMENT_SIZE_LIMIT) or self._invalid(
            validate_message_body(body)
        )
        if bad:
            return bad
        self._apply_body(msg, body, req.files, edit=True)
        msg["flags"] = msg.get("flags", 0) & ~128
        return 200, copy.deepcopy(msg)

    def _h_channel_delete(self, req: RecordedRequest, cid: str, mid: str) -> tuple[int, Any]:
        err = self._require_bot(req)
        if err:
            return err
        _msg, err = self._channel_message(cid, mid)
        if err:
            return err
        self.messages.pop(int(mid), None)
        return 204, None

    def _h_typing(self, req: RecordedRequest, cid: str) -> tuple[int, Any]:
        return self._require_bot(req) or (204, None)

    def _h_get_channel(self, req: RecordedRequest, cid: str) -> tuple[int, Any]:
        err = self._require_bot(req)
        if err:
            return err
        channel = self.channel(int(cid))
        if channel is None:
            return self._err(404, "Unknown Channel", 10003)
        return 200, copy.deepcopy(channel)

    def _h_gateway_bot(self, req: RecordedRequest) -> tuple[int, Any]:
        return self._require_bot(req) or (200, self.gateway.bot_gateway_info())

    def _h_gateway(self, req: RecordedRequest) -> tuple[int, Any]:
        return 200, {"url": self.gateway.url}

    def _h_me(self, req: RecordedRequest) -> tuple[int, Any]:
        err = self._require_bot(req)
        if err:
            return err
        return 200, {**self.bot_user, "verified": True, "mfa_enabled": False, "locale": "en-US"}

    def _h_user(self, req: RecordedRequest, uid: str) -> tuple[int, Any]:
        return self._require_bot(req) or (200, user_payload(int(uid)))

    def _h_application(self, req: RecordedRequest) -> tuple[int, Any]:
        err = self._require_bot(req)
        if err:
            return err
        return 200, {
            "id": str(self.application_id),
            "name": BOT_USERNAME,
            "description": "",
            "icon": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": user_payload(OWNER_USER_ID),
            "team": None,
            "verify_key": "0" * 64,
            "flags": 0,
            "bot": self.bot_user,
            "interactions_endpoint_url": None,
            "redirect_uris": [],
            "tags": [],
        }

    def _h_put_commands(
        self, req: RecordedRequest, app: str, gid: str | None = None
    ) -> tuple[int, Any]:
        err = self._require_bot(req)
        if err:
            return err
        if int(app) != self.application_id:
            return self._err(403, "Missing Access", 50001)
        payload = req.json if isinstance(req.json, list) else []
        bad = self._invalid(_validate_commands(payload))
        if bad:
            return bad
        key = int(gid) if gid else None
        old = {(c["name"], c.get("type", 1)): c["id"] for c in self.commands.get(key, [])}
        result = []
        for cmd in payload:
            echoed = copy.deepcopy(cmd)
            echoed.setdefault("type", 1)
            echoed.setdefault("description", "")
            echoed["id"] = old.get((cmd["name"], echoed["type"])) or str(new_snowflake())
            echoed["application_id"] = str(self.application_id)
            echoed["version"] = str(new_snowflake())
            echoed.setdefault("default_member_permissions", None)
            echoed.setdefault("nsfw", False)
            if key is not None:
                echoed["guild_id"] = str(key)
            result.append(echoed)
        self.commands[key] = result
        return 200, copy.deepcopy(result)

    def _h_get_commands(
        self, req: RecordedRequest, app: str, gid: str | None = None
    ) -> tuple[int, Any]:
        return self._require_bot(req) or (
            200,
            copy.deepcopy(self.commands.get(int(gid) if gid else None, [])),
        )

    def _h_member(self, req: RecordedRequest, gid: str, uid: str) -> tuple[int, Any]:
        err = self._require_bot(req)
        if err:
            return err
        guild = self.guilds.get(int(gid))
        if guild is None:
            return self._err(404, "Unknown Guild", 10004)
        for m in guild.get("members", []):
            if m["user"]["id"] == str(uid):
                return 200, copy.deepcopy(m)
        return self._err(404, "Unknown Member", 10007)

    def _h_guild(self, req: RecordedRequest, gid: str) -> tuple[int, Any]:
        err = self._require_bot(req)
        if err:
            return err
        guild = self.guilds.get(int(gid))
        if guild is None:
            return self._err(404, "Unknown Guild", 10004)
        return 200, copy.deepcopy(guild)

    def _h_attachment(
        self, req: RecordedRequest, cid: str, aid: str, fname: str
    ) -> tuple[int, Any, dict[str, str]]:
        stored = self.attachment_data.get(int(aid))
        if stored is None:
            return 404, b"Not Found", {"Content-Type": "text/plain"}
        return 200, stored[0], {"Content-Type": stored[1]}


# ------------------------------------------------------------------- bots

ClientT = TypeVar("ClientT", bound=discord.Client)

_BOT_FAKES: weakref.WeakKeyDictionary[discord.Client, FakeDiscord] = weakref.WeakKeyDictionary()


def make_bot() -> commands.Bot:
    """A bare ``commands.Bot`` (default intents, no prefix commands in use)."""
    return commands.Bot(
        command_prefix=commands.when_mentioned,
        intents=discord.Intents.default(),
        help_command=None,
    )


@contextlib.asynccontextmanager
async def running_bot(
    fake: FakeDiscord,
    bot: ClientT | None = None,
    *,
    token: str = "harness-bot-token",
    mark_ready: bool = True,
) -> AsyncIterator[ClientT]:
    """Run *bot* (default :func:`make_bot`) against *fake* without a gateway.

    Enters ``async with bot:`` and calls the real ``bot.login(token)``, which asks the
    fake ``GET /users/@me`` and ``GET /oauth2/applications/@me`` (setting
    ``bot.user`` and ``application_id``, creating the HTTP session interactions use) and
    then runs ``setup_hook`` (``async with bot:`` alone does not). Afterwards, the fake's
    guilds are put into the cache (``state._add_guild_from_data``), so
    ``interaction.guild``/``interaction.channel``, ``bot.get_channel(CHANNEL_ID)`` and
    ``guild.get_member`` work, and ``bot.is_ready()`` is true (``mark_ready``).
    On exit the bot is closed."""
    the_bot: Any = bot if bot is not None else make_bot()
    if not fake.url:
        raise RuntimeError("start the FakeDiscord first (async with FakeDiscord() / fake_discord)")
    if the_bot.application_id is not None:
        fake.application_id = int(the_bot.application_id)
    old_base = Route.BASE
    Route.BASE = fake.api_base
    _BOT_FAKES[the_bot] = fake
    try:
        async with the_bot:
            await the_bot.login(token)
            state = the_bot._connection
            for g in fake.guilds.values():
                if state._get_guild(int(g["id"])) is None:
                    state._add_guild_from_data(copy.deepcopy(g))
            if mark_ready:
                the_bot._ready.set()
            yield the_bot
    finally:
        Route.BASE = old_base
        _BOT_FAKES.pop(the_bot, None)


async def _identify_at_once(shard_id: int | None, *, initial: bool = False) -> None:
    """The fake gateway has no IDENTIFY rate limit: no need for discord.py's 5 s pause."""


def _default_shards(bot: discord.Client, fake: FakeDiscord) -> list[int]:
    if isinstance(bot, discord.AutoShardedClient):
        if bot.shard_ids is not None:
            return list(bot.shard_ids)
        return list(range(bot.shard_count or fake.gateway.shard_count))
    return [bot.shard_id or 0]


@contextlib.asynccontextmanager
async def gateway_bot(
    fake: FakeDiscord,
    bot: ClientT | None = None,
    *,
    token: str = "harness-bot-token",
    shards: Iterable[int] | None = None,
    timeout: float = 10.0,  # noqa: ASYNC109
    fast_start: bool = True,
) -> AsyncIterator[ClientT]:
    """Run *bot* in this process against *fake* through its gateway, as in production.

    The real ``login(token)`` (so ``setup_hook`` runs), then ``bot.connect()`` in a task:
    the bot connects to the fake's websocket, identifies, and gets READY and a GUILD_CREATE
    per guild of its shard(s). Yields once every shard in *shards* (default: the bot's own)
    has a READY session and the bot is ready (``on_ready`` fired); then
    ``await fake.gateway.push_interaction(payload)`` delivers interactions as Discord would.
    On exit the bot is closed.

    *fast_start* drops two waits of discord.py that only matter against the real Discord:
    the 5 s before each IDENTIFY after the first (``before_identify_hook``) and the 2 s
    wait for more GUILD_CREATEs before ``on_ready`` (``guild_ready_timeout``, to 50 ms)."""
    the_bot: Any = bot if bot is not None else make_bot()
    if not fake.url:
        raise RuntimeError("start the FakeDiscord first (async with FakeDiscord() / fake_discord)")
    if the_bot.application_id is not None:
        fake.application_id = int(the_bot.application_id)
    if fast_start:
        the_bot.before_identify_hook = _identify_at_once
        the_bot._connection.guild_ready_timeout = 0.05
    since = len(fake.gateway.sessions)
    _BOT_FAKES[the_bot] = fake
    try:
        async with the_bot:
            await the_bot.login(token)
            wanted = list(shards) if shards is not None else _default_shards(the_bot, fake)
            connect = asyncio.create_task(the_bot.connect(), name="harness-gateway-connect")
            ready = asyncio.create_task(
                fake.gateway.wait_ready(wanted, since=since, timeout=timeout)
            )
            try:
                await asyncio.wait({connect, ready}, return_when=asyncio.FIRST_COMPLETED)
                if not ready.done():
                    ready.cancel()
                    connect.result()  # raises what stopped the connection
                    raise RuntimeError("the bot's gateway connection ended before READY")
                ready.result()
                async with asyncio.timeout(timeout):  # on_ready: every GUILD_CREATE was read
                    await the_bot.wait_until_ready()
                yield the_bot
            finally:
                ready.cancel()
                await the_bot.close()
                with contextlib.suppress(asyncio.CancelledError):
                    await connect
    finally:
        _BOT_FAKES.pop(the_bot, None)


# --------------------------------------------------------------- dispatch


class HarnessDispatchError(AssertionError):
    """discord.py logged an error (an exception in a command, view, or listener) while
    handling a dispatched interaction."""


_AWAITED_TASK_PREFIXES = ("CommandTree-invoker", "discord.py: ", "discord-ui-")
_IGNORED_TASK_PREFIXES = ("discord-ui-view-timeout-",)


def _is_discord_task(task: asyncio.Task[Any]) -> bool:
    name = task.get_name()
    return name.startswith(_AWAITED_TASK_PREFIXES) and not name.startswith(_IGNORED_TASK_PREFIXES)


@dataclass
class Dispatched:
    """An interaction in flight (from :func:`start_dispatch`); ``await d.wait()``."""

    interaction: discord.Interaction[Any]
    tasks: list[asyncio.Task[Any]]
    handled: bool
    _before: set[asyncio.Task[Any]]
    _collector: _ErrorCollector
    _done: bool = False

    async def wait(
        self,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        raise_errors: bool = True,
    ) -> discord.Interaction[Any]:
        """Wait until every task discord.py spawned for this interaction (command invoker,
        view / dynamic item / modal callback, event listeners, and discord.py tasks those
        spawn in turn) is done. Background tasks the bot's own code starts are not
        awaited: use :meth:`FakeDiscord.wait_for` for those. With *raise_errors*, an error
        discord.py logged meanwhile (e.g. "Ignoring exception in command") is raised as
        :class:`HarnessDispatchError`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen: set[asyncio.Task[Any]] = set(self._before)
        pending = set(self.tasks)
        try:
            while pending:
                seen |= pending
                remaining = deadline - loop.time()
                done, not_done = await asyncio.wait(pending, timeout=max(remaining, 0))
                if not_done:
                    for t in not_done:
                        t.cancel()
                    names = sorted(t.get_name() for t in not_done)
                    raise TimeoutError(
                        f"interaction handling did not finish in {timeout}s: {names}"
                    )
                for t in done:
                    if not t.cancelled() and t.exception() is not None and raise_errors:
                        raise HarnessDispatchError(f"task {t.get_name()} failed") from t.exception()
                pending = {
                    t for t in asyncio.all_tasks() - seen if _is_discord_task(t) and not t.done()
                }
        finally:
            if not self._done:
                logging.getLogger("discord").removeHandler(self._collector)
                self._done = True
        self.interaction.extras["harness_errors"] = list(self._collector.records)
        if raise_errors and self._collector.records:
            record = self._collector.records[0]
            cause = record.exc_info[1] if record.exc_info else None
            raise HarnessDispatchError(
                f"discord.py logged an error while handling the interaction: {record.getMessage()}"
            ) from cause
        return self.interaction


def _fake_for(bot: discord.Client) -> FakeDiscord | None:
    return _BOT_FAKES.get(bot) or FakeDiscord.current()


def start_dispatch(
    bot: discord.Client,
    payload: Mapping[str, Any],
    *,
    expect_handler: bool = True,
    dispatch_event: bool = True,
) -> Dispatched:
    """Start handling *payload* the way ``ConnectionState.parse_interaction_create`` does and
    return at once (before any callback ran), so a test can look at the fake while the
    command is still running; then ``await dispatched.wait()``.

    The Interaction is built with ``discord.Interaction(data=payload, state=bot._connection)``;
    type 2/4 go to ``bot.tree._from_interaction`` (task ``CommandTree-invoker`` running
    ``tree._call``: checks, transformers, autocomplete, error handlers, ``on_error``),
    type 3 to ``ViewStore.dispatch_view`` (which also runs ``dispatch_dynamic_items``),
    type 5 to ``ViewStore.dispatch_modal``; then ``on_interaction`` is dispatched
    (*dispatch_event*). With *expect_handler*, a component/modal that no view, dynamic
    item or modal handles raises AssertionError (Discord would say "interaction failed")."""
    data = copy.deepcopy(dict(payload))
    fake = _fake_for(bot)
    if fake is not None:
        fake.register_interaction(data)
    collector = _ErrorCollector()
    logging.getLogger("discord").addHandler(collector)
    state: Any = bot._connection
    try:
        interaction: discord.Interaction[Any] = discord.Interaction(data=data, state=state)  # type: ignore[arg-type]
        before = asyncio.all_tasks()
        kind = int(data["type"])
        if kind in (2, 4):
            tree = state._command_tree
            if tree is None:
                raise RuntimeError("the bot has no CommandTree")
            tree._from_interaction(interaction)
        elif kind == 3:
            inner = data["data"]
            state._view_store.dispatch_view(
                inner["component_type"], inner["custom_id"], interaction
            )
        elif kind == 5:
            inner = data["data"]
            state._view_store.dispatch_modal(
                inner["custom_id"], interaction, inner["components"], inner.get("resolved", {})
            )
        else:
            raise ValueError(f"cannot dispatch interaction type {kind}")
        routed = asyncio.all_tasks() - before
        handled = kind in (2, 4) or any(t.get_name().startswith("discord-ui-") for t in routed)
        if dispatch_event:
            bot.dispatch("interaction", interaction)
        tasks = list(asyncio.all_tasks() - before)
    except BaseException:
        logging.getLogger("discord").removeHandler(collector)
        raise
    if expect_handler and not handled:
        logging.getLogger("discord").removeHandler(collector)
        for t in tasks:
            t.cancel()
        ident = data.get("data", {}).get("custom_id")
        raise AssertionError(f"no view, dynamic item or modal handles custom_id {ident!r}")
    return Dispatched(
        interaction=interaction, tasks=tasks, handled=handled, _before=before, _collector=collector
    )


async def dispatch(
    bot: discord.Client,
    payload: Mapping[str, Any],
    *,
    timeout: float = 5.0,  # noqa: ASYNC109
    raise_errors: bool = True,
    expect_handler: bool = True,
    dispatch_event: bool = True,
) -> discord.Interaction[Any]:
    """Dispatch *payload* (see :func:`start_dispatch`) and wait until discord.py finished
    handling it, including a component's view/DynamicItem callback (see
    :meth:`Dispatched.wait`). Returns the :class:`discord.Interaction`; errors discord.py
    logged are in ``interaction.extras["harness_errors"]`` and, with *raise_errors*,
    raised as :class:`HarnessDispatchError`."""
    dispatched = start_dispatch(
        bot, payload, expect_handler=expect_handler, dispatch_event=dispatch_event
    )
    return await dispatched.wait(timeout, raise_errors=raise_errors)


# ---------------------------------------------------------------- fixture


@pytest_asyncio.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A started :class:`FakeDiscord` with ``Route.BASE`` pointing at it (restored after).
    Fails the test at teardown if the fake itself crashed on a request."""
    async with FakeDiscord() as fake:
        yield fake
    if fake.server_errors:
        raise AssertionError(f"the fake Discord server failed: {fake.server_errors}")
