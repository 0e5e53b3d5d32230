"""``python -m bot``: validate the configuration, then run the Discord bot.

This is the composition root and the one module of ``bot`` that reaches ``cogs`` (and so
Discord); it imports them only after the configuration is known to be good.
"""

from __future__ import annotations

import asyncio
import logging
import sys

import yarl

from bot.config import ConfigError, Settings, load_settings, require_discord_token
from bot.logging_setup import configure_logging

log = logging.getLogger("bot")


def _secrets(settings: Settings) -> list[str]:
    values = [settings.DISCORD_TOKEN, settings.RUNCOMFY_API_TOKEN, settings.IDEOGRAM_API_KEY]
    found = [v.get_secret_value() for v in values if v is not None]
    password = yarl.URL(settings.DATABASE_URL).password if settings.uses_postgres else None
    return [*found, password] if password else found


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "migrate-to-postgres":
        from bot.store.transfer import migrate_command

        logging.basicConfig(level=logging.WARNING)
        return asyncio.run(migrate_command(args[1:]))
    try:
        settings = load_settings()
        token = require_discord_token(settings)
    except ConfigError as exc:
        print(f"Cannot start: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.LOG_LEVEL, _secrets(settings))

    from cogs.client import run_bot  # Discord is imported only once the config is good

    try:
        asyncio.run(run_bot(settings, token))
    except KeyboardInterrupt:
        log.info("Stopped.")
    except ConfigError as exc:
        print(f"Cannot start: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
