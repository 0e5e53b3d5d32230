"""Slash-command options in wire format, with the ``resolved`` data some types need."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tests.harness.ids import PERMS_MEMBER, default_perms_roles
from tests.harness.objects import attachment_payload, channel_payload, member_payload, user_payload

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


def attachment_option(name: str, *, attachment: Mapping[str, Any] | None = None,
                      **payload: Any) -> dict[str, Any]:
    """An attachment option (type 11). The matching ``resolved.attachments`` entry rides
    along and is moved into ``data.resolved`` by :func:`chat_input`/:func:`autocomplete`.
    Pass a prebuilt ``attachment``, or :func:`attachment_payload`'s arguments (``data=``:
    bytes served by the running fake)."""
    att = dict(attachment) if attachment is not None else attachment_payload(**payload)
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
    perms = permissions if permissions is not None else default_perms_roles(user_id)[0]
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


def normalise_options(
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
            o["options"] = normalise_options(o["options"], resolved)
        out.append(o)
    return out


def wrap_subcommand(options: list[dict[str, Any]], subcommand: str | None) -> list[dict[str, Any]]:
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

