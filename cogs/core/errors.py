"""One error path: every failure becomes a short ephemeral message in the member's language
(after a public deferral: the public reply says it in the server's language); unexpected
ones get a reference id that is also logged, so an owner can find the traceback."""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from collections.abc import Callable, Coroutine
from typing import Any, Final, TypeVar

import aiohttp
import discord
from discord import app_commands

from bot.i18n import N_, LocalizedError, _, use_locale
from bot.inputs import InvalidInput
from bot.providers.errors import ProviderError
from cogs.core.languages import enter_interaction_locale, interaction_public_locale
from cogs.core.mentions import mention_only
from cogs.core.option_check import OptionRefused, check_options

log = logging.getLogger(__name__)

_Item = TypeVar("_Item")

#: The refusal of a command used outside a server (English; shown as ``_(SERVER_ONLY)``).
SERVER_ONLY: Final = N_("This command works in a server, not in direct messages.")
#: Discord's codes for a first response that came too late (10062) or twice (40060).
LATE_CODES = (10062, 40060)
#: A first response refused as a repeat: the earlier one may have reached Discord.
ALREADY_ANSWERED = 40060
#: The longest message content Discord takes.
MESSAGE_MAX: Final = 2000
#: How long telling a member about an error may wait on Discord, all tries included.
REPORT_DEADLINE_SECONDS: Final = 10.0
#: The answer to an unexpected error, with the reference id that is also logged.
UNEXPECTED: Final = N_("Something went wrong on the bot's side (ref `{ref}`). Please try again.")
#: The ``interaction.extras`` key saying the reply is public (:func:`defer_publicly`).
PUBLIC_REPLY: Final = "public_reply"


class Refusal(LocalizedError, app_commands.AppCommandError):
    """A refusal a user can act on; its text is shown as it is. Give it text already in
    the reader's language (``_("...")``), or a :class:`~bot.i18n.LazyText`, translated
    when it is shown."""


async def defer_publicly(interaction: discord.Interaction) -> Any:
    """Answer with a public "thinking…" reply, the one a job's messages then edit. An error
    reported after it edits that reply in the server's language (:func:`report_error`)."""
    callback = await interaction.response.defer(thinking=True)
    mark_public_reply(interaction)
    return callback


def replies_publicly(interaction: discord.Interaction) -> bool:
    """Whether the interaction's reply is a public deferral (:func:`defer_publicly`, or
    :func:`mark_public_reply` when Discord took it but its answer was lost)."""
    return bool(interaction.extras.get(PUBLIC_REPLY))


def mark_public_reply(interaction: discord.Interaction) -> None:
    """The public deferral reached Discord though discord.py never heard so (its answer was
    lost, and Discord shows the reply): errors then edit that reply, as after any."""
    interaction.extras[PUBLIC_REPLY] = True


def _fit(content: str) -> str:
    return content if len(content) <= MESSAGE_MAX else content[: MESSAGE_MAX - 1] + "…"


async def reply_with_error(interaction: discord.Interaction, content: str, *,
                           public: str | None = None) -> None:
    """Tell the member ``content`` by response, else followup, else (token expired) in the
    channel; what everyone sees (a public reply, a channel post) says ``public`` instead
    (the same error in the server's language; default ``content``).

    After a "thinking…" deferral a followup would take the deferral's visibility (it
    replaces it), so the deferred reply itself is edited to carry the message: after a
    public one (:func:`defer_publicly`) with ``public``, and ``content`` follows privately
    when it says more or speaks another language. The channel is used only when a reply
    already exists: an interaction that was never answered (Discord no longer takes the
    answer: 10062, too late) gets nothing posted anywhere.
    """
    content = _fit(content)
    public = content if public is None else _fit(public)
    answered = interaction.response.is_done() or replies_publicly(interaction)
    try:
        if not answered:
            await interaction.response.send_message(content, ephemeral=True)
            return
        if not interaction.is_expired():
            deferred = discord.InteractionResponseType.deferred_channel_message
            if replies_publicly(interaction):
                await interaction.edit_original_response(content=public, embed=None, view=None)
                if content != public and not await _follow_up_privately(interaction, content):
                    # The public words say the member was told; they were not: the reply
                    # carries their own words after all.
                    await interaction.edit_original_response(content=content)
            elif interaction.response.type is deferred:
                await interaction.edit_original_response(content=content, embed=None, view=None)
            else:
                await interaction.followup.send(content, ephemeral=True)
            return
    except discord.HTTPException as exc:
        log.info("Could not answer interaction %s privately: HTTP %s (code %s)",
                 interaction.id, exc.status, exc.code)
    if not answered:
        return  # never answered: there is no reply to follow up on, and nothing is posted
    # The reply is gone or its token has expired: the channel, in the server's words when
    # the member has theirs privately (or they are the same), else in the member's own.
    told = content == public or (not interaction.is_expired()
                                 and await _follow_up_privately(interaction, content))
    channel = interaction.channel
    if isinstance(channel, discord.abc.Messageable):
        await channel.send(
            f"{interaction.user.mention} {public if told else content}",
            allowed_mentions=mention_only(interaction.user.id),
        )


