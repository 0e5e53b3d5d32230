"""/quota — the server's image limits and spend (moderators); anyone may see their own use.

Also puts the member's remaining allowance into each result's footer ("7 images left
today"). The policy itself lives in :mod:`bot.quota`; the launch path reserves through
:meth:`bot.quota_service.QuotaService.admit_batch`, limits change through
:class:`bot.quota_admin.QuotaAdmin`, and settling on job events is wired in
``setup_hook``. Changes go to the moderation log in the server's language.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import locale_str
from discord.ext import commands

from bot.i18n import N_, _, format_cost, format_number, ngettext
from bot.quota import (
    COOLDOWN_SECONDS,
    GUILD_DAILY,
    GUILD_MONTHLY,
    GUILD_MONTHLY_BUDGET,
    MAX_BUDGET,
    MAX_CONCURRENT,
    MAX_COOLDOWN,
    MAX_COUNT,
    USER_DAILY,
    AuditEntry,
    Change,
    QuotaValueError,
    Snapshot,
    format_value,
)
from cogs.core.checks import guild_id_of, is_moderator, require_moderator
from cogs.core.choices import labelled_choices
from cogs.core.errors import Refusal
from cogs.core.mentions import user_mention
from cogs.core.rendering import discord_timestamp, truncate

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot


Count = app_commands.Range[int, 0, MAX_COUNT]
OTHERS_ONLY_FOR_MODERATORS = N_(
    "You can see only your own use. Moderators (Manage Server) can look up other members."
)
#: Each limit's label (English; shown as ``_(label)``).
LIMIT_LABELS: dict[str, str] = {
    USER_DAILY: N_("Per member per day"),
    GUILD_DAILY: N_("Server per day"),
    GUILD_MONTHLY: N_("Server per month"),
    COOLDOWN_SECONDS: N_("Cooldown between requests"),
    MAX_CONCURRENT: N_("Images in progress at once (per member)"),
    GUILD_MONTHLY_BUDGET: N_("Monthly budget"),
}
#: ``/quota clear limit:``'s choices: each limit's label, and its name.
LIMIT_CHOICES = labelled_choices(LIMIT_LABELS)


def describe_change(change: Change) -> str:
    """One line for people, with mentions, in the reader's language: ``user_daily: 10 → 5``."""
    if change.action == "reset":
        forgiven = int(change.old or 0)
        if change.user_id is not None:
            return ngettext("forgave {n} image of {member}'s use today",
                            "forgave {n} images of {member}'s use today", forgiven,
                            member=user_mention(change.user_id))
        return ngettext("forgave {n} image of the server's use today",
                        "forgave {n} images of the server's use today", forgiven)
    if change.action == "member" and change.user_id is not None and change.new is None:
        return _("{member} no longer has a daily limit of their own ({old}): the server's "
                 "`user_daily` applies", member=user_mention(change.user_id),
                 old=format_value("daily", change.old))
    if change.action == "member" and change.user_id is not None:
        return _("daily limit of {member}: {old} → {new}", member=user_mention(change.user_id),
                 old=format_value("daily", change.old), new=format_value("daily", change.new))
    return change.describe()


def audit_line(entry: AuditEntry) -> str:
    when = discord_timestamp(entry.created_at)
    return f"{when} <@{entry.actor_id}>: {describe_change(entry.change)}"


def _images_of(used: int, limit: float | None) -> str:
    """"**3** of 10 images" (or "**3** images" without a limit)."""
    if limit is None:
        return ngettext("**{n}** image", "**{n}** images", used)
    return ngettext("**{used}** of {n} image", "**{used}** of {n} images", int(limit),
                    used=format_number(used))


