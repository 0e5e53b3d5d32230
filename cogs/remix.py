"""Remix: change the prompt of a text-to-image result and make it again.

The Remix button opens a modal titled "Remix" with the result's prompt and negative prompt
filled in. Submitting starts a new job with the original's other options and a new seed,
through the same launch path as any command (the server's rules, the quota, the answer).
Only the requester may remix their result, or a moderator.

The modal is not kept in discord.py's memory of open views: its submission is recognised by
its custom id (``remix:<job id>``) in ``on_interaction``, so a modal opened before a restart
still works after it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

import discord
from discord.ext import commands

from bot.i18n import N_, _
from bot.inputs import (
    NEGATIVE_PROMPT_MAX,
    PROMPT_MAX,
)
from bot.jobs import JobRecord
from cogs.core.checks import refuse_if_deleted, require_owner_or_moderator
from cogs.core.components import REMIXABLE_MODELS
from cogs.core.errors import Refusal, report_error
from cogs.core.job_actions import GONE, NOT_REMIXABLE
from cogs.core.languages import enter_interaction_locale

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot


CUSTOM_ID: Final = re.compile(r"^remix:(?P<job_id>[0-9a-f]{32})$")


# Translators: the Remix modal's title (the button's name) and its two text boxes.
TITLE: Final = N_("Remix")


def remix_modal(job: JobRecord) -> discord.ui.Modal:
    """The modal, prefilled from ``job``, detached from discord.py's view store, in the
    language of whoever clicked Remix."""
    modal = discord.ui.Modal(title=_(TITLE), custom_id=f"remix:{job.id}", timeout=None)
    modal.add_item(discord.ui.TextInput(
        label=_("Prompt"), custom_id="prompt", placeholder=_("What to draw"),
        style=discord.TextStyle.paragraph,
        default=str(job.inputs.get("prompt", ""))[:PROMPT_MAX], min_length=1,
        max_length=PROMPT_MAX, required=True))
    modal.add_item(discord.ui.TextInput(
        label=_("Negative prompt"), custom_id="negative_prompt",
        placeholder=_("What to keep out of the image (optional)"),
        style=discord.TextStyle.paragraph,
        default=str(job.inputs.get("negative_prompt", ""))[:NEGATIVE_PROMPT_MAX] or None,
        max_length=NEGATIVE_PROMPT_MAX, required=False))
    modal.stop()  # answered by RemixCog.on_interaction, not by discord.py's modal store
    return modal


def submitted_values(data: Any) -> dict[str, str]:
    """The text inputs of a modal submission, by custom id (anything malformed is dropped)."""
    values: dict[str, str] = {}
    rows = data.get("components") if isinstance(data, dict) else None
    for row in rows if isinstance(rows, list) else []:
        inner = row.get("components") if isinstance(row, dict) else None
        for item in inner if isinstance(inner, list) else []:
            if isinstance(item, dict) and isinstance(item.get("custom_id"), str) \
                    and isinstance(item.get("value"), str):
                values[item["custom_id"]] = item["value"]
    return values


class RemixCog(commands.Cog):
    def __init__(self, bot: IdeogramBot) -> None:
        self.bot = bot

    async def open_modal(self, interaction: discord.Interaction, job: JobRecord) -> None:
        """The Remix button: the modal, for the requester or a moderator."""
        require_owner_or_moderator(interaction, job)
        if job.model not in REMIXABLE_MODELS:
            raise Refusal(_(NOT_REMIXABLE))
        self.bot.server_rules.check_place(interaction, "ideogram")
        # Whatever would refuse the remix whatever is typed, before anyone types: options
        # the server's provider of now lacks, or a provider this bot no longer has.
        launcher = self.bot.launcher
        launcher.provider_for(launcher.rerun_inputs(interaction, job).model)
        await interaction.response.send_modal(remix_modal(job))

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        data: Any = interaction.data or {}
        match = CUSTOM_ID.match(str(data.get("custom_id", "")))
        if match is None:
            return
        enter_interaction_locale(interaction)  # refusals speak the submitter's language
        try:
            await self._submit(interaction, match["job_id"], submitted_values(data))
        except Exception as exc:
            await report_error(interaction, exc)

    async def _submit(self, interaction: discord.Interaction, job_id: str,
                      values: dict[str, str]) -> None:
        job = await self.bot.store.get_job(job_id, urgent=True)
        if job is None or job.guild_id != interaction.guild_id:
            raise Refusal(_(GONE))
        refuse_if_deleted(job)
        require_owner_or_moderator(interaction, job)
        if job.model not in REMIXABLE_MODELS:
            raise Refusal(_(NOT_REMIXABLE))
        prompt = values.get("prompt", "").strip()
        negative = values.get("negative_prompt", "").strip()
        # Validated as the command's options are (length, NUL…) when the inputs are built,
        # for the provider that serves /ideogram here now.
        inputs = self.bot.launcher.rerun_inputs(interaction, job, prompt=prompt,
                                                negative_prompt=negative)
        # The other options are the original's, from its preset too: Info names it, as for
        # a Reroll.
        await self.bot.launcher.launch(interaction, inputs, preset=job.preset)


async def setup(bot: IdeogramBot) -> None:
    await bot.add_cog(RemixCog(bot))