async def _follow_up_privately(interaction: discord.Interaction, content: str) -> bool:
    """Tell the member ``content`` in a message only they see; whether Discord took it (a
    refusal is only logged)."""
    try:
        await interaction.followup.send(content, ephemeral=True)
    except discord.HTTPException as exc:
        log.info("Could not tell interaction %s's member privately: HTTP %s (code %s)",
                 interaction.id, exc.status, exc.code)
        return False
    return True


def message_for(error: BaseException) -> tuple[str, bool]:
    """(message, unexpected) for an error raised while handling an interaction."""
    error = _unwrap(error)
    if isinstance(error, Refusal | OptionRefused):
        return error.message, False
    if isinstance(error, InvalidInput):
        return error.message, False
    if isinstance(error, ProviderError):
        return error.localized_message, False
    if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
        return _("This command has changed: wait a moment for Discord to update it, then "
                 "try again."), False
    if isinstance(error, app_commands.CheckFailure):
        # No command uses discord.py's check decorators (permissions, cooldowns): the bot
        # checks in code and refuses with a Refusal (cogs/core/checks.py). Should one come
        # anyway, it gets a plain answer rather than "Something went wrong".
        return _("You can't use this here."), False
    return "", True


def public_message_for(error: BaseException, ref: str | None = None) -> str:
    """The error as everyone may see it, in the language of the moment: the words of
    :func:`message_for` when they can be had in it, else a short line (the member is told
    the reason privately); with ``ref``, the unexpected error of that reference."""
    if ref is not None:
        return _(UNEXPECTED, ref=ref)
    inner = _unwrap(error)
    if isinstance(inner, OptionRefused) or (isinstance(inner, LocalizedError)
                                            and not inner.translated_when_read):
        return _("That didn't work out: whoever asked has been told why, privately.")
    return message_for(error)[0]


def _unwrap(error: BaseException) -> BaseException:
    if isinstance(error, app_commands.CommandInvokeError | app_commands.TransformerError):
        if error.__cause__ is not None:
            return error.__cause__
        original = getattr(error, "original", error)
        return original if isinstance(original, BaseException) else error
    return error


def answered_too_late(error: BaseException) -> bool:
    """Discord refused a first response: too late (10062) or given twice (40060)."""
    error = _unwrap(error)
    return isinstance(error, discord.HTTPException) and error.code in LATE_CODES


async def report_error(interaction: discord.Interaction, error: BaseException) -> None:
    if answered_too_late(error) and not interaction.response.is_done():
        log.info("Interaction %s was answered too late (code %s); nothing to tell",
                 interaction.id, getattr(_unwrap(error), "code", None))
        return
    text, unexpected = message_for(error)
    ref = None
    if unexpected:
        ref = secrets.token_hex(3)
        log.error("Unexpected error (ref %s) in interaction %s", ref, interaction.id,
                  exc_info=(type(error), error, error.__traceback__))
        text = _(UNEXPECTED, ref=ref)
    public = None
    if interaction.guild_id is not None:  # a public reply or post speaks the server's language
        with use_locale(interaction_public_locale(interaction)):
            public = public_message_for(error, ref)
    try:
        async with asyncio.timeout(REPORT_DEADLINE_SECONDS):
            await reply_with_error(interaction, text, public=public)
    except (discord.HTTPException, aiohttp.ClientError, OSError) as exc:
        # TimeoutError is an OSError: Discord did not answer within the deadline.
        log.warning("Could not tell user about an error in interaction %s (%s)",
                    interaction.id, type(exc).__name__)


def reports_errors(
    callback: Callable[[_Item, discord.Interaction], Coroutine[Any, Any, None]],
) -> Callable[[_Item, discord.Interaction], Coroutine[Any, Any, None]]:
    """For a component's ``callback``: whatever it raises is answered by
    :func:`report_error`, as the command tree's handler answers a command's errors."""

    @functools.wraps(callback)
    async def reporting(item: _Item, interaction: discord.Interaction) -> None:
        try:
            await callback(item, interaction)
        except Exception as exc:
            await report_error(interaction, exc)

    return reporting


class BotTree(app_commands.CommandTree[discord.Client]):
    """The command tree, with the one error handler and the one check of raw options. Its
    check also sets the reader's language for the whole interaction (commands,
    autocomplete, and the error handler after them)."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        enter_interaction_locale(interaction)
        check_options(interaction)
        return True

    async def on_error(self, interaction: discord.Interaction,
                       error: app_commands.AppCommandError) -> None:
        await report_error(interaction, error)
