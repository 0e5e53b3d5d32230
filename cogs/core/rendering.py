"""How a job looks in Discord at each stage: message text and embeds, within Discord's limits."""

from __future__ import annotations

import json
import re
import time
from typing import Any, Final

import discord

from bot.i18n import N_, _, format_cost, format_number, ngettext
from bot.ideogram_api import image_request
from bot.inputs import (
    GENERATE_MODEL,
    IDEOGRAM_GENERATE_MODEL,
    REFRAME_MODEL,
    IdeogramGenerateInputs,
    InvalidInput,
    inputs_from_payload,
)
from bot.job_errors import render_job_error
from bot.jobs import JobRecord, JobStatus
from cogs.core.choices import RENDERING_SPEED_CHOICES, STYLE_CHOICES
from cogs.core.status_names import status_name

MODEL_TITLES = {
    GENERATE_MODEL: "Ideogram 2.0",
    REFRAME_MODEL: "Ideogram 3.0 Reframe",
    IDEOGRAM_GENERATE_MODEL: "Ideogram",
}
#: The synchronous API's models (``inputs["model"]``), by their public names.
IDEOGRAM_MODEL_TITLES = {
    "V_1": "Ideogram 1.0",
    "V_1_TURBO": "Ideogram 1.0 Turbo",
    "V_2": "Ideogram 2.0",
    "V_2_TURBO": "Ideogram 2.0 Turbo",
}
TEXT_TO_IMAGE_MODELS = (GENERATE_MODEL, IDEOGRAM_GENERATE_MODEL)
COLOUR_WORKING = discord.Colour.blurple()
COLOUR_DONE = discord.Colour.green()
COLOUR_FAILED = discord.Colour.red()
COLOUR_CANCELLED = discord.Colour.light_grey()
LOCAL_PROVIDER_NOTE = N_("local preview provider")
#: Option values shown as their choice's name reads in the reader's language (the
#: choices' own catalog entries).
_WORDED_VALUES: Final = frozenset(str(choice.value) for choice in
                                  (*STYLE_CHOICES, *RENDERING_SPEED_CHOICES))


#: Characters Discord's markdown gives a meaning to (links, emphasis, code, spoilers, quotes,
#: headings, lists, mentions, timestamps, emoji). A backslash before any of them shows the
#: character itself, so escaping them all changes nothing a reader sees.
_MARKDOWN: Final = re.compile(r"([\\*_~`|>\[\]()#<@:!-])")
_TOKEN: Final = re.compile(r"\\.|.", re.DOTALL)


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def user_text(text: object, limit: int) -> str:
    """Text a member (or a provider) wrote, safe to put in a message or an embed: every
    markdown character escaped, so ``[free nitro](https://evil.example)`` shows as typed and
    is no link, then clipped to ``limit`` characters without splitting an escape."""
    escaped = _MARKDOWN.sub(r"\\\1", str(text))
    if len(escaped) <= limit:
        return escaped
    kept: list[str] = []
    size = 0
    for token in _TOKEN.finditer(escaped):
        piece = token.group()
        if size + len(piece) > limit - 1:
            break
        kept.append(piece)
        size += len(piece)
    return "".join(kept) + "…"


#: What could end or break a markdown link's target: written percent-encoded instead.
_LINK_BREAKERS: Final = re.compile(r"[\s()<>\[\]\\`]")


def link_target(url: str) -> str:
    """A URL from a provider, safe as the target of ``[text](target)``: nothing in it can
    close the link and write markdown of its own after it."""
    return _LINK_BREAKERS.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), url)


def link_instead(problem: str, url: str) -> str:
    """The line a result shown without its image carries: why, and a link to the image."""
    return _("{problem} Here is a link instead: [open it]({url})", problem=problem,
             url=link_target(url))


def discord_timestamp(when: float, style: str = "R") -> str:
    """A Discord timestamp that every client renders (and keeps current) in its own zone."""
    return f"<t:{int(when)}:{style}>"


def model_title(job: JobRecord) -> str:
    """"Ideogram 2.0 Turbo", "Ideogram 3.0 Reframe"…"""
    if job.model == IDEOGRAM_GENERATE_MODEL:
        return IDEOGRAM_MODEL_TITLES.get(str(job.inputs.get("model")), "Ideogram")
    return MODEL_TITLES.get(job.model, job.model)


def status_line(job: JobRecord, *, eta: float | None = None, now: float | None = None) -> str:
    """The reply's first line for a job's stage, in the reader's language."""
    now = time.time() if now is None else now
    who = f"<@{job.user_id}>"
    expected = discord_timestamp(eta) if eta and eta > now else None
    if job.status is JobStatus.PENDING:
        return _("⏳ Sending {member}'s request…", member=who)
    if job.status is JobStatus.QUEUED:
        if job.queue_position is not None:
            place = format_number(job.queue_position)
            if expected:
                return _("⏳ Queued — place **{place}** in line · expected {time}",
                         place=place, time=expected)
            return _("⏳ Queued — place **{place}** in line", place=place)
        if expected:
            return _("⏳ Queued — waiting in line · expected {time}", time=expected)
        return _("⏳ Queued — waiting in line")
    if job.status is JobStatus.RUNNING:
        started = discord_timestamp(job.started_at or now)
        if expected:
            return _("🎨 Making the image — started {started} · expected {time}",
                     started=started, time=expected)
        return _("🎨 Making the image — started {started}", started=started)
    if job.status is JobStatus.COMPLETED:
        return _("✅ Done for {member}", member=who)
    if job.status is JobStatus.CANCELLED:
        return _("🚫 Cancelled — {reason}",
                 reason=user_text(render_job_error(job.error, N_("cancelled")), 300))
    return _("❌ Failed — {reason}",
             reason=user_text(render_job_error(job.error), 400))


