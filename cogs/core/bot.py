"""The Discord client: wires the store, providers, tracker and cogs together, and stops
gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable
from functools import partial
from typing import Any

import aiohttp
import discord
from discord.ext import commands

from bot.config import Settings
from bot.i18n import N_, _
from bot.leases import LeaseKeeper
from bot.log_context import bind_guild
from bot.loop_lag import LoopLagMonitor
from bot.metrics import JobMetrics, install_rate_limit_counter
from bot.ops_server import GatewayState
from bot.owned_tasks import cancel_and_wait
from bot.periodic import PeriodicTask
from bot.pricing import PriceTable
from bot.provider_metrics import metered
from bot.quota_admin import QuotaAdmin
from bot.quota_service import QuotaService
from bot.reply_token import TokenSealer
from bot.retention import RetentionTask
from bot.settings_cache import GuildSettingsCache
from bot.store import Store
from bot.tracker import SUBMIT_TASK_PREFIX, JobTracker
from cogs.core.ack_timing import ack_trace
from cogs.core.attachment_links import renew_attachment_link
from cogs.core.batch_actions import BatchActions
from cogs.core.components import ReplyButton
from cogs.core.departures import Departures
from cogs.core.errors import BotTree, Refusal
from cogs.core.job_actions import JobActions
from cogs.core.languages import enter_interaction_locale
from cogs.core.launch import JobLauncher
from cogs.core.modlog import ModLog
from cogs.core.result_delivery import ResultDelivery
from cogs.core.server_rules import ServerRules
from cogs.core.services import Services
from cogs.core.translator import CommandTranslator

log = logging.getLogger(__name__)

# The bot uses no voice: no "PyNaCl/davey is not installed" warning at every start.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False

#: The answer to any command while the bot is stopping (SIGTERM/SIGINT); English, shown as
#: ``_(RESTARTING)``.
RESTARTING = N_("The bot is restarting: try again in a moment.")
#: Tasks a graceful stop lets finish (within the grace) before it stops the tracker:
#: discord.py's tasks that run a command or a component callback, and the tracker's
#: submits of jobs already answered (cut short, such a job could only end "interrupted").
_HANDLER_TASK_PREFIXES = ("CommandTree-invoker", "discord-ui-view-dispatch-", "discord.py: ",
                          SUBMIT_TASK_PREFIX)

#: The extensions, one per user-facing feature, listed here rather than discovered
#: (tests/test_layout.py checks that they are exactly the modules in cogs/).
EXTENSIONS: tuple[str, ...] = (
    "cogs.settings", "cogs.ideogram", "cogs.reframe", "cogs.remix", "cogs.preset",
    "cogs.history", "cogs.export", "cogs.queue", "cogs.quota", "cogs.help",
)

class IdeogramTree(BotTree):
    """The command tree: while the bot is stopping, every command gets :data:`RESTARTING`."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        bind_guild(interaction.guild_id)  # this interaction's log lines name its server
        enter_interaction_locale(interaction)  # and its answers speak the member's language
        client = self.client
        if not (isinstance(client, IdeogramBot) and client.stopping):
            return await super().interaction_check(interaction)
        if interaction.type is not discord.InteractionType.autocomplete:
            with contextlib.suppress(discord.HTTPException):
                await interaction.response.send_message(_(RESTARTING), ephemeral=True)
        return False


#: Most simultaneous connections to Discord's API (discord.py's default is unbounded).
DISCORD_CONNECTIONS = 64
#: Seconds between periodic quota reconciliations, and the least age of a reservation
#: without a job row before it counts as an orphan.
QUOTA_RECONCILE_INTERVAL = 180.0
QUOTA_ORPHAN_AGE = 120.0


class CommandSyncRefused(Exception):
    """Discord refused (403) the bot's commands: for *guild_id*, or globally when None."""

    def __init__(self, error: discord.Forbidden, guild_id: int | None = None) -> None:
        super().__init__(error.status, error.text, guild_id)
        self.error = error
        self.guild_id = guild_id