def quota_embed(snapshot: Snapshot, member: discord.abc.User, *,
                moderator: bool, recent: list[AuditEntry]) -> discord.Embed:
    limits, use = snapshot.limits, snapshot.usage
    embed = discord.Embed(title=_("Image quota on this server"),
                          colour=discord.Colour.blurple())
    lines = []
    for name, label in LIMIT_LABELS.items():
        value = format_value(name, limits.get(name))
        if name == USER_DAILY and snapshot.member_daily is not None:
            value += f" ({member.mention}: {format_number(snapshot.member_daily)})"
        lines.append(f"{_(label)}: **{value}**")
    embed.add_field(name=_("Limits"), value="\n".join(lines), inline=False)

    in_progress = (_("In progress: **{used}** of {limit}", used=format_number(use.in_flight),
                     limit=format_number(limits.max_concurrent))
                   if limits.max_concurrent is not None else
                   _("In progress: **{used}**", used=format_number(use.in_flight)))
    mine = [_("Today: {images}", images=_images_of(use.user_day, snapshot.user_daily)),
            in_progress]
    cooldown = limits.cooldown_seconds
    if cooldown and use.last_reserved_at is not None:
        ready = use.last_reserved_at + cooldown
        mine.append(_("Next request: {when}", when=discord_timestamp(ready))
                    if ready > time.time() else _("Next request: now"))
    embed.add_field(name=_("Use of {member}", member=member.display_name)[:256],
                    value="\n".join(mine), inline=False)
    server = [_("Today: {images}", images=_images_of(use.guild_day, limits.guild_daily)),
              _("This month: {images}", images=_images_of(use.guild_month,
                                                           limits.guild_monthly))]
    if moderator:
        spend = _("Spend this month: **{amount}**", amount=format_cost(use.month_spent))
        if use.month_reserved:
            spend += " " + _("+ {amount} in progress", amount=format_cost(use.month_reserved))
        if limits.guild_monthly_budget is not None:
            spend += " " + _("of {amount}", amount=format_cost(limits.guild_monthly_budget))
        server.append(spend)
    embed.add_field(name=_("Server"), value="\n".join(server), inline=False)
    if moderator:
        embed.add_field(name=_("Recent changes"),
                        value=truncate("\n".join(audit_line(e) for e in recent)
                                       or _("none yet"), 1024), inline=False)
    embed.set_footer(text=_("Days reset at 00:00 UTC, months on the 1st. Failed or cancelled "
                            "images are not counted."))
    return embed


