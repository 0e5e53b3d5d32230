"""Killing a bot in the middle of its work, in-process: nothing it does afterwards lands.

A SIGKILL stops every write and every request at once. Inside one event loop the same
is had by cutting the bot off from everything durable or visible: its store stops
answering (every use of the connection waits for ever, as if the process were gone; a
statement already handed to SQLite completes or not, atomically, as on a real kill), and
its HTTP sessions to Discord and to the providers are closed (a request in flight is cut).
The bot object is then dropped without ``close()``, and a new bot is started on the same
database file, as after a restart. :meth:`Corpse.bury` tidies the loop up at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from bot.store import StoreError
from cogs.core.bot import IdeogramBot


class _DeadLock:
    """Stands in for the store's lock: nobody gets the connection any more."""

    def __init__(self, dead: asyncio.Future[None]) -> None:
        self._dead = dead

    async def acquire(self, *, urgent: bool = False) -> None:
        await asyncio.shield(self._dead)

    def release(self) -> None:
        pass

    def locked(self) -> bool:
        return True


class Corpse:
    """What is left of a killed bot: its tasks, its connection, its database file."""

    def __init__(self, bot: IdeogramBot, tasks: set[asyncio.Task[Any]],
                 dead: asyncio.Future[None]) -> None:
        self.bot = bot
        self._tasks = tasks
        self._dead = dead

    async def bury(self) -> None:
        """Fail everything the dead bot still waits on, cancel its tasks, free its thread."""
        if not self._dead.done():
            self._dead.set_exception(StoreError("the process was killed"))
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, 2)
        conn = self.bot.store._conn
        if conn is not None:
            self.bot.store._conn = None
            with contextlib.suppress(Exception):
                await conn.close()


def _bots(task: asyncio.Task[Any]) -> bool:
    """Whether a task runs the bot's code (not the fake servers' or the test's)."""
    code = getattr(task.get_coro(), "cr_code", None)
    where = getattr(code, "co_filename", "")
    if "/bot/localserver/" in where or "/tests/" in where:
        return False
    return ("/cogs/" in where or "/bot/" in where or "/discord/" in where
            or task.get_name().startswith(("CommandTree-invoker", "discord")))


def kill(bot: IdeogramBot) -> asyncio.Task[Corpse]:
    """Kill ``bot`` now: from this instant its store never answers again; its sessions are
    closed right after. Returns a task that yields the :class:`Corpse`."""
    dead: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    bot.store._lock = _DeadLock(dead)  # type: ignore[assignment]  # a lock that never opens
    me = asyncio.current_task()
    tasks: set[asyncio.Task[Any]] = set()

    def take_tasks() -> None:
        """The dead bot's tasks, renamed: in a process of its own, the next bot (whose stop
        waits for running commands) would never see them."""
        for task in asyncio.all_tasks():
            if task is not me and task is not asyncio.current_task() and not task.done() \
                    and _bots(task) and task not in tasks:
                tasks.add(task)
                task.set_name(f"killed-{task.get_name()}")

    take_tasks()

    async def cut_off() -> Corpse:
        with contextlib.suppress(Exception):
            await bot.http.close()
        for provider in bot.services.providers.values():
            with contextlib.suppress(Exception):
                await provider.aclose()
        with contextlib.suppress(Exception):
            await bot.services.http.aclose()
        take_tasks()  # commands dispatched to it that began meanwhile
        return Corpse(bot, tasks, dead)

    return asyncio.get_running_loop().create_task(cut_off(), name="process-death")
