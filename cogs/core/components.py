"""Persistent buttons on job and batch replies. The custom_id carries the job (or batch) id
and the action, so they keep working after a restart (:class:`ReplyButton`, registered once
with ``add_dynamic_items``)."""

from __future__ import annotations

import re
from typing import Any, Final

import discord

from bot.i18n import N_, _
from bot.inputs import GENERATE_MODEL, IDEOGRAM_GENERATE_MODEL
from bot.jobs import JobRecord, JobStatus
from cogs.core.errors import reports_errors
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


def batch_custom_id(batch_id: str, action: str) -> str:
    return f"batch:{batch_id}:{action}"


class ReplyButton(
    SpeaksReaderLocale,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=(rf"job:(?P<job_id>[0-9a-f]{{32}}):(?P<job_action>{'|'.join(ACTIONS)})"
              r"|batch:(?P<batch_id>[0-9a-f]{32}):(?P<batch_action>[1-4]|rerollall|cancel)"),
):
    """A button on a job's reply (:meth:`for_job`) or a batch's (:meth:`for_batch`).

    A click goes to that kind's handler (``bot.job_actions`` or ``bot.batch_actions``)
    with the id and the action its custom id carries.
    """

    def __init__(self, button: discord.ui.Button[Any], *, batch: bool, target_id: str,
                 action: str) -> None:
        super().__init__(button)
        self.batch = batch
        self.target_id = target_id
        self.action = action

    @classmethod
    def for_job(cls, job_id: str, action: str) -> ReplyButton:
        """Cancel, Reroll, Reframe, Info, Delete or Remix under a job's reply."""
        label, style, emoji = _LOOKS[action]
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=_(label), style=style, emoji=emoji, custom_id=custom_id(job_id, action))
        return cls(button, batch=False, target_id=job_id, action=action)

    @classmethod
    def for_batch(cls, batch_id: str, action: str, *, disabled: bool = False) -> ReplyButton:
        """Under a batch's reply: 1…N (post that image full size), Reroll all, Cancel."""
        custom = batch_custom_id(batch_id, action)
        if action == "rerollall":
            button: discord.ui.Button[Any] = discord.ui.Button(
                label=_(REROLL_ALL), style=discord.ButtonStyle.primary, emoji="🎲",
                custom_id=custom)
        elif action == "cancel":
            label, style, emoji = _LOOKS["cancel"]
            button = discord.ui.Button(label=_(label), style=style, emoji=emoji,
                                       custom_id=custom)
        else:
            button = discord.ui.Button(label=action, style=discord.ButtonStyle.secondary,
                                       custom_id=custom, disabled=disabled)
        return cls(button, batch=True, target_id=batch_id, action=action)

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> ReplyButton:
        if match["job_id"] is not None:
            return cls.for_job(match["job_id"], match["job_action"])
        return cls.for_batch(match["batch_id"], match["batch_action"])

    @reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:
        bot = bot_of(interaction)
        handler = bot.batch_actions if self.batch else bot.job_actions
        await handler.handle(interaction, self.target_id, self.action)


#: What acts on the image attached to the clicked message (Reframe sends it to the image
#: service): of no use on a message that shows the image as a link only.
NEEDS_ATTACHED_IMAGE: Final = frozenset({"reframe"})


def buttons_for(job: JobRecord, *, image_attached: bool = True) -> list[str]:
    """The buttons of ``job``'s message; ``image_attached`` False: the message shows no
    image of its own (a link to the image service's copy, or none)."""
    if job.status in (JobStatus.PENDING, JobStatus.QUEUED):
        return ["cancel", "info"]
    if job.status is JobStatus.COMPLETED:
        remix = ["remix"] if job.model in REMIXABLE_MODELS else []
        actions = ["reroll", "reframe", "info", "delete", *remix]
        if not image_attached:
            actions = [a for a in actions if a not in NEEDS_ATTACHED_IMAGE]
        return actions
    if job.status is JobStatus.FAILED:
        return ["reroll", "info"]
    return ["info"]


def job_view(job: JobRecord, *, image_attached: bool = True) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in buttons_for(job, image_attached=image_attached):
        view.add_item(ReplyButton.for_job(job.id, action))
    return view


def without_image_buttons(view: discord.ui.View) -> discord.ui.View:
    """``view`` without the buttons that need the image attached to their message, for
    the same message sent as text with links."""
    kept = discord.ui.View(timeout=None)
    for item in view.children:
        if not (isinstance(item, ReplyButton) and not item.batch
                and item.action in NEEDS_ATTACHED_IMAGE):
            kept.add_item(item)
    return kept


def batch_view(jobs: list[JobRecord]) -> discord.ui.View:
    """While a batch runs: Cancel, if anything is still waiting. When it has ended: a
    button per image (disabled for one that failed) and Reroll all."""
    view = discord.ui.View(timeout=None)
    batch_id = jobs[0].batch_id
    assert batch_id is not None
    if not all(job.status.terminal for job in jobs):
        if any(job.status in (JobStatus.PENDING, JobStatus.QUEUED) for job in jobs):
            view.add_item(ReplyButton.for_batch(batch_id, "cancel"))
        return view
    for number, job in enumerate(jobs, start=1):
        view.add_item(ReplyButton.for_batch(batch_id, str(number),
                                            disabled=job.status is not JobStatus.COMPLETED))
    view.add_item(ReplyButton.for_batch(batch_id, "rerollall"))
    return view
