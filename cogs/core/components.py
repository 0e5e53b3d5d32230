"""Persistent buttons on job replies. The custom_id carries the job id, so they keep
working after a restart (registered once with ``add_dynamic_items``)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

import discord

from bot.jobs import JobRecord, JobStatus

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot

ACTIONS: Final = ("cancel", "reroll", "reframe", "info", "delete")
_LOOKS: Final[dict[str, tuple[str, discord.ButtonStyle, str]]] = {
    "cancel": ("Cancel", discord.ButtonStyle.danger, "✖️"),
    "reroll": ("Reroll", discord.ButtonStyle.primary, "🎲"),
    "reframe": ("Reframe", discord.ButtonStyle.secondary, "🖼️"),
    "info": ("Info", discord.ButtonStyle.secondary, "ℹ️"),
    "delete": ("Delete", discord.ButtonStyle.secondary, "🗑️"),
}


def custom_id(job_id: str, action: str) -> str:
    return f"job:{job_id}:{action}"


class JobButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"job:(?P<job_id>[0-9a-f]{32}):(?P<action>cancel|reroll|reframe|info|delete)",
):
    def __init__(self, job_id: str, action: str) -> None:
        label, style, emoji = _LOOKS[action]
        super().__init__(discord.ui.Button(label=label, style=style, emoji=emoji,
                                           custom_id=custom_id(job_id, action)))
        self.job_id = job_id
        self.action = action

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> JobButton:
        return cls(match["job_id"], match["action"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: IdeogramBot = interaction.client  # type: ignore[assignment]
        await bot.job_actions.handle(interaction, self.job_id, self.action)


def buttons_for(job: JobRecord) -> list[str]:
    if job.status in (JobStatus.PENDING, JobStatus.QUEUED):
        return ["cancel", "info"]
    if job.status is JobStatus.COMPLETED:
        return ["reroll", "reframe", "info", "delete"]
    if job.status is JobStatus.FAILED:
        return ["reroll", "info"]
    return ["info"]


def job_view(job: JobRecord) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in buttons_for(job):
        view.add_item(JobButton(job.id, action))
    return view