class QuotaCog(commands.Cog):
    # No default permissions: Discord would hide the whole group, and with it `/quota show`,
    # which every member may use for their own use. The moderators' subcommands check in code.
    quota = app_commands.Group(
        name="quota", description=locale_str("Image limits and spend on this server"),
        guild_only=True,
    )

    def __init__(self, bot: IdeogramBot) -> None:
        self.bot = bot

    # ------------------------------------------------------------------ /quota

    async def _reply_and_log(self, interaction: discord.Interaction, guild_id: int,
                             changes: list[Change], unchanged: str) -> None:
        if not changes:
            await interaction.response.send_message(unchanged, ephemeral=True)
            return
        lines = [describe_change(c) for c in changes]
        await interaction.response.send_message(
            truncate(_("Quota updated:") + "\n" + "\n".join(f"• {line}" for line in lines),
                     2000), ephemeral=True)
        actor = interaction.user.id

        def log_line() -> str:  # in the server's language
            return _("🧮 {member} changed the image quota: {changes}", member=user_mention(actor),
                     changes="; ".join(describe_change(c) for c in changes))

        await self.bot.mod_log.post(guild_id, log_line)

    @quota.command(name="show", description=locale_str("This server's image limits and use"))
    @app_commands.describe(member=locale_str(
        "Whose use to show (moderators only; default: yours)"))
    async def show(self, interaction: discord.Interaction,
                   member: discord.User | None = None) -> None:
        guild_id = guild_id_of(interaction)
        moderator = is_moderator(interaction)
        target = member or interaction.user
        if target.id != interaction.user.id and not moderator:
            raise Refusal(_(OTHERS_ONLY_FOR_MODERATORS))
        snapshot = await self.bot.quota.snapshot(guild_id, target.id)
        recent = await self.bot.quota_admin.recent_changes(guild_id) if moderator else []
        await interaction.response.send_message(
            embed=quota_embed(snapshot, target, moderator=moderator, recent=recent),
            ephemeral=True)

    @quota.command(name="set", description=locale_str("Set one or more limits (moderators)"))
    @app_commands.describe(
        user_daily=locale_str("Images per member per day (0 stops generation)"),
        guild_daily=locale_str("Images for the whole server per day"),
        guild_monthly=locale_str("Images for the whole server per month"),
        cooldown_seconds=locale_str("Seconds a member waits between requests"),
        max_concurrent=locale_str("Images a member may have in progress at once"),
        guild_monthly_budget=locale_str("USD the server may spend per month"),
    )
    async def set_(
        self,
        interaction: discord.Interaction,
        user_daily: Count | None = None,
        guild_daily: Count | None = None,
        guild_monthly: Count | None = None,
        cooldown_seconds: app_commands.Range[int, 0, MAX_COOLDOWN] | None = None,
        max_concurrent: Count | None = None,
        guild_monthly_budget: app_commands.Range[float, 0.0, MAX_BUDGET] | None = None,
    ) -> None:
        require_moderator(interaction)
        guild_id = guild_id_of(interaction)
        given = {USER_DAILY: user_daily, GUILD_DAILY: guild_daily, GUILD_MONTHLY: guild_monthly,
                 COOLDOWN_SECONDS: cooldown_seconds, MAX_CONCURRENT: max_concurrent,
                 GUILD_MONTHLY_BUDGET: guild_monthly_budget}
        values = {name: value for name, value in given.items() if value is not None}
        if not values:
            raise Refusal(_("Give at least one limit to set, e.g. `/quota set user_daily:10`."))
        try:
            changes = await self.bot.quota_admin.set_limits(guild_id, interaction.user.id, values)
        except QuotaValueError as exc:
            raise Refusal(exc.message) from None
        await self._reply_and_log(interaction, guild_id, changes,
                                  _("Nothing changed: those limits already have these values."))

    @quota.command(name="clear", description=locale_str("Remove one limit (moderators)"))
    @app_commands.describe(
        limit=locale_str("The limit to remove (it becomes unlimited)"),
        member=locale_str("With user_daily: remove only this member's own daily limit"))
    @app_commands.choices(limit=LIMIT_CHOICES)
    async def clear(self, interaction: discord.Interaction, limit: str,
                    member: discord.User | None = None) -> None:
        require_moderator(interaction)
        guild_id = guild_id_of(interaction)
        if member is not None:
            await self._clear_member(interaction, guild_id, limit, member)
            return
        try:
            change = await self.bot.quota_admin.clear_limit(guild_id, interaction.user.id, limit)
        except QuotaValueError as exc:
            raise Refusal(exc.message) from None
        await self._reply_and_log(interaction, guild_id, [change] if change else [],
                                  _("`{limit}` was not set: nothing to clear.",
                                    limit=truncate(str(limit), 40)))

    async def _clear_member(self, interaction: discord.Interaction, guild_id: int, limit: str,
                            member: discord.User) -> None:
        if limit != USER_DAILY:
            raise Refusal(_("Only `user_daily` has a value of a member's own: use `/quota "
                            "clear limit:user_daily member:…`."))
        change = await self.bot.quota_admin.clear_member_daily(guild_id, interaction.user.id,
                                                               member.id)
        await self._reply_and_log(interaction, guild_id, [change] if change else [],
                                  _("{member} has no daily limit of their own: nothing to "
                                    "clear.", member=member.mention))

    @quota.command(name="member",
                   description=locale_str("Give one member their own daily limit"))
    @app_commands.describe(member=locale_str("The member"),
                           daily=locale_str("Their images per day (0 stops them)"))
    async def member(self, interaction: discord.Interaction, member: discord.User,
                     daily: Count) -> None:
        require_moderator(interaction)
        guild_id = guild_id_of(interaction)
        try:
            change = await self.bot.quota_admin.set_member_daily(guild_id, interaction.user.id,
                                                           member.id, daily)
        except QuotaValueError as exc:
            raise Refusal(exc.message) from None
        await self._reply_and_log(interaction, guild_id, [change] if change else [],
                                  _("{member} already has a daily limit of {daily}.",
                                    member=member.mention, daily=format_number(daily)))

    @quota.command(name="reset", description=locale_str("Forgive today's use (moderators)"))
    @app_commands.describe(member=locale_str("Whose use to forgive (default: everyone's)"))
    async def reset(self, interaction: discord.Interaction,
                    member: discord.User | None = None) -> None:
        require_moderator(interaction)
        guild_id = guild_id_of(interaction)
        change = await self.bot.quota_admin.reset(guild_id, interaction.user.id,
                                            member.id if member else None)
        await self._reply_and_log(interaction, guild_id, [change], "")


async def setup(bot: IdeogramBot) -> None:
    await bot.add_cog(QuotaCog(bot))
