"""Every slash command's raw options are checked against what the command declares,
before discord.py converts them: an unknown or repeated option, a missing required one, a
value of the wrong kind (a number for a member, text for a whole number), a non-finite
number or a whole number past Discord's range is refused with one short line. Discord's
own client never sends such payloads; anything else that talks to the bot's endpoint
might.

Called from the command tree's ``interaction_check``, so it covers every command at once.
"""

from __future__ import annotations

import math
import re
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, Final, cast

import discord
from discord import AppCommandOptionType as Kind
from discord import app_commands

from bot.i18n import _

#: Discord's integer options hold what a double holds exactly.
INTEGER_LIMIT: Final = 2**53
MAX_TEXT: Final = 6000
SNOWFLAKE_LIMIT: Final = 2**63
#: A snowflake as text: ASCII digits only (``"²"`` is a digit to ``str.isdigit``, not to
#: ``int``), at most 19 of them.
_SNOWFLAKE: Final = re.compile(r"[0-9]{1,19}")
_SNOWFLAKE_KINDS: Final = {Kind.user, Kind.channel, Kind.role, Kind.mentionable,
                           Kind.attachment}


class OptionRefused(app_commands.AppCommandError):
    """An option payload that does not fit the command; ``message`` says which."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _leaf_options(options: Sequence[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
    """The options of the subcommand actually invoked (groups and subcommands unwrapped)."""
    while (len(options) == 1 and isinstance(options[0], Mapping)
           and options[0].get("type") in (Kind.subcommand.value, Kind.subcommand_group.value)):
        inner = options[0].get("options") or []
        options = inner if isinstance(inner, list) else []
    return options


def _fits(kind: Kind, value: object) -> bool:
    if kind is Kind.string:
        return isinstance(value, str) and len(value) <= MAX_TEXT
    if kind is Kind.integer:
        return (isinstance(value, int) and not isinstance(value, bool)
                and -INTEGER_LIMIT <= value <= INTEGER_LIMIT)
    if kind is Kind.number:
        return (isinstance(value, int | float) and not isinstance(value, bool)
                and math.isfinite(value) and abs(value) <= INTEGER_LIMIT)
    if kind is Kind.boolean:
        return isinstance(value, bool)
    if kind in _SNOWFLAKE_KINDS:
        # A snowflake is a positive 64-bit id below 2**63 (what the database can hold).
        return (isinstance(value, str | int) and not isinstance(value, bool)
                and _SNOWFLAKE.fullmatch(str(value)) is not None
                and 0 < int(str(value)) < SNOWFLAKE_LIMIT)
    return False


_DECLARED: weakref.WeakKeyDictionary[app_commands.Command[Any, Any, Any],
                                     dict[str, tuple[Kind, bool]]] = weakref.WeakKeyDictionary()


def _declared(command: app_commands.Command[Any, Any, Any]) -> dict[str, tuple[Kind, bool]]:
    """Each option a command declares: its kind and whether it is required (read once)."""
    found = _DECLARED.get(command)
    if found is None:
        found = _DECLARED[command] = {p.display_name: (p.type, p.required)
                                      for p in command.parameters}
    return found


def check_options(interaction: discord.Interaction) -> None:
    """Raise :class:`OptionRefused` when a slash command's options do not fit it."""
    if interaction.type is not discord.InteractionType.application_command:
        return
    data = cast("Mapping[str, Any]", interaction.data or {})
    if data.get("type", 1) != 1:
        return  # context menus carry no options
    command = interaction.command
    if not isinstance(command, app_commands.Command):
        return
    raw = data.get("options") or []
    if not isinstance(raw, list):
        raise OptionRefused(_("Those options are malformed."))
    declared = _declared(command)
    seen: set[str] = set()
    for option in _leaf_options(raw):
        if not isinstance(option, Mapping):
            raise OptionRefused(_("Those options are malformed."))
        name = str(option.get("name", ""))[:40]
        param = declared.get(name)
        if param is None:
            raise OptionRefused(_("/{command} has no option `{option}`.",
                                  command=command.qualified_name, option=name))
        if name in seen:
            raise OptionRefused(_("`{option}` was given twice.", option=name))
        seen.add(name)
        kind, _required = param
        if option.get("type") != kind.value or not _fits(kind, option.get("value")):
            raise OptionRefused(_("`{option}` got a value of the wrong kind or size.",
                                  option=name))
    missing = [name for name, (_kind, required) in declared.items()
               if required and name not in seen]
    if missing:
        raise OptionRefused(_("/{command} needs `{option}`.", command=command.qualified_name,
                              option=missing[0]))