def _duration(seconds: float) -> str:
    if seconds < 60:
        return _("{seconds} s", seconds=format_number(seconds, digits=1))
    minutes, secs = divmod(int(seconds), 60)
    return _("{minutes} min {seconds} s", minutes=format_number(minutes),
             seconds=format_number(secs))


def _value(value: object) -> str:
    """An option's value; a worded choice ("realistic", "BALANCED") as its choice reads in
    the reader's language."""
    text = str(value)
    return _(text) if text in _WORDED_VALUES else text


def _on_off(value: object) -> str:
    return _("on") if value else _("off")


def job_embed(job: JobRecord, *, image_filename: str | None = None,
              footer_extra: str | None = None) -> discord.Embed:
    """Prompt and parameters; with ``image_filename`` the attached image shows in the embed."""
    colour = {
        JobStatus.COMPLETED: COLOUR_DONE,
        JobStatus.FAILED: COLOUR_FAILED,
        JobStatus.CANCELLED: COLOUR_CANCELLED,
    }.get(job.status, COLOUR_WORKING)
    embed = discord.Embed(title=model_title(job), colour=colour)
    inputs = job.inputs
    if job.model in TEXT_TO_IMAGE_MODELS:
        embed.description = user_text(inputs.get("prompt", ""), 4000)
        embed.add_field(name=_("Style"), value=_value(inputs.get("style", "auto")))
        embed.add_field(name=_("Aspect ratio"), value=str(inputs.get("aspect_ratio", "1:1")))
        embed.add_field(name=_("Magic prompt"),
                        value=_on_off(inputs.get("expand_prompt", True)))
        if inputs.get("color_palette"):
            embed.add_field(name=_("Colour palette"), value=str(inputs["color_palette"]))
        if inputs.get("negative_prompt"):
            embed.add_field(name=_("Negative prompt"),
                            value=user_text(inputs["negative_prompt"], 1024), inline=False)
    else:
        embed.description = _("Reframed to **{resolution}**",
                              resolution=inputs.get("resolution", "?"))
        embed.add_field(name=_("Resolution"), value=str(inputs.get("resolution", "?")))
        embed.add_field(name=_("Rendering speed"),
                        value=_value(inputs.get("rendering_speed", "?")))
        palette = inputs.get("color_palette")
        if isinstance(palette, dict) and palette.get("name"):
            embed.add_field(name=_("Colour palette"), value=str(palette["name"]))
    embed.add_field(name=_("Seed"), value=f"`{job.seed}`")
    if job.preset:
        embed.add_field(name=_("Preset"), value=user_text(job.preset, 100))
    if job.status is JobStatus.COMPLETED and job.finished_at and job.submitted_at:
        embed.add_field(name=_("Time taken"),
                        value=_duration(job.finished_at - job.submitted_at))
    footer = [_("Job {job}", job=job.short_id), job.model]
    if job.provider == "local":
        footer.append(_(LOCAL_PROVIDER_NOTE))
    if footer_extra:
        footer.append(footer_extra)
    embed.set_footer(text=truncate(" · ".join(footer), 2048))
    if image_filename:
        embed.set_image(url=f"attachment://{image_filename}")
    return embed


def sent_parameters(job: JobRecord) -> dict[str, Any]:
    """What the provider was sent: the stored payload itself for RunComfy's models; for the
    Ideogram-compatible synchronous API, the request built from it (its own names and
    values: ``magic_prompt_option``, ``ASPECT_1_1``, …)."""
    if job.model == IDEOGRAM_GENERATE_MODEL:
        try:
            inputs = inputs_from_payload(job.model, job.inputs)
            if isinstance(inputs, IdeogramGenerateInputs):
                sent: dict[str, Any] = image_request(inputs)["image_request"]
                return sent
        except (InvalidInput, KeyError, TypeError, ValueError):
            pass  # an old or odd row: show it as stored
    return job.inputs


