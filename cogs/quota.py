"""/quota — the server's image limits and spend (moderators); anyone may see their own use.

Also puts the member's remaining allowance into each result's footer ("7 left today").
The policy itself lives in :mod:`bot.quota`; the launch path reserves through
:meth:`bot.quota_service.QuotaService.admit`, and settling on job events is wired in
``setup_hook``.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

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
    Window,
    format_value,
)
from cogs.core.checks import guild_id_of, is_moderator, require_moderator
from cogs.core.errors import Refusal
from cogs.core.rendering import discord_timestamp, truncate

if TYPE_CHECKING:
    from cogs.core.bot import IdeogramBot

log = logging.getLogger(__name__)

LimitName = Literal["user_daily", "guild_daily", "guild_monthly", "cooldown_seconds",
                    "max_concurrent", "guild_monthly_budget"]
Count = app_commands.Range[int, 0, MAX_COUNT]
OTHERS_ONLY_FOR_MODERATORS = (
    "You can see only your own use. Moderators (Manage Server) can look up other members."
)
LIMIT_LABELS: dict[str, str] = {
    USER_DAILY: "Per member per day",
    GUILD_DAILY: "Server per day",
    GUILD_MONTHLY: "Server per month",
    COOLDOWN_SECONDS: "Cooldown between requests",
    MAX_CONCURRENT: "Images in progress at once (per member)",
    GUILD_MONTHLY_BUDGET: "Monthly budget",
}


def _of(limit: float | None) -> str:
    return "" if limit is None else f" of {int(limit)}"


def describe_change(change: Change) -> str:
    """One line for people, with mentions: ``user_daily: 10 → 5``."""
    if change.action == "reset":
        whose = f"<@{change.user_id}>'s" if change.user_id is not None else "the server's"
        return f"forgave {int(change.old or 0)} image(s) of {whose} use today"
    if change.action == "member":
        return (f"daily limit of <@{change.user_id}>: {format_value('daily', change.old)} → "
                f"{format_value('daily', change.new)}")
    return change.describe()


def audit_line(entry: AuditEntry) -> str:
    when = discord_timestamp(entry.created_at)
    return f"{when} <@{entry.actor_id}>: {describe_change(entry.change)}"


def quota_embed(snapshot: Snapshot, window: Window, member: discord.abc.User, *,
                moderator: bool, recent: list[AuditEntry]) -> discord.Embed:
    limits, use = snapshot.limits, snapshot.usage
    embed = discord.Embed(title="Image quota on this server", colour=discord.Colour.blurple())
    lines = []
    for name, label in LIMIT_LABELS.items():
        value = format_value(name, limits.get(name))
        if name == USER_DAILY and snapshot.member_daily is not None:
            value += f" ({member.mention}: {snapshot.member_daily})"
        lines.append(f"{label}: **{value}**")
    embed.add_field(name="Limits", value="\n".join(lines), inline=False)

    mine = [f"Today: **{use.user_day}**{_of(snapshot.user_daily)} image(s)",
            f"In progress: **{use.in_flight}**{_of(limits.max_concurrent)}"]
    cooldown = limits.cooldown_seconds
    if cooldown and use.last_reserved_at is not None:
        ready = use.last_reserved_at + cooldown
        mine.append(f"Next request: {discord_timestamp(ready)}" if ready > time.time() else
                    "Next request: now")
    embed.add_field(name=f"Use of {member.display_name}"[:256], value="\n".join(mine),
                    inline=False)
    server = [f"Today: **{use.guild_day}**{_of(limits.guild_daily)} image(s)",
              f"This month: **{use.guild_month}**{_of(limits.guild_monthly)} image(s)"]
    if moderator:
        spend = f"Spend this month: **${use.month_spent:,.2f}**"
        if use.month_reserved:
            spend += f" + ${use.month_reserved:,.2f} in progress"
        if limits.guild_monthly_budget is not None:
            spend += f" of ${limits.guild_monthly_budget:,.2f}"
        server.append(spend)
    embed.add_field(name="Server", value="\n".join(server), inline=False)
    if moderator:
        embed.add_field(name="Recent changes",
                        value=truncate("\n".join(audit_line(e) for e in recent) or "none yet",
                                   1024), inline=False)
    embed.set_footer(text="Days reset at 00:00 UTC, months on the 1st. Failed or cancelled "
                          "images are not counted.")
    return embed


class QuotaCog(commands.Cog):
    quota = app_commands.Group(
        name="quota", description="Image limits and spend on this server",
        guild_only=True, default_permissions=discord.Permissions(manage_guild=True),
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
            truncate("Quota updated:\n" + "\n".join(f"• {line}" for line in lines), 2000),
            ephemeral=True)
        await self.bot.mod_log.post(
            guild_id, f"🧮 <@{interaction.user.id}> changed the image quota: " + "; ".join(lines))

    @quota.command(name="show", description="This server's image limits and use")
    @app_commands.describe(member="Whose use to show (moderators only; default: yours)")
    async def show(self, interaction: discord.Interaction,
                   member: discord.User | None = None) -> None:
        guild_id = guild_id_of(interaction)
        moderator = is_moderator(interaction)
        target = member or interaction.user
        if target.id != interaction.user.id and not moderator:
            raise Refusal(OTHERS_ONLY_FOR_MODERATORS)
        snapshot, window = await self.bot.quota.snapshot(guild_id, target.id)
        recent = await self.bot.quota.recent_changes(guild_id) if moderator else []
        await interaction.response.send_message(
            embed=quota_embed(snapshot, window, target, moderator=moderator, recent=recent),
            ephemeral=True)

    @quota.command(name="set", description="Set one or more limits (moderators)")
    @app_commands.describe(
        user_daily="Images per member per day (0 stops generation)",
        guild_daily="Images for the whole server per day",
        guild_monthly="Images for the whole server per month",
        cooldown_seconds="Seconds a member waits between requests",
        max_concurrent="Images a member may have in progress at once",
        guild_monthly_budget="USD the server may spend per month",
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
            raise Refusal("Give at least one limit to set, e.g. `/quota set user_daily:10`.")
        try:
            changes = await self.bot.quota.set_limits(guild_id, interaction.user.id, values)
        except QuotaValueError as exc:
            raise Refusal(exc.message) from None
        await self._reply_and_log(interaction, guild_id, changes,
                                  "Nothing changed: those limits already have these values.")

    @quota.command(name="clear", description="Remove one limit (moderators)")
    @app_commands.describe(limit="The limit to remove (it becomes unlimited)")
    async def clear(self, interaction: discord.Interaction, limit: LimitName) -> None:
        require_moderator(interaction)
        guild_id = guild_id_of(interaction)
        try:
            change = await self.bot.quota.clear_limit(guild_id, interaction.user.id, limit)
        except QuotaValueError as exc:
            raise Refusal(exc.message) from None
        await self._reply_and_log(interaction, guild_id, [change] if change else [],
                                  f"`{truncate(str(limit), 40)}` was not set: nothing to clear.")

    @quota.command(name="member", description="Give one member their own daily limit")
    @app_commands.describe(member="The member", daily="Their images per day (0 stops them)")
    async def member(self, interaction: discord.Interaction, member: discord.User,
                     daily: Count) -> None:
        require_moderator(interaction)
        guild_id = guild_id_of(interaction)
        try:
            change = await self.bot.quota.set_member_daily(guild_id, interaction.user.id,
                                                           member.id, daily)
        except QuotaValueError as exc:
            raise Refusal(exc.message) from None
        await self._reply_and_log(interaction, guild_id, [change] if change else [],
                                  f"{member.mention} already has a daily limit of {daily}.")

    @quota.command(name="reset", description="Forgive today's use (moderators)")
    @app_commands.describe(member="Whose use to forgive (default: everyone's)")
    async def reset(self, interaction: discord.Interaction,
                    member: discord.User | None = None) -> None:
        require_moderator(interaction)
        guild_id = guild_id_of(interaction)
        change = await self.bot.quota.reset(guild_id, interaction.user.id,
                                            member.id if member else None)
        await self._reply_and_log(interaction, guild_id, [change], "")


async def setup(bot: IdeogramBot) -> None:
    await bot.add_cog(QuotaCog(bot))
