"""Checks several cogs share: the command is used in a server; the member is a moderator
(Manage Server or Administrator, checked in code whatever Discord's default permissions
say), or the job's requester; the job was not deleted."""

from __future__ import annotations

from typing import Final

import discord

from bot.i18n import N_, _
from bot.jobs import JobRecord
from cogs.core.errors import SERVER_ONLY, Refusal

MODERATORS_ONLY: Final = N_("Only moderators (Manage Server permission) can do that.")
NOT_YOURS: Final = N_("That's not your job: only the person who asked for it (or a moderator) "
                      "can do that.")


def guild_id_of(interaction: discord.Interaction) -> int:
    """The server the interaction came from, or a :class:`Refusal` in direct messages."""
    if interaction.guild_id is None:
        raise Refusal(_(SERVER_ONLY))
    return interaction.guild_id


def is_moderator(interaction: discord.Interaction) -> bool:
    perms = interaction.permissions
    return perms.manage_guild or perms.administrator


def require_moderator(interaction: discord.Interaction) -> None:
    """Raise :class:`Refusal` unless the user has Manage Server or Administrator here."""
    guild_id_of(interaction)
    if not is_moderator(interaction):
        raise Refusal(_(MODERATORS_ONLY))


def require_owner_or_moderator(interaction: discord.Interaction, job: JobRecord) -> None:
    """Raise :class:`Refusal` unless the user asked for ``job`` or is a moderator here."""
    if interaction.user.id != job.user_id and not is_moderator(interaction):
        raise Refusal(_(NOT_YOURS))


def refuse_if_deleted(job: JobRecord) -> None:
    """A deleted job is gone for everyone: Info, Reroll, Remix, recall (and anything else
    that reuses it) are refused with :class:`Refusal`."""
    if job.deleted_at is not None:
        raise Refusal(_("Job `{job}` was deleted.", job=job.short_id))

