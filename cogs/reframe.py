"""/reframe and the **Reframe image** message menu (ideogram/ideogram-v3/reframe)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot import resolutions
from bot.i18n import N_, _, format_number, use_locale
from bot.inputs import DEFAULT_RESOLUTION, SEED_MAX, ReframeInputs, random_seed
from cogs.core.choices import RENDERING_SPEED_CHOICES, Palette
from cogs.core.errors import Refusal, report_error
from cogs.core.interaction_data import selected_values
from cogs.core.languages import LocalizedView, interaction_locale
from cogs.core.rendering import truncate

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot

log = logging.getLogger(__name__)

ACCEPTED_TYPES: Final = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}
ACCEPTED_EXTENSIONS: Final = {".png", ".jpg", ".jpeg", ".webp"}
MAX_IMAGE_BYTES: Final = 50 * 1024 * 1024
ACCEPTED_TEXT: Final = N_("PNG, JPEG or WebP images up to 50 MB")


class ResolutionTransformer(app_commands.Transformer):
    """Autocomplete over the 69 resolutions, and strict conversion of whatever arrives."""

    async def autocomplete(self, interaction: discord.Interaction,
                           value: int | float | str, /,
                           ) -> list[app_commands.Choice[int | float | str]]:
        return [app_commands.Choice(name=resolutions.label(r), value=r)
                for r in resolutions.search(str(value))]

    async def transform(self, interaction: discord.Interaction, value: Any) -> str:
        return resolutions.parse(str(value))


def is_accepted_image(content_type: str | None, filename: str) -> bool:
    if content_type:
        return content_type.split(";")[0].strip().lower() in ACCEPTED_TYPES
    return any(filename.lower().endswith(ext) for ext in ACCEPTED_EXTENSIONS)


def check_attachment(attachment: discord.Attachment) -> str:
    """The attachment's URL, or a :class:`Refusal` saying what is accepted."""
    if not is_accepted_image(attachment.content_type, attachment.filename):
        kind = truncate(attachment.content_type, 60) if attachment.content_type else None
        if kind is None:
            raise Refusal(_("I can't reframe this file type: send {accepted}.",
                            accepted=_(ACCEPTED_TEXT)))
        raise Refusal(_("I can't reframe {kind}: send {accepted}.", kind=kind,
                        accepted=_(ACCEPTED_TEXT)))
    if attachment.size > MAX_IMAGE_BYTES:
        raise Refusal(_("That image is {size} MB: send {accepted}.",
                        size=format_number(attachment.size / 1e6, digits=0),
                        accepted=_(ACCEPTED_TEXT)))
    return attachment.url


def images_in(message: discord.Message) -> list[tuple[str, str]]:
    """(label, url) of each image attached to a message. Only Discord attachments count:
    an embed's image URL can point anywhere, so it is never taken."""
    found: list[tuple[str, str]] = []
    for a in message.attachments:
        if is_accepted_image(a.content_type, a.filename) and a.size <= MAX_IMAGE_BYTES:
            found.append((a.filename, a.url))
    return found[:25]


#: How long a picker waits for a choice; then it says so (within the interaction's 15
#: minutes, while its message can still be edited).
PICKER_TIMEOUT: Final = 600.0


