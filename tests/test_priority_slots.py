"""PrioritySlots: a bounded number of holders, urgent waiters first, nothing lost on cancel."""

from __future__ import annotations

import asyncio

import pytest

from bot.priority_slots import SOON_IN_A_ROW, PrioritySlots
from bot.store.priority_lock import PriorityLock, ahead_of_routine


async def _take(slots: PrioritySlots, name: str, order: list[str], *, urgent: bool,
                hold: asyncio.Event) -> None:
    await slots.acquire(urgent=urgent)
    order.append(name)
    await hold.wait()
    slots.release()


async def test_capacity_bounds_holders_and_urgent_waiters_go_first() -> None:
    slots = PrioritySlots(2)
    order: list[str] = []
    hold = asyncio.Event()
    tasks = [asyncio.create_task(_take(slots, f"first{i}", order, urgent=False, hold=hold))
             for i in range(2)]
    await asyncio.sleep(0)
    assert order == ["first0", "first1"] and slots.full()
    tasks += [asyncio.create_task(_take(slots, "normal", order, urgent=False, hold=hold)),
              asyncio.create_task(_take(slots, "urgent1", order, urgent=True, hold=hold)),
              asyncio.create_task(_take(slots, "urgent2", order, urgent=True, hold=hold))]
    await asyncio.sleep(0)
    assert slots.waiting == 3
    hold.set()
    await asyncio.gather(*tasks)
    assert order == ["first0", "first1", "urgent1", "urgent2", "normal"]
    assert not slots.full() and slots.waiting == 0


async def test_a_newcomer_does_not_overtake_a_woken_waiter() -> None:
    slots = PrioritySlots(1)
    await slots.acquire()
    waiter = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    slots.release()  # handed to the waiter, never free in between
    newcomer = asyncio.create_task(slots.acquire(urgent=True))
    await asyncio.sleep(0)
    assert waiter.done() and not newcomer.done()
    slots.release()
    await newcomer
    slots.release()


async def test_cancelled_waiters_leave_no_slot_behind() -> None:
    slots = PrioritySlots(1)
    await slots.acquire()
    gone = asyncio.create_task(slots.acquire(urgent=True))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    assert slots.waiting == 0
    slots.release()
    async with slots.normal():
        assert slots.full()
    assert not slots.full()
    with pytest.raises(RuntimeError):
        slots.release()


async def test_the_store_lock_is_one_slot() -> None:
    lock = PriorityLock()
    async with lock.urgent():
        assert lock.locked()
    assert not lock.locked()
    with pytest.raises(ValueError):
        PrioritySlots(0)


async def test_soon_waiters_go_after_urgent_ones_and_before_the_rest() -> None:
    slots = PrioritySlots(1)
    order: list[str] = []
    hold = asyncio.Event()

    async def take(name: str, **kind: bool) -> None:
        await slots.acquire(**kind)
        order.append(name)
        await hold.wait()
        slots.release()

    first = asyncio.create_task(take("first"))
    await asyncio.sleep(0)
    tasks = [asyncio.create_task(take("normal")), asyncio.create_task(take("soon", soon=True)),
             asyncio.create_task(take("urgent", urgent=True))]
    await asyncio.sleep(0)
    assert slots.waiting == 3
    hold.set()
    await asyncio.gather(first, *tasks)
    assert order == ["first", "urgent", "soon", "normal"]


async def test_store_work_ahead_of_routine_goes_before_routine_work() -> None:
    lock = PriorityLock()
    order: list[str] = []
    await lock.acquire()

    async def take(name: str) -> None:
        await lock.acquire()
        order.append(name)
        lock.release()

    async def take_ahead() -> None:
        with ahead_of_routine():
            await take("ahead")

    tasks = [asyncio.create_task(take("routine")), asyncio.create_task(take_ahead())]
    await asyncio.sleep(0)
    lock.release()
    await asyncio.gather(*tasks)
    assert order == ["ahead", "routine"]


async def test_a_stream_of_soon_work_lets_waiting_routine_work_through() -> None:
    """Soon work goes first, but never shuts routine work out: after a few soon grants in
    a row, a waiting normal one gets its turn (urgent work still goes before both)."""
    slots = PrioritySlots(1)
    order: list[str] = []
    await slots.acquire()

    async def take(name: str, **kind: bool) -> None:
        await slots.acquire(**kind)
        order.append(name)
        slots.release()

    tasks = [asyncio.create_task(take("normal"))]
    tasks += [asyncio.create_task(take(f"soon{i}", soon=True)) for i in range(10)]
    await asyncio.sleep(0)
    slots.release()
    await asyncio.gather(*tasks)
    assert order.index("normal") == SOON_IN_A_ROW
    assert order[:SOON_IN_A_ROW] == [f"soon{i}" for i in range(SOON_IN_A_ROW)]