def _parameter(value: object) -> str:
    """A parameter as it was sent (JSON: ``true``, ``null``, ``{"name": "EMBER"}``), text
    as it is, unquoted."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def info_embed(job: JobRecord) -> discord.Embed:
    """Everything that was sent, for the Info button."""
    embed = discord.Embed(title=_("Job {job}", job=job.short_id), colour=COLOUR_WORKING)
    lines = [f"**{key}**: {user_text(_parameter(value), 900)}"
             for key, value in sent_parameters(job).items()]
    embed.description = truncate("\n".join(lines), 4000)
    embed.add_field(name=_("Model"), value=job.model, inline=False)
    if job.revised_prompt:
        embed.add_field(name=_("Prompt as the image service used it"),
                        value=user_text(job.revised_prompt, 1024), inline=False)
    embed.add_field(name=_("Provider"), value=job.provider)
    embed.add_field(name=_("Status"), value=status_name(job.status))
    embed.add_field(name=_("Seed"), value=f"`{job.seed}`")
    if job.preset:
        embed.add_field(name=_("Preset"), value=user_text(job.preset, 100))
    if job.batch_id is not None and job.batch_index is not None:
        embed.add_field(name=_("Batch"), value=_(
            "image {number} of {total} (`{batch}`)", number=format_number(job.batch_index + 1),
            total=format_number(job.batch_size or 0), batch=job.batch_id[:8]))
    embed.add_field(name=_("Job id"), value=f"`{job.id}`", inline=False)
    if job.request_id:
        embed.add_field(name=_("Image service request ID"), value=f"`{job.request_id}`",
                        inline=False)
    timings = [_("requested {time}", time=discord_timestamp(job.created_at, 'T'))]
    if job.submitted_at and job.started_at:
        timings.append(_("queued {duration}",
                         duration=_duration(max(0.0, job.started_at - job.submitted_at))))
    if job.started_at and job.finished_at:
        timings.append(_("ran {duration}",
                         duration=_duration(max(0.0, job.finished_at - job.started_at))))
    embed.add_field(name=_("Timings"), value=" · ".join(timings), inline=False)
    if job.cost is not None:
        embed.add_field(name=_("Cost"), value=format_cost(job.cost, digits=3))
    if job.error:
        embed.add_field(name=_("Error"), value=user_text(render_job_error(job.error), 1024),
                        inline=False)
    return embed


def batch_status_line(jobs: list[JobRecord]) -> str:
    """"⏳ 2 of 4 done" while a batch runs; what came of it once all have ended."""
    who = f"<@{jobs[0].user_id}>"
    total = len(jobs)
    done = sum(job.status is JobStatus.COMPLETED for job in jobs)
    ended = sum(job.status.terminal for job in jobs)
    counts = {"total": format_number(total), "member": who}
    if ended < total:
        running = sum(job.status is JobStatus.RUNNING for job in jobs)
        if running:
            making = ngettext("{n} being made", "{n} being made", running)
            return ngettext("⏳ {n} of {total} done for {member} · {making}",
                            "⏳ {n} of {total} done for {member} · {making}", done,
                            making=making, **counts)
        return ngettext("⏳ {n} of {total} done for {member}",
                        "⏳ {n} of {total} done for {member}", done, **counts)
    if done:
        line = ngettext("✅ {n} of {total} done for {member}",
                        "✅ {n} of {total} done for {member}", done, **counts)
        cancelled = sum(job.status is JobStatus.CANCELLED for job in jobs)
        failed = total - done - cancelled
        # Translators: after "✅ 1 of 4 done for @member ·": images of the batch (feminine
        # in pt-BR and it, as "imagem", "immagine").
        others = ([ngettext("{n} failed", "{n} failed", failed)] if failed else []) + (
            [ngettext("{n} cancelled", "{n} cancelled", cancelled)] if cancelled else [])
        return " · ".join([line, ", ".join(others)]) if others else line
    first_error = next((job.error for job in jobs if job.error), None)
    reason = user_text(render_job_error(first_error), 300)
    if all(job.status is JobStatus.CANCELLED for job in jobs):
        return _("🚫 Cancelled — {reason}", reason=reason)
    return ngettext("❌ The image could not be made — {reason}",
                    "❌ None of the {n} images could be made — {reason}", total, reason=reason)


def batch_embed(jobs: list[JobRecord], *, image_filename: str | None = None,
                footer_extra: str | None = None) -> discord.Embed:
    """The first job's embed, with every seed of the batch and the batch's numbering."""
    first = jobs[0]
    done = all(job.status.terminal for job in jobs)
    shown = first.evolve(status=(JobStatus.COMPLETED if done and any(
        job.status is JobStatus.COMPLETED for job in jobs) else first.status))
    embed = job_embed(shown, image_filename=image_filename, footer_extra=footer_extra)
    seeds = ", ".join(f"{n}: `{job.seed}`" for n, job in enumerate(jobs, start=1))
    seed_name, time_name = _("Seed"), _("Time taken")
    for index, field in reversed(list(enumerate(embed.fields))):
        if field.name == seed_name:
            embed.set_field_at(index, name=_("Seeds"), value=truncate(seeds, 1024),
                               inline=False)
        elif field.name == time_name:
            embed.remove_field(index)
    footer = [ngettext("Batch {batch} · {n} image", "Batch {batch} · {n} images", len(jobs),
                       batch=str(first.batch_id)[:8]), first.model]
    if first.provider == "local":
        footer.append(_(LOCAL_PROVIDER_NOTE))
    if footer_extra:
        footer.append(footer_extra)
    embed.set_footer(text=truncate(" · ".join(footer), 2048))
    return embed