class ReframePicker(LocalizedView):
    """Ephemeral: pick an image (when there are several), then a size: picking the size
    starts the job (in the language of whoever uses it). Unused until its timeout, the
    message says it expired instead of leaving menus that no longer answer."""

    def __init__(self, images: list[tuple[str, str]], owner_id: int,
                 launch: Callable[[discord.Interaction, str, str], Awaitable[None]]) -> None:
        super().__init__(timeout=PICKER_TIMEOUT)
        self.shown_by: discord.Interaction | None = None  # the answer that shows the picker
        self._images = images
        self._chosen = images[0][1]
        self._owner_id = owner_id
        self._launch = launch
        if len(images) > 1:
            select: discord.ui.Select[ReframePicker] = discord.ui.Select(
                placeholder=_("Which image?"), custom_id="reframe:image",
                options=[discord.SelectOption(label=truncate(name, 100), value=str(i),
                                              default=i == 0)
                         for i, (name, _url) in enumerate(images)])
            select.callback = self._pick_image  # type: ignore[method-assign]  # discord.py's way
            self.add_item(select)
        res: discord.ui.Select[ReframePicker] = discord.ui.Select(
            placeholder=_("New size: picking one starts the job"), custom_id="reframe:resolution",
            options=[discord.SelectOption(label=truncate(resolutions.label(r), 100), value=r)
                     for r in resolutions.COMMON_RESOLUTIONS])
        res.callback = self._pick_resolution  # type: ignore[method-assign]  # discord.py's way
        self.add_item(res)

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        await super().interaction_check(interaction)
        return interaction.user.id == self._owner_id

    async def _pick_image(self, interaction: discord.Interaction) -> None:
        values = selected_values(interaction)
        index = int(values[0]) if values and values[0].isdigit() else 0
        self._chosen = self._images[min(index, len(self._images) - 1)][1]
        await interaction.response.defer()

    async def _pick_resolution(self, interaction: discord.Interaction) -> None:
        values = selected_values(interaction)
        resolution = values[0] if values else DEFAULT_RESOLUTION
        await self._launch(interaction, self._chosen, resolution)
        self.stop()

    async def on_error(self, interaction: discord.Interaction, error: Exception,
                       item: discord.ui.Item[Any]) -> None:
        await report_error(interaction, error)

    async def on_timeout(self) -> None:
        shown_by = self.shown_by
        if shown_by is None:
            return
        with use_locale(interaction_locale(shown_by)):
            text = _("This picker has expired: use Reframe again.")
        try:
            await shown_by.edit_original_response(content=text, view=None)
        except discord.HTTPException as exc:  # dismissed, or Discord refused
            log.info("Could not mark a reframe picker expired: HTTP %s", exc.status)


class ReframeCog(commands.Cog):
    def __init__(self, bot: IdeogramBot) -> None:
        self.bot = bot
        self.menu = app_commands.ContextMenu(name=locale_str("Reframe image"),
                                             callback=self.reframe_menu)
        self.menu.guild_only = True

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)

    @app_commands.command(name="reframe",
                          description=locale_str("Extend an image to a new size."))
    @app_commands.guild_only()
    @app_commands.describe(
        image=locale_str("PNG, JPEG or WebP, at most 50 MB"),
        resolution=locale_str("New size (type 16:9, 1536, wide, tall or square to filter)"),
        rendering_speed=locale_str("TURBO is cheapest, QUALITY is best (default BALANCED)"),
        seed=locale_str("Same seed + same options = same image (default: random)"),
        color_palette=locale_str("A colour palette preset (default none)"),
    )
    @app_commands.choices(rendering_speed=RENDERING_SPEED_CHOICES)
    async def reframe(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        resolution: app_commands.Transform[str, ResolutionTransformer] = DEFAULT_RESOLUTION,
        rendering_speed: str = "BALANCED",
        seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
        color_palette: Palette | None = None,
    ) -> None:
        url = check_attachment(image)
        inputs = ReframeInputs(
            image_url=url, resolution=resolutions.parse(resolution),
            rendering_speed=rendering_speed, color_palette=color_palette,
            seed=random_seed() if seed is None else seed,
        )
        await self.bot.launcher.launch(interaction, inputs)

    async def reframe_menu(self, interaction: discord.Interaction,
                           message: discord.Message) -> None:
        images = images_in(message)
        if not images:
            raise Refusal(_("That message has no attached image I can reframe ({accepted}; "
                            "images shown only in embeds can't be taken).",
                            accepted=_(ACCEPTED_TEXT)))
        await self.offer_picker(interaction, images)

    async def offer_picker(self, interaction: discord.Interaction,
                           images: list[tuple[str, str]]) -> None:
        """Answer ephemerally with the pickers; the choice starts a public job."""
        picker = ReframePicker(images, interaction.user.id, self._launch_from_picker)
        text = (_("Pick the image and the new size.") if len(images) > 1
                else _("Pick the new size for this image."))
        await interaction.response.send_message(text, view=picker, ephemeral=True)
        picker.shown_by = interaction

    async def _launch_from_picker(self, interaction: discord.Interaction, url: str,
                                  resolution: str) -> None:
        inputs = ReframeInputs(image_url=url, resolution=resolutions.parse(resolution),
                               seed=random_seed())
        await self.bot.launcher.launch(interaction, inputs)


async def setup(bot: IdeogramBot) -> None:
    await bot.add_cog(ReframeCog(bot))
