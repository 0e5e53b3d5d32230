"""INTERACTION_CREATE payloads as the gateway delivers them: slash commands, autocomplete,
components and message context menus."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypedDict, Unpack

from tests.harness.ids import (
    APP_PERMISSIONS,
    APPLICATION_ID,
    BOT_USER_ID,
    CHANNEL_ID,
    DEFAULT_ATTACHMENT_SIZE_LIMIT,
    GUILD_ID,
    USER_ID,
    default_perms_roles,
    new_snowflake,
    new_token,
)
from tests.harness.objects import (
    action_row,
    button,
    channel_payload,
    member_payload,
    message_payload,
    string_select,
    user_payload,
)
from tests.harness.options import normalise_options, wrap_subcommand


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
    #: The channel is a public thread of this channel (Discord: type 11 with ``parent_id``).
    thread_parent_id: int
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
    default_perms, default_roles = default_perms_roles(user_id)
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
        parent_id = ctx.get("thread_parent_id")
        if parent_id is not None:
            payload["channel"] |= {
                "type": 11, "parent_id": str(parent_id), "owner_id": str(user_id),
                "member_count": 1, "message_count": 0,
                "thread_metadata": {"archived": False, "auto_archive_duration": 1440,
                                    "archive_timestamp": "2026-01-01T00:00:00+00:00",
                                    "locked": False}}
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


def _command_data(
    name: str,
    options: list[dict[str, Any]],
    resolved: dict[str, Any],
    *,
    subcommand: str | None,
    command_id: int | None,
    command_guild_id: int | None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(command_id or new_snowflake()),
        "name": name,
        "type": 1,
        "options": wrap_subcommand(options, subcommand),
    }
    if resolved:
        data["resolved"] = resolved
    if command_guild_id is not None:
        data["guild_id"] = str(command_guild_id)
    return data


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
    opts = normalise_options(options, res)
    data = _command_data(name, opts, res, subcommand=subcommand, command_id=command_id,
                         command_guild_id=command_guild_id)
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
    opts = normalise_options(options, res)
    for o in opts:
        if o["name"] == focused:
            o["focused"] = True
            break
    else:
        opts.append({"name": focused, "type": 3, "value": "", "focused": True})
    data = _command_data(name, opts, res, subcommand=subcommand, command_id=command_id,
                         command_guild_id=command_guild_id)
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


def modal_submit(
    custom_id: str,
    values: Mapping[str, str],
    **context: Unpack[InteractionContext],
) -> dict[str, Any]:
    """A modal submission INTERACTION_CREATE (type 5): one text input per ``values`` item
    (custom id → what the member typed), each in its own row, as Discord sends them."""
    rows = [{"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]}
            for key, value in values.items()]
    return _envelope(5, {"custom_id": custom_id, "components": rows}, context)


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

