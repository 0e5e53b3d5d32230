"""The server's rules for every new job, checked before the interaction is answered.

The command must be turned on, the channel allowed (a thread counts as its parent
channel), and the prompt and negative prompt free of the server's blocked words. The
rules come from the in-memory settings cache: no database read before the answer. A
refusal is the interaction's first, ephemeral response; a blocked attempt is also posted
to the moderation log channel, in the background, so a failing post never changes the
refusal. Moderators change the rules with ``/settings`` (:mod:`cogs.settings`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

import discord

from bot.i18n import N_, _, ngettext
from bot.inputs import GENERATE_MODEL, IDEOGRAM_GENERATE_MODEL, REFRAME_MODEL
from bot.jobs import JobRecord
from bot.moderation import find_blocked
from cogs.core.errors import Refusal
from cogs.core.mentions import channel_mention, user_mention
from cogs.core.rendering import truncate, user_text

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot

log = logging.getLogger(__name__)

MAX_LISTED_CHANNELS: Final = 10
COMMAND_OF_MODEL: Final[dict[str, str]] = {
    GENERATE_MODEL: "ideogram", IDEOGRAM_GENERATE_MODEL: "ideogram", REFRAME_MODEL: "reframe",
}
BLOCKED_REFUSAL: Final = N_(
    "Your prompt contains a word or phrase this server doesn't allow. Please rephrase it."
)
RECALL_BLOCKED: Final = N_(
    "That job's prompt contains a word or phrase this server no longer allows, so it can't "
    "be posted again."
)

def interaction_channel_ids(interaction: discord.Interaction) -> set[int]:
    """The channel the interaction came from and, for a thread, its parent channel."""
    ids = {interaction.channel_id} if interaction.channel_id else set()
    parent_id = getattr(interaction.channel, "parent_id", None)
    if isinstance(parent_id, int):
        ids.add(parent_id)
    return ids


def channel_list(channel_ids: frozenset[int] | set[int]) -> str:
    ordered = sorted(channel_ids)
    shown = ", ".join(f"<#{c}>" for c in ordered[:MAX_LISTED_CHANNELS])
    more = len(ordered) - MAX_LISTED_CHANNELS
    if more <= 0:
        return shown
    return ngettext("{channels} and {n} more", "{channels} and {n} more", more, channels=shown)


def job_texts(job: JobRecord) -> list[str]:
    """The free text of a job that blocked words apply to."""
    return [str(job.inputs.get(key) or "") for key in ("prompt", "negative_prompt")]


def blocked_log_line(job: JobRecord, matched: str, *, command: str, member_id: int,
                     channel_id: int) -> str:
    """The log channel's line for a blocked attempt (texts spoilered, markdown escaped), in
    the language of the moment: ``command`` used by ``member_id`` in ``channel_id`` (for a
    recall, not the job's own author and channel)."""
    def hidden(text: str, limit: int) -> str:
        return f"||{discord.utils.escape_markdown(truncate(' '.join(text.split()), limit))}||"

    prompt, negative = job_texts(job)
    line = _("🚫 Blocked `/{command}` from {member} in {channel}: matched {matched}. "
             "Prompt: {prompt}", command=command, member=user_mention(member_id),
             channel=channel_mention(channel_id), matched=hidden(matched, 100),
             prompt=hidden(prompt, 600))
    if negative:
        line += " " + _("Negative prompt: {prompt}", prompt=hidden(negative, 300))
    return line


class ServerRules:
    """The launch check that enforces ``/settings``."""

    def __init__(self, bot: IdeogramBot) -> None:
        self._bot = bot

    def check_place(self, interaction: discord.Interaction, command: str | None) -> None:
        """Refuse ``/command`` where the server's settings forbid it: turned off, or not in
        an allowed channel (raises :class:`Refusal`).

        The rules that need no prompt: a form or a picker that leads to a new job checks
        them before it opens, so that nobody types or picks only to be refused.
        """
        if interaction.guild_id is None:
            return
        settings = self._bot.guild_settings.get(interaction.guild_id)
        enabled = {"ideogram": settings.ideogram_enabled, "reframe": settings.reframe_enabled}
        if command is not None and not enabled[command]:
            raise Refusal(_("`/{command}` is turned off on this server by its moderators.",
                            command=command))
        here = interaction_channel_ids(interaction)
        if settings.allowed_channel_ids and not here & settings.allowed_channel_ids:
            raise Refusal(_("Images can't be made in this channel. Use {channels}.",
                            channels=channel_list(settings.allowed_channel_ids)))

    async def check(self, interaction: discord.Interaction, job: JobRecord, *,
                    recalled_by: str | None = None) -> None:
        """Refuse a job that the server's settings forbid (raises :class:`Refusal`).

        ``recalled_by``: ``job`` is a past job that this command (``job`` for ``/job``;
        ``ideogram`` for a batch's image button) would post again, for whoever uses it
        where they use it; the log names that command.
        """
        if interaction.guild_id is None:
            return
        settings = self._bot.guild_settings.get(interaction.guild_id)
        command = COMMAND_OF_MODEL.get(job.model)
        self.check_place(interaction, command)
        matched = find_blocked(job_texts(job), settings.blocked_words)
        if matched is not None:
            used = recalled_by or command or job.model
            member_id, channel_id = interaction.user.id, interaction.channel_id or job.channel_id
            log.info("Blocked a /%s prompt from user %s in guild %s", used, member_id,
                     interaction.guild_id)
            self._bot.mod_log.post_soon(interaction.guild_id, lambda: blocked_log_line(
                job, matched, command=used, member_id=member_id, channel_id=channel_id))
            if recalled_by:
                raise Refusal(_(RECALL_BLOCKED))
            preset = (self._bot.guild_settings.preset(interaction.guild_id, job.preset)
                      if job.preset else None)
            if preset is not None and find_blocked(preset.texts, settings.blocked_words):
                # A phrase blocked since the preset was saved: no rephrasing of the member's
                # own prompt would help.
                raise Refusal(_("The preset **{preset}** has a word or phrase this server "
                                "doesn't allow. Leave the preset out, or ask a moderator to "
                                "change it with `/preset save`.",
                                preset=user_text(preset.name, 40)))
            raise Refusal(_(BLOCKED_REFUSAL))
