"""Dispatching an interaction payload through discord.py's own routing in this process,
and waiting until every task discord.py started for it has finished."""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import discord

from tests.harness.bots import fake_of

if TYPE_CHECKING:
    from discord.types.interactions import Interaction as InteractionPayload


class HarnessDispatchError(AssertionError):
    """discord.py logged an error (an exception in a command, view, or listener) while
    handling a dispatched interaction."""


class _ErrorCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


_AWAITED_TASK_PREFIXES = ("CommandTree-invoker", "discord.py: ", "discord-ui-")
_IGNORED_TASK_PREFIXES = ("discord-ui-view-timeout-",)


def _is_discord_task(task: asyncio.Task[Any]) -> bool:
    name = task.get_name()
    return name.startswith(_AWAITED_TASK_PREFIXES) and not name.startswith(_IGNORED_TASK_PREFIXES)


@dataclass
class Dispatched:
    """An interaction in flight (from :func:`start_dispatch`); ``await d.wait()``."""

    interaction: discord.Interaction[Any]
    tasks: list[asyncio.Task[Any]]
    handled: bool
    _before: set[asyncio.Task[Any]]
    _collector: _ErrorCollector
    _done: bool = False

    async def wait(
        self,
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        raise_errors: bool = True,
    ) -> discord.Interaction[Any]:
        """Wait until every task discord.py spawned for this interaction (command invoker,
        view / dynamic item / modal callback, event listeners, and discord.py tasks those
        spawn in turn) is done. Background tasks the bot's own code starts are not
        awaited: use :meth:`FakeDiscord.wait_for` for those. With *raise_errors*, an error
        discord.py logged meanwhile (e.g. "Ignoring exception in command") is raised as
        :class:`HarnessDispatchError`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        seen: set[asyncio.Task[Any]] = set(self._before)
        pending = set(self.tasks)
        try:
            while pending:
                seen |= pending
                remaining = deadline - loop.time()
                done, not_done = await asyncio.wait(pending, timeout=max(remaining, 0))
                if not_done:
                    for t in not_done:
                        t.cancel()
                    names = sorted(t.get_name() for t in not_done)
                    raise TimeoutError(
                        f"interaction handling did not finish in {timeout}s: {names}"
                    )
                for t in done:
                    if not t.cancelled() and t.exception() is not None and raise_errors:
                        raise HarnessDispatchError(f"task {t.get_name()} failed") from t.exception()
                pending = {
                    t for t in asyncio.all_tasks() - seen if _is_discord_task(t) and not t.done()
                }
        finally:
            if not self._done:
                logging.getLogger("discord").removeHandler(self._collector)
                self._done = True
        self.interaction.extras["harness_errors"] = list(self._collector.records)
        if raise_errors and self._collector.records:
            record = self._collector.records[0]
            cause = record.exc_info[1] if record.exc_info else None
            raise HarnessDispatchError(
                f"discord.py logged an error while handling the interaction: {record.getMessage()}"
            ) from cause
        return self.interaction


def start_dispatch(
    bot: discord.Client,
    payload: Mapping[str, Any],
    *,
    expect_handler: bool = True,
    dispatch_event: bool = True,
) -> Dispatched:
    """Start handling *payload* the way ``ConnectionState.parse_interaction_create`` does and
    return at once (before any callback ran), so a test can look at the fake while the
    command is still running; then ``await dispatched.wait()``.

    The Interaction is built with ``discord.Interaction(data=payload, state=bot._connection)``;
    type 2/4 go to ``bot.tree._from_interaction`` (task ``CommandTree-invoker`` running
    ``tree._call``: checks, transformers, autocomplete, error handlers, ``on_error``),
    type 3 to ``ViewStore.dispatch_view`` (which also runs ``dispatch_dynamic_items``),
    type 5 to ``ViewStore.dispatch_modal``; then ``on_interaction`` is dispatched
    (*dispatch_event*). With *expect_handler*, a component/modal that no view, dynamic
    item or modal handles raises AssertionError (Discord would say "interaction failed")."""
    data = copy.deepcopy(dict(payload))
    fake = fake_of(bot)
    if fake is not None:
        fake.register_interaction(data)
    collector = _ErrorCollector()
    logging.getLogger("discord").addHandler(collector)
    state: Any = bot._connection
    try:
        interaction: discord.Interaction[Any] = discord.Interaction(
            data=cast("InteractionPayload", data), state=state)
        before = asyncio.all_tasks()
        kind = int(data["type"])
        if kind in (2, 4):
            tree = state._command_tree
            if tree is None:
                raise RuntimeError("the bot has no CommandTree")
            tree._from_interaction(interaction)
        elif kind == 3:
            inner = data["data"]
            state._view_store.dispatch_view(
                inner["component_type"], inner["custom_id"], interaction
            )
        elif kind == 5:
            inner = data["data"]
            state._view_store.dispatch_modal(
                inner["custom_id"], interaction, inner["components"], inner.get("resolved", {})
            )
        else:
            raise ValueError(f"cannot dispatch interaction type {kind}")
        routed = asyncio.all_tasks() - before
        handled = kind in (2, 4) or any(t.get_name().startswith("discord-ui-") for t in routed)
        if dispatch_event:
            bot.dispatch("interaction", interaction)
        tasks = list(asyncio.all_tasks() - before)
    except BaseException:
        logging.getLogger("discord").removeHandler(collector)
        raise
    if expect_handler and not handled:
        logging.getLogger("discord").removeHandler(collector)
        for t in tasks:
            t.cancel()
        ident = data.get("data", {}).get("custom_id")
        raise AssertionError(f"no view, dynamic item or modal handles custom_id {ident!r}")
    return Dispatched(
        interaction=interaction, tasks=tasks, handled=handled, _before=before, _collector=collector
    )


async def dispatch(
    bot: discord.Client,
    payload: Mapping[str, Any],
    *,
    timeout: float = 5.0,  # noqa: ASYNC109
    raise_errors: bool = True,
    expect_handler: bool = True,
    dispatch_event: bool = True,
) -> discord.Interaction[Any]:
    """Dispatch *payload* (see :func:`start_dispatch`) and wait until discord.py finished
    handling it, including a component's view/DynamicItem callback (see
    :meth:`Dispatched.wait`). Returns the :class:`discord.Interaction`; errors discord.py
    logged are in ``interaction.extras["harness_errors"]`` and, with *raise_errors*,
    raised as :class:`HarnessDispatchError`."""
    dispatched = start_dispatch(
        bot, payload, expect_handler=expect_handler, dispatch_event=dispatch_event
    )
    return await dispatched.wait(timeout, raise_errors=raise_errors)
