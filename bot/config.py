"""Settings from the environment and a ``.env`` file, typed and validated at start.

A missing or malformed value stops the start with one line naming the variable and what to
put there (:class:`ConfigError`). Secrets are ``SecretStr``: they never print.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

README_SETUP = "see README.md, section 'Set-up'"
DEFAULT_RUNCOMFY_BASE_URL = "https://model-api.runcomfy.net"
DEFAULT_DISCORD_API_BASE = "https://discord.com/api/v10"
POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+asyncpg://")

#: What to tell the owner for each variable that is missing or malformed.
HINTS: dict[str, str] = {
    "DISCORD_TOKEN": (
        "put your bot's token from https://discord.com/developers/applications "
        "(Bot → Reset Token) in .env or the environment"
    ),
    "RUNCOMFY_API_TOKEN": "put your RunComfy API token (RunComfy → Profile → API keys)",
    "RUNCOMFY_BASE_URL": "use an http(s) URL such as https://model-api.runcomfy.net",
    "DATABASE_URL": (
        "use sqlite:///path/to/file.db (default sqlite:///data/bot.db) or "
        "postgresql://user:password@host:5432/database"
    ),
    "LOG_LEVEL": "use DEBUG, INFO, WARNING or ERROR",
    "DISCORD_API_BASE": (
        "leave it unset; tests set an http(s) URL such as http://127.0.0.1:8080/api/v10"
    ),
    "DISCORD_GUILD_IDS": "use comma-separated numeric server ids, e.g. 123456789012345678,987",
    "PROVIDER": "use runcomfy or ideogram",
    "IDEOGRAM_BASE_URL": (
        "use the http(s) base URL of the Ideogram-compatible API (e.g. https://api.ideogram.ai)"
    ),
    "IDEOGRAM_API_KEY": "put the API key of the Ideogram-compatible API",
    "IDEOGRAM_AUTH": "use bearer or api-key",
    "IDEOGRAM_GENERATE_PATH": "use a path starting with /, e.g. /ideogram/generate",
    "IDEOGRAM_TIMEOUT_SECONDS": "use a number of seconds above 0, e.g. 120",
    "PRICE_GENERATE": "use a price in USD per image, e.g. 0.08",
    "PRICE_REFRAME_TURBO": "use a price in USD per image, e.g. 0.03",
    "PRICE_REFRAME_BALANCED": "use a price in USD per image, e.g. 0.06",
    "PRICE_REFRAME_QUALITY": "use a price in USD per image, e.g. 0.09",
    "RETENTION_DAYS": "use a whole number of days, 1 or more (default 90)",
    "SHARD_COUNT": "use the total number of shards, a whole number 1 or more (e.g. 4)",
    "SHARD_IDS": (
        "use comma-separated shard numbers below SHARD_COUNT, e.g. 0,1 (with SHARD_COUNT set)"
    ),
    "JOB_LEASE_SECONDS": "use a number of seconds from 3 to 600 (default 20)",
}


class ConfigError(Exception):
    """One line, naming the variable and what to put there."""


class ProviderName(enum.StrEnum):
    RUNCOMFY = "runcomfy"
    IDEOGRAM = "ideogram"


class IdeogramAuth(enum.StrEnum):
    BEARER = "bearer"
    API_KEY = "api-key"


def _check_http_url(value: str) -> str:
    value = value.strip().rstrip("/")
    if not value.startswith(("http://", "https://")) or len(value) < 10:
        raise ValueError("must be an http(s) URL")
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=True,
        extra="ignore",
        hide_input_in_errors=True,
    )

    DISCORD_TOKEN: SecretStr | None = None
    RUNCOMFY_API_TOKEN: SecretStr | None = None
    RUNCOMFY_BASE_URL: str = DEFAULT_RUNCOMFY_BASE_URL
    DATABASE_URL: str = "sqlite:///data/bot.db"
    LOG_LEVEL: str = "INFO"
    DISCORD_GUILD_IDS: Annotated[tuple[int, ...], NoDecode] = ()
    #: Discord's REST API base URL. For tests only: they point the bot at a fake Discord on
    #: 127.0.0.1, whose ``GET /gateway/bot`` then names the gateway to connect to.
    DISCORD_API_BASE: str = DEFAULT_DISCORD_API_BASE

    PROVIDER: ProviderName = ProviderName.RUNCOMFY
    IDEOGRAM_BASE_URL: str | None = None
    IDEOGRAM_API_KEY: SecretStr | None = None
    IDEOGRAM_AUTH: IdeogramAuth = IdeogramAuth.BEARER
    #: The generate endpoint under IDEOGRAM_BASE_URL (seed 004: /ideogram/generate;
    #: Ideogram's own API: /generate).
    IDEOGRAM_GENERATE_PATH: str = "/ideogram/generate"
    #: How long one synchronous generate call may take to answer.
    IDEOGRAM_TIMEOUT_SECONDS: float = Field(default=120.0, gt=0, le=3600, allow_inf_nan=False)

    #: A job may wait this long in the provider's queue, and then run this long.
    JOB_QUEUE_TIMEOUT_SECONDS: float = Field(default=600.0, gt=0)
    JOB_RUN_TIMEOUT_SECONDS: float = Field(default=600.0, gt=0)
    #: Upper bound on simultaneous provider calls made by the job tracker.
    PROVIDER_CONCURRENCY: int = Field(default=16, ge=1, le=256)
    #: Timings of the built-in local preview provider (used when no RunComfy token is set).
    LOCAL_PROVIDER_QUEUE_SECONDS: float = Field(default=2.0, ge=0)
    LOCAL_PROVIDER_RUN_SECONDS: float = Field(default=4.0, ge=0)
    #: Prices in USD per image, used when the provider reports no cost (and to reserve
    #: against guild_monthly_budget before the real cost is known).
    PRICE_GENERATE: float = Field(default=0.08, ge=0, le=100, allow_inf_nan=False)
    PRICE_REFRAME_TURBO: float = Field(default=0.03, ge=0, le=100, allow_inf_nan=False)
    PRICE_REFRAME_BALANCED: float = Field(default=0.06, ge=0, le=100, allow_inf_nan=False)
    PRICE_REFRAME_QUALITY: float = Field(default=0.09, ge=0, le=100, allow_inf_nan=False)
    #: Finished jobs older than this many days are deleted from the database once a day.
    RETENTION_DAYS: int = Field(default=90, ge=1, le=36500)
    #: Sharding: the total number of shards, and those this process runs (unset: one
    #: process runs every shard, as many as Discord recommends).
    SHARD_COUNT: int | None = Field(default=None, ge=1, le=10000)
    SHARD_IDS: Annotated[tuple[int, ...] | None, NoDecode] = None
    #: PostgreSQL: how long a process's claim on a job lasts without renewal (it renews
    #: every third of it); after a crash, its jobs move on after about this long.
    JOB_LEASE_SECONDS: float = Field(default=20.0, ge=3, le=600, allow_inf_nan=False)

    @field_validator("DISCORD_TOKEN", "RUNCOMFY_API_TOKEN", "IDEOGRAM_API_KEY", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return None
            if any(c.isspace() for c in value):
                raise ValueError("must not contain spaces")
        return value

    @field_validator("RUNCOMFY_BASE_URL", "DISCORD_API_BASE")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _check_http_url(value)

    @field_validator("IDEOGRAM_BASE_URL", mode="before")
    @classmethod
    def _ideogram_url(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return _check_http_url(str(value))

    @field_validator("IDEOGRAM_GENERATE_PATH")
    @classmethod
    def _ideogram_path(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith("/") or any(c.isspace() or c in "?#" for c in value):
            raise ValueError("must be a path starting with /")
        return value

    @field_validator("DATABASE_URL")
    @classmethod
    def _database_url(cls, value: str) -> str:
        value = value.strip()
        if value.startswith(POSTGRES_SCHEMES):
            rest = value.partition("://")[2]
            if not rest.split("/", 1)[0].rpartition("@")[2]:
                raise ValueError("names no PostgreSQL host")
            return value
        if not value.startswith("sqlite:///") or len(value) <= len("sqlite:///"):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @field_validator("SHARD_IDS", mode="before")
    @classmethod
    def _shard_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            if not parts:
                return None
            if not all(p.isdigit() for p in parts):
                raise ValueError("must be comma-separated numbers")
            return tuple(sorted({int(p) for p in parts}))
        return value

    @field_validator("LOG_LEVEL")
    @classmethod
    def _log_level(cls, value: str) -> str:
        value = value.strip().upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("unknown level")
        return value

    @field_validator("DISCORD_GUILD_IDS", mode="before")
    @classmethod
    def _guild_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            if not all(p.isdigit() for p in parts):
                raise ValueError("must be comma-separated numbers")
            return tuple(int(p) for p in parts)
        return value

    @field_validator("PROVIDER", "IDEOGRAM_AUTH", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def database_path(self) -> Path:
        return Path(self.DATABASE_URL.removeprefix("sqlite:///"))

    @property
    def uses_postgres(self) -> bool:
        return self.DATABASE_URL.startswith(POSTGRES_SCHEMES)

    @property
    def runs_every_shard(self) -> bool:
        """One process for all shards (SHARD_IDS unset, or naming every shard)."""
        return (self.SHARD_IDS is None or self.SHARD_COUNT is None
                or set(self.SHARD_IDS) == set(range(self.SHARD_COUNT)))

    @property
    def uses_local_provider(self) -> bool:
        """No RunComfy token: the bot runs the built-in local preview provider (unless
        PROVIDER=ideogram: then RunComfy, and so /reframe, is simply not available)."""
        return self.RUNCOMFY_API_TOKEN is None

    @property
    def ideogram_configured(self) -> bool:
        return self.IDEOGRAM_BASE_URL is not None and self.IDEOGRAM_API_KEY is not None


def load_settings(env_file: str | Path | None = ".env", **overrides: Any) -> Settings:
    """Read and validate settings; raise :class:`ConfigError` with one helpful line."""
    try:
        settings = Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first.get("loc") else "configuration"
        reason = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        hint = HINTS.get(name, "check its value")
        raise ConfigError(f"{name} is invalid ({reason}): {hint}; {README_SETUP}.") from None
    check_provider_settings(settings)
    check_shard_settings(settings)
    return settings


def check_shard_settings(settings: Settings) -> None:
    """SHARD_IDS needs SHARD_COUNT and must stay below it; a process that runs only some
    shards shares its database with the others, which only PostgreSQL can do."""
    ids, count = settings.SHARD_IDS, settings.SHARD_COUNT
    if ids is not None and count is None:
        raise ConfigError(f"SHARD_COUNT is missing (SHARD_IDS needs it): "
                          f"{HINTS['SHARD_COUNT']}; {README_SETUP}.")
    if ids is not None and count is not None and max(ids) >= count:
        raise ConfigError(f"SHARD_IDS is invalid (shard {max(ids)} is not below SHARD_COUNT "
                          f"{count}): {HINTS['SHARD_IDS']}; {README_SETUP}.")
    if not settings.runs_every_shard and not settings.uses_postgres:
        raise ConfigError(
            "DATABASE_URL is invalid (SHARD_IDS runs some shards here and the rest in other "
            "processes, which must share one PostgreSQL database): use postgresql://…; "
            "see README.md, section 'Moving to PostgreSQL'.")


def check_provider_settings(settings: Settings) -> None:
    """The Ideogram-compatible API needs both its URL and its key: with PROVIDER=ideogram,
    or when either one is given (half a configuration is a mistake)."""
    url, key = settings.IDEOGRAM_BASE_URL is not None, settings.IDEOGRAM_API_KEY is not None
    if settings.PROVIDER is ProviderName.IDEOGRAM or url != key:
        why = ("PROVIDER=ideogram needs it" if settings.PROVIDER is ProviderName.IDEOGRAM
               else "the ideogram provider needs both IDEOGRAM_BASE_URL and IDEOGRAM_API_KEY")
        for name, present in (("IDEOGRAM_BASE_URL", url), ("IDEOGRAM_API_KEY", key)):
            if not present:
                raise ConfigError(f"{name} is missing ({why}): {HINTS[name]}; {README_SETUP}.")


def require_discord_token(settings: Settings) -> str:
    if settings.DISCORD_TOKEN is None:
        raise ConfigError(f"DISCORD_TOKEN is missing: {HINTS['DISCORD_TOKEN']}; {README_SETUP}.")
    return settings.DISCORD_TOKEN.get_secret_value()
