"""/reframe and the **Reframe image** message menu (ideogram/ideogram-v3/reframe)."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, Final

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot import resolutions
from bot.i18n import N_, _, format_number
from bot.inputs import (
    DEFAULT_RESOLUTION,
    REFRAME_MODEL,
    SEED_MAX,
    ReframeInputs,
    random_seed,
)
from cogs.core.choices import PALETTE_CHOICES, RENDERING_SPEED_CHOICES
from cogs.core.errors import Refusal, reports_errors
from cogs.core.interaction_data import bot_of, selected_values
from cogs.core.languages import SpeaksReaderLocale
from cogs.core.rendering import truncate

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot

log = logging.getLogger(__name__)

ACCEPTED_TYPES: Final = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}
ACCEPTED_EXTENSIONS: Final = {".png", ".jpg", ".jpeg", ".webp"}
MAX_IMAGE_BYTES: Final = 50 * 1024 * 1024
ACCEPTED_TEXT: Final = N_("PNG, JPEG or WebP images up to 50 MB")
#: The Reframe picker offers at most this many images: a message holds at most 10 embeds
#: (and 10 attachments).
MAX_PICKER_IMAGES: Final = 10


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
    return found[:MAX_PICKER_IMAGES]


#: The picker's two menus. Everything a pick needs is in the picker message itself, so a
#: pick still works after a restart: each image is an embed (its title and, as the
#: thumbnail, its link), and the chosen one is the image menu's default option.
IMAGE_MENU: Final = "reframe:image"
SIZE_MENU: Final = "reframe:resolution"


def picker_embeds(images: list[tuple[str, str]], chosen: int) -> list[discord.Embed]:
    """One embed per image: its name and a thumbnail; the chosen one in colour."""
    return [discord.Embed(title=truncate(name, 100),
                          colour=discord.Colour.blurple() if i == chosen else None)
            .set_thumbnail(url=url)
            for i, (name, url) in enumerate(images)]


def picker_view(names: list[str], chosen: int) -> discord.ui.View:
    """The image menu (when there are several images) and the size menu."""
    view = discord.ui.View(timeout=None)
    if len(names) > 1:
        view.add_item(PickerMenu(discord.ui.Select(
            placeholder=_("Which image?"), custom_id=IMAGE_MENU,
            options=[discord.SelectOption(label=truncate(name, 100), value=str(i),
                                          default=i == chosen)
                     for i, name in enumerate(names)])))
    view.add_item(PickerMenu(discord.ui.Select(
        placeholder=_("New size: picking one starts the job"), custom_id=SIZE_MENU,
        options=[discord.SelectOption(label=truncate(resolutions.label(r), 100), value=r)
                 for r in resolutions.COMMON_RESOLUTIONS])))
    return view


def images_shown(message: discord.Message | None) -> list[tuple[str, str]]:
    """(name, link) of each image a picker message shows (none for a picker from before
    pickers kept their images)."""
    if message is None:
        return []
    return [(embed.title or "", embed.thumbnail.url) for embed in message.embeds
            if embed.thumbnail.url][:MAX_PICKER_IMAGES]


def chosen_image(message: discord.Message, count: int) -> int:
    """The index of the image the picker's image menu has chosen (the first by default)."""
    for row in message.components:
        for child in getattr(row, "children", ()):
            if isinstance(child, discord.SelectMenu) and child.custom_id == IMAGE_MENU:
                return image_index(next((o.value for o in child.options if o.default), "0"),
                                   count)
    return 0


def image_index(value: str, count: int) -> int:
    """A menu value as the index of one of ``count`` images (the first for anything else)."""
    if value.isascii() and value.isdigit() and len(value) <= 2 and int(value) < count:
        return int(value)
    return 0


class PickerMenu(SpeaksReaderLocale, discord.ui.DynamicItem[discord.ui.Select[Any]],
                 template=r"reframe:(?:image|resolution)"):
    """One of the Reframe picker's menus (ephemeral): picking an image shows it as chosen;
    picking a size starts the job, in the language of whoever picks."""

    def __init__(self, select: discord.ui.Select[Any]) -> None:
        super().__init__(select)

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> PickerMenu:
        if isinstance(item, discord.ui.Select):
            return cls(item)
        return cls(discord.ui.Select(custom_id=match.string))  # a forged button: answered too

    @reports_errors
    async def callback(self, interaction: discord.Interaction) -> None:
        message = interaction.message
        images = images_shown(message)
        if message is None or not images:
            raise Refusal(_("This picker has expired: use Reframe again."))
        values = selected_values(interaction)
        if self.item.custom_id == IMAGE_MENU:
            chosen = image_index(values[0] if values else "0", len(images))
            await interaction.response.edit_message(
                embeds=picker_embeds(images, chosen),
                view=picker_view([name for name, _link in images], chosen))
            return
        url = images[chosen_image(message, len(images))][1]
        resolution = values[0] if values else DEFAULT_RESOLUTION
        inputs = ReframeInputs(image_url=url, resolution=resolutions.parse(resolution),
                               seed=random_seed())
        await bot_of(interaction).launcher.launch(interaction, inputs)


class ReframeCog(commands.Cog):
    def __init__(self, bot: IdeogramBot) -> None:
        self.bot = bot
        self.menu = app_commands.ContextMenu(name=locale_str("Reframe image"),
                                             callback=self.reframe_menu)
        self.menu.guild_only = True

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)
        self.bot.add_dynamic_items(PickerMenu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)
        self.bot.remove_dynamic_items(PickerMenu)

    @app_commands.command(name="reframe",
                          description=locale_str("Extend an image to a new size."))
    @app_commands.guild_only()
    @app_commands.describe(
        image=locale_str("PNG, JPEG or WebP, at most 50 MB"),
        # Translators: use your language's words of bot/resolutions.py (SHAPE_WORDS).
        resolution=locale_str("New size (type 16:9, 1536, wide, tall or square to filter)"),
        rendering_speed=locale_str("TURBO is cheapest, QUALITY is best (default BALANCED)"),
        seed=locale_str("Same seed + same options = same image (default: random)"),
        color_palette=locale_str("One of Ideogram's colour palettes (default none)"),
    )
    @app_commands.choices(rendering_speed=RENDERING_SPEED_CHOICES, color_palette=PALETTE_CHOICES)
    async def reframe(
        self,
        interaction: discord.Interaction,
        image: discord.Attachment,
        resolution: app_commands.Transform[str, ResolutionTransformer] = DEFAULT_RESOLUTION,
        rendering_speed: str = "BALANCED",
        seed: app_commands.Range[int, 0, SEED_MAX] | None = None,
        color_palette: str | None = None,
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
        """Answer ephemerally with the picker; picking a size starts a public job."""
        self.bot.server_rules.check_place(interaction, "reframe")
        self.bot.launcher.provider_for(REFRAME_MODEL)  # a bot without one: before any pick
        images = images[:MAX_PICKER_IMAGES]
        text = (_("Pick the image and the new size.") if len(images) > 1
                else _("Pick the new size for this image."))
        await interaction.response.send_message(
            text, embeds=picker_embeds(images, 0),
            view=picker_view([name for name, _link in images], 0), ephemeral=True)


async def setup(bot: IdeogramBot) -> None:
    await bot.add_cog(ReframeCog(bot))
