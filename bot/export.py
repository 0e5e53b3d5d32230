"""The server's job history as CSV: written with ``csv``, streamed page by page.

Rows come from the store in keyset-paged batches (oldest first); each batch is encoded in a
worker thread straight into a file on disk, so a large history never sits in memory and
never blocks the event loop for long. The result must fit Discord's upload limit:

1. the plain CSV, if it fits;
2. else the same CSV gzip-compressed (``.csv.gz``);
3. else several gzip-compressed parts, each a complete CSV with the header row, split
   between records (never inside one: prompts may hold newlines).

Files are UTF-8 with a byte-order mark (so spreadsheet programs detect the encoding) and
CRLF line ends, as RFC 4180 says. Cells that a spreadsheet would run as a formula (starting
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) get a leading ``'``, as OWASP
advises against CSV injection. Nothing here imports Discord.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import itertools
import json
import math
import shutil
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Final

from bot.i18n import LocalizedError, LocalNumber, lazy
from bot.jobs import JobRecord
from bot.store import Store

COLUMNS: Final = (
    "id", "created_at", "user_id", "model", "prompt", "options", "seed", "status", "cost",
    "message_link", "deleted_at",
)
ENCODING: Final = "utf-8"
BOM: Final = "\ufeff".encode()
PAGE_SIZE: Final = 500
MAX_PARTS: Final = 10
_COPY_CHUNK: Final = 1024 * 1024
#: What a spreadsheet takes as the start of a formula (OWASP's list for CSV injection).
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


class ExportTooLarge(LocalizedError):
    """The export is too large for Discord, even split.

    Even split into :data:`MAX_PARTS` compressed parts, the export does not fit;
    ``str(exc)`` says by how much, in the language of whoever reads it.
    """


@dataclass(frozen=True, slots=True)
class ExportPart:
    """One file of an export: where it is, its name for Discord, its size and rows."""

    path: Path
    filename: str
    size: int
    rows: int


@dataclass(frozen=True, slots=True)
class ExportResult:
    """A whole export: its parts, rows, the CSV's size and whether it was gzipped."""

    parts: tuple[ExportPart, ...]
    rows: int
    csv_size: int  # bytes of the uncompressed CSV
    gzipped: bool

    @property
    def split(self) -> bool:
        """Whether the export needed more than one file."""
        return len(self.parts) > 1


def iso_utc(when: float | None) -> str:
    """``2024-05-01T12:00:00Z`` (ISO 8601, UTC, whole seconds), or empty for None."""
    if when is None:
        return ""
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def message_link(guild_id: int | None, channel_id: int, message_id: int | None) -> str:
    """The jump link of a message, or empty when the message is unknown."""
    if message_id is None or not channel_id:
        return ""
    return f"https://discord.com/channels/{guild_id or '@me'}/{channel_id}/{message_id}"


def job_options(job: JobRecord) -> dict[str, object]:
    """Every input sent to the provider except the prompt (which has its own column)."""
    return {key: value for key, value in job.inputs.items() if key != "prompt"}


def neutralise(cell: str) -> str:
    """The cell with a leading ``'`` when a spreadsheet would run it as a formula."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def job_row(job: JobRecord) -> list[str]:
    """One CSV record, in :data:`COLUMNS` order, every cell neutralised."""
    return [neutralise(cell) for cell in _cells(job)]


def _cells(job: JobRecord) -> list[str]:
    return [
        job.id,
        iso_utc(job.created_at),
        str(job.user_id),
        job.model,
        str(job.inputs.get("prompt", "")),
        json.dumps(job_options(job), ensure_ascii=False, sort_keys=True, separators=(",", ":")),
        str(job.seed),
        job.status.value,
        "" if job.cost is None else repr(float(job.cost)),
        "" if job.deleted_at is not None else message_link(job.guild_id, job.channel_id,
                                                           job.message_id),
        iso_utc(job.deleted_at),
    ]


async def guild_job_pages(store: Store, guild_id: int, page_size: int = PAGE_SIZE
                          ) -> AsyncIterator[list[JobRecord]]:
    """Every job of a guild, oldest first, ``page_size`` at a time."""
    after: tuple[float, str] | None = None
    while True:
        page = await store.guild_jobs_after(guild_id, after, limit=page_size)
        if not page:
            return
        yield page
        if len(page) < page_size:
            return
        after = (page[-1].created_at, page[-1].id)


class _Encoder:
    """Encodes records to bytes with one reused ``csv.writer``; remembers record ends."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer)

    def encode(self, row: Sequence[str]) -> bytes:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._writer.writerow(row)
        return self._buffer.getvalue().encode(ENCODING)


