"""What the bot runs on: the store, the providers and the downloader, built from the
settings before Discord is touched (and closed after it)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field

from bot.config import ConfigError, ProviderName, Settings
from bot.leases import lease_config
from bot.localserver.app import LocalRunComfyServer, LocalServerConfig
from bot.net import AllowList, SafeFetcher
from bot.polling import PollingConfig
from bot.providers.base import IDEOGRAM_KEY, RUNCOMFY_KEYS, AnyProvider
from bot.providers.ideogram import IdeogramClient
from bot.providers.retry import RetryPolicy
from bot.providers.runcomfy import RunComfyClient
from bot.store import Store, StoreBusyError, StoreError, is_postgres_url
from bot.tracker import TrackerConfig

log = logging.getLogger(__name__)


@dataclass
class Services:
    """What the bot runs on, built before Discord is touched (and closed after it).

    ``default_provider_key`` is the ``providers`` key (``runcomfy``, ``local`` for the
    preview server, or ``ideogram``) of the backend that serves ``/ideogram`` by default;
    ``downloads`` is the one way anything is downloaded (result images, past results).
    """

    store: Store
    providers: dict[str, AnyProvider]
    default_provider_key: str
    downloads: SafeFetcher
    local_server: LocalRunComfyServer | None = None
    tracker_config: TrackerConfig = field(default_factory=TrackerConfig)

    def backend_key(self, name: ProviderName | str) -> str | None:
        """The providers-dict key that serves ``name``, or None when it is not configured."""
        if ProviderName(name) is ProviderName.IDEOGRAM:
            return IDEOGRAM_KEY if IDEOGRAM_KEY in self.providers else None
        return next((key for key in RUNCOMFY_KEYS if key in self.providers), None)

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
        await self.downloads.aclose()
        if self.local_server is not None:
            await self.local_server.stop()
        if not self.store.closed:
            try:
                await self.store.checkpoint()
            except Exception as exc:  # the close below still runs
                log.warning("Checkpointing the database failed: %s", exc)
        await self.store.close()


async def build_services(settings: Settings, *, retry: RetryPolicy | None = None,
                         polling: PollingConfig | None = None) -> Services:
    """Open the store and build the providers.

    RunComfy: the real one with a token; without one, the local preview server, unless
    PROVIDER=ideogram (then RunComfy, and so /reframe, is simply unavailable: placeholder
    reframes next to real Ideogram images would mislead). The Ideogram-compatible API: when
    its URL and key are set (``load_settings`` insists on both with PROVIDER=ideogram).
    ``retry`` (RunComfy calls) and ``polling`` (the tracker) default to the production
    policies; tests pass faster ones for a local provider that answers in milliseconds.
    """
    try:
        store = await Store.open(settings.database_url)
    except StoreBusyError as exc:
        raise ConfigError(f"DATABASE_URL cannot be used now: {str(exc).rstrip('.')}: another "
                          "program holds it (a second bot on the same file?); stop that one, "
                          "then start again.") from None
    except StoreError as exc:
        section = ("Moving to PostgreSQL" if is_postgres_url(settings.database_url)
                   else "Backup and restore")
        raise ConfigError(f"DATABASE_URL cannot be used: {str(exc).rstrip('.')}; see "
                          f"README.md, section '{section}'.") from None
    store.configure_leases(lease_config(settings.SHARD_IDS, settings.SHARD_COUNT,
                                        settings.JOB_LEASE_SECONDS))
    local_server: LocalRunComfyServer | None = None
    providers: dict[str, AnyProvider] = {}
    if settings.RUNCOMFY_API_TOKEN is not None:
        providers["runcomfy"] = RunComfyClient(
            token=settings.RUNCOMFY_API_TOKEN.get_secret_value(),
            base_url=settings.RUNCOMFY_BASE_URL, retry=retry)
    elif settings.uses_local_provider:
        token = secrets.token_urlsafe(24)
        local_server = LocalRunComfyServer(LocalServerConfig(
            token=token, queue_seconds=settings.LOCAL_PROVIDER_QUEUE_SECONDS,
            run_seconds=settings.LOCAL_PROVIDER_RUN_SECONDS))
        await local_server.start()
        log.warning("No RUNCOMFY_API_TOKEN: using the local preview provider at %s "
                    "(placeholder images, no cost).", local_server.base_url)
        providers["local"] = RunComfyClient(token=token, base_url=local_server.base_url,
                                            retry=retry)
    else:
        log.warning("No RUNCOMFY_API_TOKEN: /reframe is unavailable (it runs on RunComfy; "
                    "the ideogram provider has no reframe).")
    if settings.IDEOGRAM_BASE_URL is not None and settings.IDEOGRAM_API_KEY is not None:
        providers[IDEOGRAM_KEY] = IdeogramClient(
            api_key=settings.IDEOGRAM_API_KEY.get_secret_value(),
            base_url=settings.IDEOGRAM_BASE_URL, auth=settings.IDEOGRAM_AUTH.value,
            path=settings.IDEOGRAM_GENERATE_PATH,
            timeout_seconds=settings.IDEOGRAM_TIMEOUT_SECONDS)
        log.info("Ideogram-compatible API at %s%s (%s auth)", settings.IDEOGRAM_BASE_URL,
                 settings.IDEOGRAM_GENERATE_PATH, settings.IDEOGRAM_AUTH.value)
    if settings.PROVIDER is ProviderName.IDEOGRAM:
        name = IDEOGRAM_KEY
    else:
        name = next(key for key in RUNCOMFY_KEYS if key in providers)
    # The providers' own hosts may be private (the local preview server is on 127.0.0.1):
    # downloads from them are exempt from the public-address rule, nothing else is.
    provider_hosts: list[str] = []
    if "runcomfy" in providers:
        provider_hosts.append(settings.RUNCOMFY_BASE_URL)
    if local_server is not None:
        provider_hosts.append(local_server.base_url)
    if IDEOGRAM_KEY in providers and settings.IDEOGRAM_BASE_URL:
        provider_hosts.append(settings.IDEOGRAM_BASE_URL)
    downloads = SafeFetcher(allow=AllowList.of(provider_hosts))
    return Services(
        store=store, providers=providers, default_provider_key=name, downloads=downloads,
        local_server=local_server,
        tracker_config=TrackerConfig(
            queue_timeout=settings.JOB_QUEUE_TIMEOUT_SECONDS,
            run_timeout=settings.JOB_RUN_TIMEOUT_SECONDS,
            concurrency=settings.PROVIDER_CONCURRENCY,
            polling=polling or PollingConfig()),
    )
