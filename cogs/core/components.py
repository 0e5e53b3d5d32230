"""Persistent buttons on job and batch replies. The custom_id carries the job (or batch) id,
so they keep working after a restart (registered once with ``add_dynamic_items``)."""

from __future__ import annotations

import re
from typing import Any, Final

import discord

from bot.i18n import N_, _
from bot.inputs import GENERATE_MODEL, IDEOGRAM_GENERATE_MODEL
from bot.jobs import JobRecord, JobStatus
from cogs.core.interaction_data import bot_of
from cogs.core.languages import SpeaksReaderLocale

ACTIONS: Final = ("cancel", "reroll", "reframe", "info", "delete", "remix")
#: Each button's label (English; shown in the reader's language), style and emoji.
_LOOKS: Final[dict[str, tuple[str, discord.ButtonStyle, str]]] = {
    # Translators: buttons under a job's reply (short: Discord shows them side by side).
    "cancel": (N_("Cancel"), discord.ButtonStyle.danger, "✖️"),
    "reroll": (N_("Reroll"), discord.ButtonStyle.primary, "🎲"),
    "reframe": (N_("Reframe"), discord.ButtonStyle.secondary, "🖼️"),
    "info": (N_("Info"), discord.ButtonStyle.secondary, "ℹ️"),
    "delete": (N_("Delete"), discord.ButtonStyle.secondary, "🗑️"),
    "remix": (N_("Remix"), discord.ButtonStyle.secondary, "✏️"),
}
REROLL_ALL: Final = N_("Reroll all")
#: Text-to-image results can be remixed (a new prompt, the same other options).
REMIXABLE_MODELS: Final = (GENERATE_MODEL, IDEOGRAM_GENERATE_MODEL)


def custom_id(job_id: str, action: str) -> str:
    return f"job:{job_id}:{action}"


class JobButton(
    SpeaksReaderLocale,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"job:(?P<job_id>[0-9a-f]{32}):(?P<action>cancel|reroll|reframe|info|delete|remix)",
):
    def __init__(self, job_id: str, action: str) -> None:
        label, style, emoji = _LOOKS[action]
        super().__init__(discord.ui.Button(label=_(label), style=style, emoji=emoji,
                                           custom_id=custom_id(job_id, action)))
        self.job_id = job_id
        self.action = action

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> JobButton:
        return cls(match["job_id"], match["action"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = bot_of(interaction)
        await bot.job_actions.handle(interaction, self.job_id, self.action)


def buttons_for(job: JobRecord) -> list[str]:
    if job.status in (JobStatus.PENDING, JobStatus.QUEUED):
        return ["cancel", "info"]
    if job.status is JobStatus.COMPLETED:
        remix = ["remix"] if job.model in REMIXABLE_MODELS else []
        return ["reroll", "reframe", "info", "delete", *remix]
    if job.status is JobStatus.FAILED:
        return ["reroll", "info"]
    return ["info"]


def job_view(job: JobRecord) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in buttons_for(job):
        view.add_item(JobButton(job.id, action))
    return view


def batch_custom_id(batch_id: str, action: str) -> str:
    return f"batch:{batch_id}:{action}"


class BatchButton(
    SpeaksReaderLocale,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"batch:(?P<batch_id>[0-9a-f]{32}):(?P<action>[1-4]|rerollall|cancel)",
):
    """A batch's buttons: 1…N (post that image full size), Reroll all, Cancel."""

    def __init__(self, batch_id: str, action: str, *, disabled: bool = False) -> None:
        if action == "rerollall":
            button: discord.ui.Button[Any] = discord.ui.Button(
                label=_(REROLL_ALL), style=discord.ButtonStyle.primary, emoji="🎲",
                custom_id=batch_custom_id(batch_id, action))
        elif action == "cancel":
            label, style, emoji = _LOOKS["cancel"]
            button = discord.ui.Button(label=_(label), style=style, emoji=emoji,
                                       custom_id=batch_custom_id(batch_id, action))
        else:
            button = discord.ui.Button(label=action, style=discord.ButtonStyle.secondary,
                                       custom_id=batch_custom_id(batch_id, action),
                                       disabled=disabled)
        super().__init__(button)
        self.batch_id = batch_id
        self.action = action

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> BatchButton:
        return cls(match["batch_id"], match["action"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot = bot_of(interaction)
        await bot.batch_actions.handle(interaction, self.batch_id, self.action)


def batch_view(jobs: list[JobRecord]) -> discord.ui.View:
    """While a batch runs: Cancel, if anything is still waiting. When it has ended: a
    button per image (disabled for one that failed) and Reroll all."""
    view = discord.ui.View(timeout=None)
    batch_id = jobs[0].batch_id
    assert batch_id is not None
    if not all(job.status.terminal for job in jobs):
        if any(job.status in (JobStatus.PENDING, JobStatus.QUEUED) for job in jobs):
            view.add_item(BatchButton(batch_id, "cancel"))
        return view
    for number, job in enumerate(jobs, start=1):
        view.add_item(BatchButton(batch_id, str(number),
                                  disabled=job.status is not JobStatus.COMPLETED))
    view.add_item(BatchButton(batch_id, "rerollall"))
    return view
