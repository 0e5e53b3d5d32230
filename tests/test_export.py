"""The CSV export (bot/export.py) on a real SQLite file: round trip, gzip and split."""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from bot import export
from bot.export import (
    COLUMNS,
    FORMULA_STARTS,
    ExportResult,
    ExportTooLarge,
    guild_job_pages,
    iso_utc,
    message_link,
    write_export,
)
from bot.jobs import JobRecord, JobStatus, new_job_id
from bot.store import Store

GUILD = 1001
TRICKY_PROMPTS = [
    'a "quoted" word, and a comma',
    "line one\nline two\r\nline three",
    "=SUM(A1:A9) ünïcödé 🦊 and a trailing space ",
    "",
    ",,,\"\"\n",
]


def make_job(number: int, **overrides: Any) -> JobRecord:
    prompt = TRICKY_PROMPTS[number % len(TRICKY_PROMPTS)] + f" #{number}"
    values: dict[str, Any] = {
        "id": new_job_id(),
        "provider": "runcomfy",
        "model": "ideogram/ideogram-v2/generate",
        "guild_id": GUILD,
        "channel_id": 11,
        "user_id": 42 + number % 3,
        "inputs": {"prompt": prompt, "style": "anime", "aspect_ratio": "16:9", "seed": number,
                   "negative_prompt": 'no "text", please'},
        "seed": number,
        "status": JobStatus.COMPLETED,
        "cost": 0.08,
        "message_id": 5000 + number,
        "created_at": 1_700_000_000.0 + number,
    }
    values.update(overrides)
    return JobRecord(**values)


def read_csv(data: bytes) -> list[dict[str, str]]:
    """The records as written, less the ``'`` that neutralises formula-like cells."""
    return [{key: as_typed(value) for key, value in row.items()}
            for row in read_csv_raw(data)]


def read_csv_raw(data: bytes) -> list[dict[str, str]]:
    text = data.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def as_typed(cell: str) -> str:
    return cell[1:] if cell[:1] == "'" and cell[1:2] and cell[1] in FORMULA_STARTS else cell


def expected_row(job: JobRecord) -> dict[str, str]:
    options = {k: v for k, v in job.inputs.items() if k != "prompt"}
    return {
        "id": job.id,
        "created_at": iso_utc(job.created_at),
        "user_id": str(job.user_id),
        "model": job.model,
        "prompt": str(job.inputs.get("prompt", "")),
        "options": json.dumps(options, ensure_ascii=False, sort_keys=True,
                              separators=(",", ":")),
        "seed": str(job.seed),
        "status": job.status.value,
        "cost": "" if job.cost is None else repr(job.cost),
        "message_link": ("" if job.deleted_at is not None
                         else message_link(job.guild_id, job.channel_id, job.message_id)),
        "deleted_at": iso_utc(job.deleted_at),
    }


async def export_bytes(store: Store, directory: Path, limit: int,
                       page_size: int = 500) -> tuple[Any, list[bytes]]:
    result = await write_export(guild_job_pages(store, GUILD, page_size), directory,
                                basename="h", limit=limit)
    return result, [part.path.read_bytes() for part in result.parts]


async def test_csv_parses_back_to_exactly_the_database_rows(store: Store,
                                                            tmp_path: Path) -> None:
    jobs = [make_job(i) for i in range(12)]
    jobs[3] = make_job(3, status=JobStatus.FAILED, cost=None, message_id=None)
    jobs[4] = make_job(4, deleted_at=1_700_000_100.0)
    jobs[5] = make_job(5, model="ideogram/ideogram-v3/reframe",
                       inputs={"image": "https://x/y.png", "resolution": "1024:1024 (1:1)",
                               "seed": 5, "color_palette": {"name": "EMBER"}})
    for job in random.sample(jobs, len(jobs)):
        await store.insert_job(job)
    await store.insert_job(make_job(99, guild_id=2002))  # another server: not exported

    result, [data] = await export_bytes(store, tmp_path / "out", limit=10 * 1024 * 1024,
                                        page_size=5)  # several pages
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    rows = read_csv(data)
    assert list(rows[0]) == list(COLUMNS)
    in_db = await store.guild_jobs_after(GUILD, None, limit=1000)
    assert rows == [expected_row(job) for job in in_db]
    assert [r["id"] for r in rows] == [j.id for j in sorted(jobs, key=lambda j: j.created_at)]
    assert rows[1]["prompt"] == "line one\nline two\r\nline three #1"
    assert rows[5]["prompt"] == "" and json.loads(rows[5]["options"])["resolution"]
    assert rows[0]["created_at"] == "2023-11-14T22:13:20Z"
    assert result.rows == 12 and not result.gzipped and not result.split