class IdeogramBot(commands.Bot):
    store: Store
    guild_settings: GuildSettingsCache
    token_sealer: TokenSealer
    lag_monitor: LoopLagMonitor
    tracker: JobTracker
    default_provider_key: str
    result_delivery: ResultDelivery
    job_actions: JobActions
    batch_actions: BatchActions
    launcher: JobLauncher
    server_rules: ServerRules
    quota: QuotaService
    quota_admin: QuotaAdmin
    mod_log: ModLog
    retention: RetentionTask
    quota_reconciler: PeriodicTask
    lease_keeper: LeaseKeeper | None

    def __init__(self, settings: Settings, services: Services, *,
                 min_edit_interval: float = 2.0, **client_options: Any) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        # A bounded pool of kept-alive connections to Discord: a burst of answers reuses
        # them instead of opening (and TLS-handshaking) one connection per answer.
        super().__init__(command_prefix=commands.when_mentioned, intents=intents,
                         tree_cls=IdeogramTree, help_command=None,
                         allowed_mentions=discord.AllowedMentions.none(),
                         connector=aiohttp.TCPConnector(limit=DISCORD_CONNECTIONS),
                         http_trace=ack_trace(), **client_options)
        self.settings = settings
        self.services = services
        self.store = services.store
        self.guild_settings = GuildSettingsCache(services.store)
        self.token_sealer = TokenSealer(settings.DISCORD_TOKEN.get_secret_value()
                                        if settings.DISCORD_TOKEN is not None else "")
        self.lag_monitor = LoopLagMonitor()
        self.default_provider_key = services.default_provider_key
        self.tracker = JobTracker(services.store, metered(services.providers),
                                  config=services.tracker_config)
        self.job_metrics = JobMetrics()
        tracker = self.tracker
        self.job_metrics.count_pending(lambda: tracker.sending)
        install_rate_limit_counter()
        self.stopping = False
        #: Set just before the gateway connection starts: a stop before that only marks
        #: the bot stopping, and the start returns between its steps (login, command sync)
        #: instead of closing the HTTP session under them.
        self.connecting = False
        self._force_stop = asyncio.Event()
        self._shutdown: asyncio.Task[None] | None = None
        self._stop_request: asyncio.Task[None] | None = None
        #: The start (login, setup, command sync, connecting), while it runs: a stop before
        #: the gateway connects cancels it.
        self.starting: asyncio.Task[None] | None = None
        self.result_delivery = ResultDelivery(self, services.downloads,
                                        min_edit_interval=min_edit_interval)
        self.job_actions = JobActions(self)
        self.batch_actions = BatchActions(self)
        self.launcher = JobLauncher(self)
        self.server_rules = ServerRules(self)
        self.quota = QuotaService(services.store, PriceTable.from_settings(settings))
        self.quota_admin = QuotaAdmin(services.store)
        self.mod_log = ModLog(self)
        self.retention = RetentionTask(services.store, settings.RETENTION_DAYS)
        # Settles reservations an error left open (a release that met a locked database),
        # so a member is never held back until a restart.
        self.quota_reconciler = PeriodicTask(
            "quota-reconciliation", lambda: self.quota.reconcile(orphan_age=QUOTA_ORPHAN_AGE),
            interval=QUOTA_RECONCILE_INTERVAL)
        # Several processes on one database (PostgreSQL): jobs are owned through leases.
        self.lease_keeper = (LeaseKeeper(services.store, self.tracker)
                             if services.store.leases_enabled else None)
        # First of the launch checks: buttons that start a job (Reroll, Reframe) are no
        # commands, so the tree's check does not see them.
        self.launcher.add_check(self._refuse_while_stopping)

    async def _refuse_while_stopping(self, interaction: discord.Interaction,
                                     job: object) -> None:
        if self.stopping:
            raise Refusal(_(RESTARTING))

    async def setup_hook(self) -> None:
        await self.tree.set_translator(CommandTranslator())
        await self.guild_settings.load()
        await self.guild_settings.follow_changes()  # other processes' changes (PostgreSQL)
        # The server's rules refuse before anything is reserved or written.
        self.launcher.add_check(self.server_rules.check)
        self.result_delivery.add_footer_source(self.quota.footer_text)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        self.add_dynamic_items(ReplyButton)
        Departures(self).listen()
        # Settle what a stopped process left reserved, before the tracker resumes jobs; the
        # quota listens first, so a result's footer already counts its own settlement.
        await self.quota.reconcile()
        self.tracker.add_listener(self.quota)
        self.tracker.add_listener(self.result_delivery)
        self.tracker.set_reply_confirmer(self.result_delivery.confirm_reply)
        self.tracker.give_way_to(self.launcher.answered)
        self.tracker.renew_links_with(partial(renew_attachment_link, self.http))
        self.tracker.add_listener(self.job_metrics)
        self.tracker.add_release_listener(self.result_delivery.release)
        self.tracker.add_release_listener(self.job_metrics.release)
        if self.lease_keeper is None:
            await self.tracker.start()
        else:  # the leases claimed at the start are kept while their jobs are adopted
            await self.lease_keeper.renewing_while(self.tracker.start())
            self.lease_keeper.start()
        self.retention.start()
        self.quota_reconciler.start()
        self.lag_monitor.start()

    async def sync_commands(self) -> None:
        """Sync to the development guilds at once, or globally (which takes a while).

        A refusal (403) is a :class:`CommandSyncRefused` naming the guild it came from."""
        if self.settings.DISCORD_GUILD_IDS:
            for guild_id in self.settings.DISCORD_GUILD_IDS:
                guild = discord.Object(guild_id)
                self.tree.copy_global_to(guild=guild)
                try:
                    await self.tree.sync(guild=guild)
                except discord.Forbidden as exc:
                    raise CommandSyncRefused(exc, guild_id) from exc
            log.info("Commands synced to %d development server(s)",
                     len(self.settings.DISCORD_GUILD_IDS))
        else:
            try:
                await self.tree.sync()
            except discord.Forbidden as exc:
                raise CommandSyncRefused(exc) from exc
            log.info("Commands synced globally (new commands can take up to an hour to show)")

    async def on_ready(self) -> None:
        log.info("Logged in as %s (%s) in %d servers", self.user, getattr(self.user, "id", "?"),
                 len(self.guilds))

    # ------------------------------------------------------------------ health and stop

    def gateway_state(self) -> GatewayState:
        """For /healthz: connected = ready, not closing, and a heartbeat answered."""
        if self.stopping or self.is_closed():
            return GatewayState(False, "the bot is stopping")
        if not self.is_ready():
            return GatewayState(False, "not connected to Discord yet")
        latency = self.latency
        if not math.isfinite(latency):
            return GatewayState(False, "no gateway heartbeat answered yet")
        return GatewayState(True, latency=latency)

    async def connect(self, *, reconnect: bool = True) -> None:
        """Connect to the gateway (from here on, a stop closes the connection)."""
        self.connecting = True
        await super().connect(reconnect=reconnect)

    def request_stop(self, reason: str) -> None:
        """A stop signal: refuse new commands and close gracefully; a second one cuts the
        grace period short."""
        if self.stopping:
            log.warning("%s again: not waiting for in-flight edits any longer", reason)
            self._force_stop.set()
            return
        log.info("%s: stopping. New commands are refused; waiting up to %g s for in-flight "
                 "Discord edits.", reason, self.settings.SHUTDOWN_GRACE_SECONDS)
        self.stopping = True
        if self.connecting:
            self._stop_request = asyncio.create_task(self.close(), name="bot-stop")
        elif self.starting is not None:
            self.starting.cancel()

    async def close(self) -> None:
        """Stop gracefully (once; later calls wait for the same stop):

        1. refuse new commands (:class:`IdeogramTree`, and the launch check for buttons);
        2. let command handlers already running finish, then stop the tracker (no new
           events) and the retention task;
        3. let in-flight Discord edits and deliveries finish, all within
           ``SHUTDOWN_GRACE_SECONDS``; what is left is cancelled, and its job resumes at
           the next start;
        4. close the gateway and HTTP session. The database is checkpointed and closed by
           :meth:`Services.aclose` afterwards.
        """
        if self._shutdown is None:
            self._shutdown = asyncio.create_task(self._graceful_close(), name="bot-shutdown")
        await asyncio.shield(self._shutdown)

    async def _graceful_close(self) -> None:
        self.stopping = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.SHUTDOWN_GRACE_SECONDS
        handlers = [t for t in asyncio.all_tasks()
                    if t.get_name().startswith(_HANDLER_TASK_PREFIXES)
                    and t is not asyncio.current_task() and not t.done()]
        if handlers and not await self._within(deadline, asyncio.wait(handlers)):
            running = [task for task in handlers if not task.done()]
            log.warning("%d command(s) still running at the end of the grace: cancelled",
                        len(running))
            await cancel_and_wait(running)
        await self.lag_monitor.stop()
        await self.quota_reconciler.stop()
        if self.lease_keeper is not None:
            await self.lease_keeper.stop()
        await self.tracker.stop()
        await self.retention.stop()
        if not await self._within(deadline, self.result_delivery.wait_idle()):
            log.warning("In-flight Discord edits did not finish within %g s; their jobs "
                        "resume at the next start", self.settings.SHUTDOWN_GRACE_SECONDS)
        await self.result_delivery.close()
        await self._within(deadline, self.mod_log.wait_idle())  # the same grace
        await self.mod_log.close(grace=0.0)
        await super().close()

    async def _within(self, deadline: float, waiting: Awaitable[object]) -> bool:
        """Wait for ``waiting`` until ``deadline`` (loop time) or a forced stop; True if it
        finished."""
        task = asyncio.ensure_future(waiting)
        force = asyncio.ensure_future(self._force_stop.wait())
        remaining = max(0.0, deadline - asyncio.get_running_loop().time())
        try:
            await asyncio.wait({task, force}, timeout=remaining,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            force.cancel()
            if not task.done():
                task.cancel()
        return task.done() and not task.cancelled()


class ShardedIdeogramBot(IdeogramBot, commands.AutoShardedBot):
    """The bot for SHARD_COUNT / SHARD_IDS: discord.py's AutoShardedBot, which runs the
    named shards (all of them without SHARD_IDS) in this process."""


def create_bot(settings: Settings, services: Services, **options: Any) -> IdeogramBot:
    """The bot for these settings: sharded when SHARD_COUNT is set, else one connection
    (Discord's single shard) as always."""
    if settings.SHARD_COUNT is None:
        return IdeogramBot(settings, services, **options)
    shard_ids = list(settings.SHARD_IDS) if settings.SHARD_IDS is not None else None
    log.info("Running shard(s) %s of %d", "all" if shard_ids is None else shard_ids,
             settings.SHARD_COUNT)
    return ShardedIdeogramBot(settings, services, shard_count=settings.SHARD_COUNT,
                              shard_ids=shard_ids, **options)

