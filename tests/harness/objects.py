"""Builders of Discord objects as the API sends them: users, members, channels, roles,
guilds, attachments, components and messages."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import discord

from tests.harness.ids import (
    BOT_USER_ID,
    BOT_USERNAME,
    CHANNEL_ID,
    GUILD_ID,
    KNOWN_USERS,
    LOG_CHANNEL_ID,
    MOD_ROLE_ID,
    MOD_USER_ID,
    OTHER_USER_ID,
    OWNER_USER_ID,
    PERMS_MANAGE_GUILD,
    PERMS_MEMBER,
    USER_ID,
    default_perms_roles,
    new_snowflake,
    now_iso,
    png_size,
    snowflake_iso,
)


def user_payload(
    user_id: int = USER_ID,
    *,
    username: str | None = None,
    global_name: str | None = None,
    bot: bool = False,
) -> dict[str, Any]:
    """A Discord user object."""
    if username is None:
        known = KNOWN_USERS.get(user_id)
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
    default_roles = default_perms_roles(user_id)[1]
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
        dims = png_size(data)
        if dims and width is None and height is None:
            width, height = dims
    from tests.harness.server import FakeDiscord  # the server builds on these objects

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
        "timestamp": snowflake_iso(message_id),
        "edited_timestamp": now_iso() if edited else None,
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

