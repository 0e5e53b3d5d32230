"""What the store tests write: a job with any field overridden, the guilds they use, and
each engine's integrity errors."""

from __future__ import annotations

import sqlite3
from typing import Any

import asyncpg

from bot.jobs import JobRecord, new_job_id

GUILD = 1001
OTHER_GUILD = 2002
GENERATE = "ideogram/ideogram-v2/generate"
REFRAME = "ideogram/ideogram-v3/reframe"


def make_job(**overrides: Any) -> JobRecord:
    values: dict[str, Any] = {
        "id": new_job_id(),
        "provider": "runcomfy",
        "model": GENERATE,
        "guild_id": GUILD,
        "channel_id": 11,
        "user_id": 42,
        "inputs": {"prompt": "a red fox", "aspect_ratio": "1:1", "seed": 7},
        "seed": 7,
    }
    values.update(overrides)
    return JobRecord(**values)


#: What each engine raises when a row breaks a constraint.
INTEGRITY_ERRORS = (sqlite3.IntegrityError, asyncpg.IntegrityConstraintViolationError)