def _write_page(out: BinaryIO, encoder: _Encoder, jobs: Sequence[JobRecord],
                ends: list[int]) -> None:
    position = ends[-1]
    for job in jobs:
        data = encoder.encode(job_row(job))
        out.write(data)
        position += len(data)
        ends.append(position)


def _gzip_ranges(source: Path, target: Path, header: bytes,
                 ranges: Sequence[tuple[int, int]]) -> int:
    """Write ``header`` and the byte ranges of ``source`` gzip-compressed; return its size."""
    with source.open("rb") as src, gzip.open(target, "wb", compresslevel=6) as gz:
        gz.write(header)
        for start, end in ranges:
            src.seek(start)
            left = end - start
            while left > 0:
                chunk = src.read(min(_COPY_CHUNK, left))
                if not chunk:
                    break
                gz.write(chunk)
                left -= len(chunk)
    return target.stat().st_size


def _split_points(ends: Sequence[int], parts: int) -> list[int]:
    """Return where to cut an export's records into ``parts`` files.

    Indices into ``ends`` (record boundaries; ``ends[0]`` is the header's end) cutting
    the records into ``parts`` runs of about equal size, each at least one record.
    """
    records = len(ends) - 1
    start, total = ends[0], ends[-1] - ends[0]
    cuts = [0]
    for k in range(1, parts):
        target = start + total * k / parts
        index = cuts[-1] + 1
        while index < records and ends[index] < target:
            index += 1
        index = min(index, records - (parts - k))
        if index > cuts[-1]:
            cuts.append(index)
    cuts.append(records)
    return cuts


def _part_counts(first: int, *, most: int) -> Iterator[int]:
    """How many parts to try splitting into, in order.

    ``first``, doubling while under ``most``, then ``most`` itself (none under two).
    """
    count = first
    while count < most:
        yield count
        count *= 2
    if most >= 2:
        yield most


async def write_export(pages: AsyncIterator[Sequence[JobRecord]], directory: Path, *,
                       basename: str, limit: int, max_parts: int = MAX_PARTS) -> ExportResult:
    """Write the CSV (and, when needed, its compressed parts) under ``directory``.

    ``limit`` is the upload limit in bytes. Raises :class:`ExportTooLarge` when even
    ``max_parts`` compressed parts would not fit.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    encoder = _Encoder()
    header = BOM + encoder.encode(COLUMNS)
    plain = directory / f"{basename}.csv"
    out = await asyncio.to_thread(plain.open, "wb")
    ends = [len(header)]
    try:
        await asyncio.to_thread(out.write, header)
        async for page in pages:
            if page:
                await asyncio.to_thread(_write_page, out, encoder, page, ends)
    finally:
        await asyncio.to_thread(out.close)
    rows = len(ends) - 1
    size = ends[-1]
    if size <= limit:
        return ExportResult((ExportPart(plain, plain.name, size, rows),), rows, size, False)

    whole = directory / f"{basename}.csv.gz"
    gz_size = await asyncio.to_thread(_gzip_ranges, plain, whole, b"", [(0, size)])
    if gz_size <= limit:
        return ExportResult((ExportPart(whole, whole.name, gz_size, rows),), rows, size, True)
    await asyncio.to_thread(whole.unlink)

    first = max(2, math.ceil(gz_size / (limit * 0.9)))
    for count in _part_counts(first, most=min(max_parts, rows)):
        cuts = _split_points(ends, count)
        parts: list[ExportPart] = []
        fits = True
        for number, (first, last) in enumerate(itertools.pairwise(cuts), start=1):
            name = f"{basename}-part{number}of{len(cuts) - 1}.csv.gz"
            path = directory / name
            part_size = await asyncio.to_thread(
                _gzip_ranges, plain, path, header, [(ends[first], ends[last])])
            parts.append(ExportPart(path, name, part_size, last - first))
            if part_size > limit:
                fits = False
                break
        if fits:
            return ExportResult(tuple(parts), rows, size, True)
        for part in parts:
            await asyncio.to_thread(part.path.unlink, True)
    raise ExportTooLarge(lazy(
        "the history is {size} MB of CSV; even compressed and split into {parts} parts it "
        "does not fit the {limit} MB upload limit", size=LocalNumber(size / 1e6, digits=1),
        parts=LocalNumber(max_parts), limit=LocalNumber(limit / 1e6, digits=1)))


async def remove_tree(directory: Path) -> None:
    """Delete an export's working directory (and everything in it) off the event loop."""
    await asyncio.to_thread(shutil.rmtree, directory, True)


__all__ = [
    "COLUMNS",
    "ExportPart",
    "ExportResult",
    "ExportTooLarge",
    "guild_job_pages",
    "iso_utc",
    "job_options",
    "job_row",
    "message_link",
    "neutralise",
    "remove_tree",
    "write_export",
]
