"""The store's queries on both engines (the ``store`` fixture: an SQLite file under
tmp_path, or the session's PostgreSQL database): jobs, history, server settings,
presets, languages and batches."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.jobs import UNFINISHED_STATUSES, JobStatus
from bot.store import GuildSettings, JobNotFoundError, Store
from tests.helpers import store_rows
from tests.store_records import GENERATE, GUILD, INTEGRITY_ERRORS, OTHER_GUILD, REFRAME, make_job

# --------------------------------------------------------------------------- jobs


async def test_every_status_is_accepted_and_others_are_not(store: Store) -> None:
    for status in JobStatus:
        job = await store.insert_job(make_job(status=status))
        got = await store.get_job(job.id)
        assert got is not None and got.status is status
    with pytest.raises(ValueError):
        await store.insert_job(make_job(status="bogus"))  # type: ignore[arg-type]  # wrong on purpose
    with pytest.raises(INTEGRITY_ERRORS, match=r"(?i)check"):  # the table checks it too
        await store_rows(store, "UPDATE jobs SET status = 'bogus'")


async def test_json_fields_round_trip(store: Store) -> None:
    prompt = "A \"quoted\" sign\nthat says 'héllo' — 日本語 🦊 \\ back\\slash\t{}[]"
    job = make_job(
        inputs={"prompt": prompt, "negative_prompt": "no\r\nblur", "nested": {"x": [1, 2.5]}},
        result_urls=['https://cdn.example/a b.png?sig=1&x="2"', "https://cdn.example/ü.png"],
        cost=0.08,
    )
    await store.insert_job(job)
    got = await store.get_job(job.id)
    assert got == job
    assert got is not None and got.inputs["prompt"] == prompt


async def test_only_one_may_start_sending_a_pending_job(store: Store) -> None:
    # Two processes that both believe they own a pending job (a lease ran out while its
    # first owner lived): the first mark wins, the second is told not to send it.
    job = await store.insert_job(make_job())
    first = await store.mark_submitting(job.id, submitting_at=100.0, message_id=7)
    assert first is not None and first.submitting_at == 100.0 and first.message_id == 7
    assert await store.mark_submitting(job.id, submitting_at=101.0) is None
    done = await store.insert_job(make_job())
    await store.update_job(done.id, status=JobStatus.FAILED)
    assert await store.mark_submitting(done.id, submitting_at=102.0) is None  # ended
    assert (await store.get_job(job.id)).submitting_at == 100.0  # type: ignore[union-attr]


async def test_get_missing_job(store: Store) -> None:
    assert await store.get_job("nope") is None


async def test_insert_duplicate_id_fails(store: Store) -> None:
    job = await store.insert_job(make_job())
    with pytest.raises(INTEGRITY_ERRORS):
        await store.insert_job(job)


async def test_update_job(store: Store) -> None:
    job = await store.insert_job(make_job(updated_at=1.0))
    updated = await store.update_job(
        job.id, status="queued", request_id="r1", queue_position=2, result_urls=("u",)
    )
    assert updated.status is JobStatus.QUEUED
    assert updated.request_id == "r1" and updated.queue_position == 2
    assert updated.result_urls == ["u"]
    assert updated.updated_at > 1.0
    assert await store.get_job(job.id) == updated

    with pytest.raises(ValueError, match="colour"):
        await store.update_job(job.id, colour="red")
    with pytest.raises(ValueError, match="id"):
        await store.update_job(job.id, id="other")
    with pytest.raises(ValueError):
        await store.update_job(job.id, status="exploded")
    with pytest.raises(JobNotFoundError):
        await store.update_job("missing", error="x")
    assert await store.get_job(job.id) == updated


async def test_transition_job_compare_and_set(store: Store) -> None:
    job = await store.insert_job(make_job())
    queued = await store.transition_job(job.id, [JobStatus.PENDING], status=JobStatus.QUEUED)
    assert queued is not None and queued.status is JobStatus.QUEUED
    # a single JobStatus (a str) is accepted as "one expected status"
    assert await store.transition_job(job.id, JobStatus.PENDING, status="running") is None

    now = time.time()
    done = await store.transition_job(
        job.id, UNFINISHED_STATUSES, status=JobStatus.COMPLETED, finished_at=now
    )
    assert done is not None and done.status is JobStatus.COMPLETED
    again = await store.transition_job(
        job.id, UNFINISHED_STATUSES, status=JobStatus.FAILED, error="late"
    )
    assert again is None
    stored = await store.get_job(job.id)
    assert stored == done
    assert stored is not None and stored.error is None

    assert await store.transition_job("missing", UNFINISHED_STATUSES, error="x") is None
    with pytest.raises(ValueError):
        await store.transition_job(job.id, [JobStatus.COMPLETED], nonsense=1)


async def test_concurrent_terminal_transitions_write_once(store: Store) -> None:
    job = await store.insert_job(make_job(status=JobStatus.RUNNING))
    outcomes = [JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED] * 20
    results = await asyncio.gather(
        *(
            store.transition_job(job.id, UNFINISHED_STATUSES, status=s, error=f"#{i}")
            for i, s in enumerate(outcomes)
        )
    )
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert await store.get_job(job.id) == winners[0]


async def test_unfinished_and_undelivered(store: Store) -> None:
    t = 1000.0
    jobs = {
        s: await store.insert_job(make_job(status=s, created_at=t + i))
        for i, s in enumerate(JobStatus)
    }
    delivered = await store.insert_job(
        make_job(status=JobStatus.COMPLETED, created_at=t + 50, delivered_at=t + 60)
    )
    unfinished = await store.unfinished_jobs()
    assert [j.status for j in unfinished] == [
        JobStatus.PENDING,
        JobStatus.QUEUED,
        JobStatus.RUNNING,
    ]
    undelivered = await store.undelivered_finished_jobs()
    assert [j.id for j in undelivered] == [
        jobs[JobStatus.COMPLETED].id,
        jobs[JobStatus.FAILED].id,
        jobs[JobStatus.CANCELLED].id,
    ]
    assert delivered.id not in {j.id for j in undelivered}
    await store.update_job(jobs[JobStatus.FAILED].id, delivered_at=t + 70)
    assert len(await store.undelivered_finished_jobs()) == 2


async def test_jobs_by_prefix(store: Store) -> None:
    here = await store.insert_job(make_job(id="abcdef0123456789", guild_id=GUILD))
    await store.insert_job(make_job(id="feedface00000000", guild_id=OTHER_GUILD))
    dm = await store.insert_job(make_job(id="dddddddd11111111", guild_id=None))

    assert await store.jobs_by_prefix(GUILD, here.short_id) == [here]
    assert await store.jobs_by_prefix(GUILD, " ABCDEF01 ") == [here]
    assert await store.jobs_by_prefix(GUILD, here.id) == [here]
    assert await store.jobs_by_prefix(GUILD, "feedface") == []  # other guild's job
    assert await store.jobs_by_prefix(OTHER_GUILD, "abcdef01") == []
    assert await store.jobs_by_prefix(None, "dddddddd") == [dm]
    assert await store.jobs_by_prefix(GUILD, "") == []
    assert await store.jobs_by_prefix(GUILD, "%") == []
    assert await store.jobs_by_prefix(GUILD, "zzzz") == []

    other = await store.insert_job(make_job(id="abcdef01ffffffff", guild_id=GUILD))
    ambiguous = await store.jobs_by_prefix(GUILD, "abcdef01")
    assert sorted(j.id for j in ambiguous) == sorted([here.id, other.id])
    assert await store.jobs_by_prefix(GUILD, "abcdef012") == [here]


async def test_history_queries(store: Store) -> None:
    mine = [await store.insert_job(make_job(user_id=42, created_at=100.0 + i)) for i in range(5)]
    await store.insert_job(make_job(user_id=43, created_at=200.0))
    await store.insert_job(make_job(user_id=42, guild_id=OTHER_GUILD, created_at=300.0))

    page1 = await store.jobs_for_user(GUILD, 42, limit=2, offset=0)
    page3 = await store.jobs_for_user(GUILD, 42, limit=2, offset=4)
    assert [j.id for j in page1] == [mine[4].id, mine[3].id]
    assert [j.id for j in page3] == [mine[0].id]

    assert len(await store.jobs_for_guild(GUILD, limit=3)) == 3
    everything = await store.jobs_for_guild(GUILD, limit=None)
    assert len(everything) == 6
    assert [j.created_at for j in everything] == sorted(
        (j.created_at for j in everything), reverse=True
    )


async def test_recent_durations(store: Store) -> None:
    for i in range(5):
        base = 1000.0 + 100 * i
        await store.insert_job(
            make_job(
                status=JobStatus.COMPLETED,
                submitted_at=base,
                started_at=base + i,  # queue i seconds
                finished_at=base + i + 10 + i,  # run 10 + i seconds
            )
        )
    await store.insert_job(
        make_job(status=JobStatus.FAILED, submitted_at=1.0, started_at=2.0, finished_at=3.0)
    )
    await store.insert_job(make_job(status=JobStatus.COMPLETED, submitted_at=1.0))  # partial
    await store.insert_job(
        make_job(
            model=REFRAME,
            status=JobStatus.COMPLETED,
            submitted_at=1.0,
            started_at=2.0,
            finished_at=3.0,
        )
    )
    durations = await store.recent_durations(GENERATE)
    assert durations == [(4.0, 14.0), (3.0, 13.0), (2.0, 12.0), (1.0, 11.0), (0.0, 10.0)]
    assert await store.recent_durations(GENERATE, limit=2) == durations[:2]
    assert await store.recent_durations(REFRAME) == [(1.0, 1.0)]
    assert await store.recent_durations("unknown/model") == []


# --------------------------------------------------------------------------- guild settings


async def test_guild_settings_defaults_and_updates(store: Store) -> None:
    assert await store.get_guild_settings(GUILD) == GuildSettings(guild_id=GUILD)
    defaults = await store.get_guild_settings(GUILD)
    assert defaults.provider is None and defaults.log_channel_id is None
    assert defaults.ideogram_enabled and defaults.reframe_enabled
    assert defaults.channel_allowed(123)

    s = await store.update_guild_settings(GUILD, ideogram_enabled=False, log_channel_id=77)
    assert (s.ideogram_enabled, s.reframe_enabled, s.log_channel_id) == (False, True, 77)
    assert s.updated_at is not None
    s = await store.update_guild_settings(GUILD, log_channel_id=None, provider="runcomfy")
    assert (s.ideogram_enabled, s.log_channel_id, s.provider) == (False, None, "runcomfy")
    assert await store.get_guild_settings(GUILD) == s
    assert await store.get_guild_settings(OTHER_GUILD) == GuildSettings(guild_id=OTHER_GUILD)
    with pytest.raises(ValueError, match="colour"):
        await store.update_guild_settings(GUILD, colour="red")


async def test_allowed_channels(store: Store) -> None:
    assert await store.add_allowed_channel(GUILD, 5) is True
    assert await store.add_allowed_channel(GUILD, 5) is False
    assert await store.add_allowed_channel(GUILD, 6) is True
    await store.add_allowed_channel(OTHER_GUILD, 7)
    s = await store.get_guild_settings(GUILD)
    assert s.allowed_channel_ids == frozenset({5, 6})
    assert s.channel_allowed(5) and not s.channel_allowed(7)
    assert await store.remove_allowed_channel(GUILD, 5) is True
    assert await store.remove_allowed_channel(GUILD, 5) is False
    assert (await store.get_guild_settings(GUILD)).allowed_channel_ids == frozenset({6})


async def test_blocked_words(store: Store) -> None:
    added = await store.add_blocked_words(GUILD, ["Spam", "  very   BAD  words ", "spam", ""])
    assert added == ("spam", "very bad words")
    assert await store.add_blocked_words(GUILD, ["SPAM", "Ünïcode"]) == ("ünïcode",)
    assert (await store.get_guild_settings(GUILD)).blocked_words == (
        "spam",
        "very bad words",
        "ünïcode",
    )
    assert (await store.get_guild_settings(OTHER_GUILD)).blocked_words == ()
    assert await store.remove_blocked_words(GUILD, ["Very Bad Words", "absent"]) == (
        "very bad words",
    )
    assert (await store.get_guild_settings(GUILD)).blocked_words == ("spam", "ünïcode")


# ---------------------------------------------------------------- presets, languages, batches


async def test_presets_by_name_whatever_the_case_within_the_limit(store: Store) -> None:
    from bot.presets import Preset
    from bot.store import PresetLimitError

    kit = Preset(name="Brand Kit", style="design", magic_prompt=False, prompt_suffix="navy",
                 created_by=42, updated_at=1.0)
    assert await store.save_preset(GUILD, kit, actor_id=42, limit=2) is None
    newer = Preset(name="brand kit", aspect_ratio="16:9", created_by=43, updated_at=2.0)
    assert await store.save_preset(GUILD, newer, actor_id=43, limit=2) == kit  # replaced
    await store.save_preset(GUILD, Preset(name="Alpha", created_by=1, updated_at=3.0),
                            actor_id=1, limit=2)
    with pytest.raises(PresetLimitError):
        await store.save_preset(GUILD, Preset(name="Zeta", updated_at=4.0), actor_id=1, limit=2)
    assert [p.name for p in await store.guild_presets(GUILD)] == ["Alpha", "brand kit"]
    assert (await store.all_presets())[GUILD][1] == newer
    assert await store.delete_preset(GUILD, "BRAND KIT", actor_id=42) == newer
    assert await store.delete_preset(GUILD, "brand kit", actor_id=42) is None
    assert [p.name for p in await store.guild_presets(GUILD)] == ["Alpha"]
    assert await store_rows(store, "SELECT action FROM settings_audit ORDER BY id") == [
        ("preset:save",), ("preset:replace",), ("preset:save",), ("preset:delete",)]


async def test_preset_names_match_whatever_the_case_of_any_letter(store: Store) -> None:
    from bot.presets import Preset

    water = Preset(name="Água Viva", style="design", updated_at=1.0)
    assert await store.save_preset(GUILD, water, actor_id=1, limit=2) is None
    again = Preset(name="água viva", style="anime", updated_at=2.0)
    assert await store.save_preset(GUILD, again, actor_id=1, limit=2) == water  # replaced
    assert await store.save_preset(GUILD, Preset(name="Straße"), actor_id=1, limit=2) is None
    assert await store.save_preset(GUILD, Preset(name="STRASSE"), actor_id=1, limit=2) \
        == Preset(name="Straße")
    assert [p.name for p in await store.guild_presets(GUILD)] == ["STRASSE", "água viva"]
    assert await store.delete_preset(GUILD, "ÁGUA VIVA", actor_id=1) == again
    assert await store.delete_preset(GUILD, "strasse", actor_id=1) is not None
    assert await store.guild_presets(GUILD) == []


async def test_language_and_batches(store: Store) -> None:
    settings = await store.update_guild_settings(GUILD, language="pt-BR")
    assert settings.language == "pt-BR" and settings.provider is None
    assert (await store.all_guild_settings())[GUILD].language == "pt-BR"
    batch = [make_job(batch_id="b1", batch_index=i, batch_size=3, locale="it") for i in (2, 0, 1)]
    for job in batch:
        await store.insert_job(job)
    found = await store.batch_jobs("b1")
    assert [j.batch_index for j in found] == [0, 1, 2] and found[0].locale == "it"