async def test_over_the_limit_it_is_gzipped(store: Store, tmp_path: Path) -> None:
    for i in range(40):
        await store.insert_job(make_job(i))
    plain, [csv_bytes] = await export_bytes(store, tmp_path / "a", limit=10 * 1024 * 1024)
    limit = plain.csv_size - 1
    result, [data] = await export_bytes(store, tmp_path / "b", limit=limit)
    assert result.gzipped and not result.split
    assert result.parts[0].filename == "h.csv.gz" and len(data) <= limit
    assert gzip.decompress(data) == csv_bytes


async def test_still_too_big_it_is_split_between_records(store: Store,
                                                         tmp_path: Path) -> None:
    rng = random.Random(7)
    jobs = []
    for i in range(60):  # random prompts compress badly
        prompt = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz \n,\"") for _ in range(300))
        job = make_job(i, inputs={"prompt": prompt, "seed": i})
        jobs.append(job)
        await store.insert_job(job)
    whole, _ = await export_bytes(store, tmp_path / "a", limit=10 * 1024 * 1024)
    limit = whole.csv_size // 3
    result, parts = await export_bytes(store, tmp_path / "b", limit=limit)
    assert result.gzipped and result.split and len(parts) >= 2
    assert all(len(p) <= limit for p in parts)
    assert result.parts[0].filename.endswith(f"of{len(parts)}.csv.gz")
    rows: list[dict[str, str]] = []
    for data in parts:
        part_rows = read_csv(gzip.decompress(data))
        assert part_rows, "every part holds at least one record"
        rows += part_rows
    assert rows == [expected_row(j) for j in jobs]


async def test_too_large_even_split_is_refused(store: Store, tmp_path: Path) -> None:
    await store.insert_job(make_job(1, inputs={"prompt": "x" * 2000, "seed": 1}))
    with pytest.raises(ExportTooLarge):
        await write_export(guild_job_pages(store, GUILD), tmp_path / "c", basename="h",
                           limit=100)


async def test_a_split_into_the_most_parts_is_tried_before_refusing(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(5)
    for number in range(12):  # text that does not compress: no split can fit 100 bytes
        prompt = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(1500))
        await store.insert_job(make_job(number, inputs={"prompt": prompt, "seed": number}))
    tried: list[str] = []
    gzip_ranges = export._gzip_ranges

    def recording(source: Path, target: Path, *args: Any) -> int:
        tried.append(target.name)
        return gzip_ranges(source, target, *args)

    monkeypatch.setattr(export, "_gzip_ranges", recording)
    with pytest.raises(ExportTooLarge, match="split into 10 parts"):
        await write_export(guild_job_pages(store, GUILD), tmp_path / "d", basename="h",
                           limit=100, max_parts=10)
    assert tried[0] == "h.csv.gz" and tried[1] == "h-part1of10.csv.gz"  # then it stops


async def test_empty_history(store: Store, tmp_path: Path) -> None:
    result, [data] = await export_bytes(store, tmp_path, limit=1000)
    assert result.rows == 0 and read_csv(data) == []


async def test_pages_are_keyset_and_stable(store: Store) -> None:
    same_time = [make_job(i, created_at=1_700_000_000.0) for i in range(7)]
    for job in same_time:
        await store.insert_job(job)
    pages: list[Sequence[JobRecord]] = [p async for p in guild_job_pages(store, GUILD, 3)]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [j.id for p in pages for j in p] == sorted(j.id for j in same_time)


@pytest.mark.parametrize("prompt", ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+2",
                                    "-2+3", "@SUM(A1)", "\tindented", "\rreturn",
                                    "plain =not first"])
async def test_formula_like_cells_are_neutralised(store: Store, tmp_path: Path,
                                                  prompt: str) -> None:
    await store.insert_job(make_job(1, inputs={"prompt": prompt, "seed": -1}, seed=-1))
    _, [data] = await export_bytes(store, tmp_path, limit=10 * 1024 * 1024)
    [row] = read_csv_raw(data)
    expected = ("'" + prompt) if prompt[0] in "=+-@\t\r" else prompt
    assert row["prompt"] == expected
    assert row["seed"] == "'-1"  # every cell, numbers too
    assert not any(cell.startswith(FORMULA_STARTS) for cell in row.values())


def test_the_export_message_says_cells_were_neutralised() -> None:
    from cogs.export import describe_export

    result = ExportResult(parts=(), rows=3, csv_size=100, gzipped=False)
    assert "begin with an added '" in describe_export(result, 10 * 1024 * 1024)
