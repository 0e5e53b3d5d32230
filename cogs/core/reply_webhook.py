"""A job's reply, reached through its interaction's webhook from the stored token.

After a restart the :class:`discord.Interaction` is gone, but its token (sealed in the job
row, see :mod:`bot.reply_token`) still works until it expires: the reply is edited where
the user saw "thinking…", not posted anew.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord.webhook.async_ import async_context

from bot.jobs import JobRecord

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot


def reply_webhook(bot: IdeogramBot, job: JobRecord, token: str) -> discord.Webhook:
    """The interaction's webhook (application id + interaction token), bound to the bot so
    that the buttons of edited messages keep working."""
    if job.application_id is None:
        raise ValueError("the job has no application id")
    return discord.Webhook.partial(job.application_id, token, client=bot)


async def original_message_id(bot: IdeogramBot, job: JobRecord, token: str) -> int | None:
    """The id of the interaction's reply (``@original``), or None when there is none: the
    command was never answered, or the reply was deleted."""
    webhook = reply_webhook(bot, job, token)
    # discord.py has no public call for ``GET …/messages/@original`` outside an
    # Interaction; its webhook adapter has the route (the one Interaction uses).
    adapter = async_context.get()
    try:
        data: Any = await adapter.get_original_interaction_response(
            webhook.id, token, session=webhook.session, proxy=webhook.proxy,
            proxy_auth=webhook.proxy_auth)
    except discord.NotFound:
        return None
    return int(data["id"])


async def edit_reply(bot: IdeogramBot, job: JobRecord, token: str, message_id: int, *,
                     content: str, embed: discord.Embed | None, view: discord.ui.View,
                     attachments: list[discord.File]) -> discord.Message:
    """Edit the reply through the webhook; raises :class:`discord.HTTPException`."""
    webhook = reply_webhook(bot, job, token)
    return await webhook.edit_message(message_id, content=content, embed=embed, view=view,
                                      attachments=attachments)
