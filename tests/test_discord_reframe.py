"""/reframe, its resolution autocomplete, and the Reframe image message menu."""

from __future__ import annotations

import io
import sys
from typing import Any

import pytest
from PIL import Image

from bot.inputs import RESOLUTIONS
from bot.localserver.app import LocalRunComfyServer
from bot.resolutions import search
from cogs.core.bot import IdeogramBot
from tests.harness import (
    FakeDiscord,
    attachment_option,
    attachment_payload,
    autocomplete,
    chat_input,
    component,
    dispatch,
    eventually,
    message_context,
    message_payload,
    png_bytes,
)
from tests.helpers import wait_delivered

PNG = png_bytes(64, 48)


def image_option(**kwargs: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {"filename": "cat.png", "content_type": "image/png", "data": PNG}
    return attachment_option("image", **{**defaults, **kwargs})


async def test_reframe_full_life(fake: FakeDiscord, bot: IdeogramBot,
                                 local_server: LocalRunComfyServer) -> None:
    option = image_option()
    payload = chat_input("reframe", [option, {"name": "resolution", "type": 3,
                                              "value": "1536:640 (12:5)"},
                                     {"name": "rendering_speed", "type": 3, "value": "TURBO"},
                                     {"name": "color_palette", "type": 3, "value": "PASTEL"},
                                     {"name": "seed", "type": 4, "value": 99}])
    await dispatch(bot, payload)
    job = await wait_delivered(bot)
    assert fake.interaction_callbacks(payload["id"]) == [{"type": 5}]
    sent = local_server.state.jobs[job.request_id or ""].inputs
    attachment = next(iter(payload["data"]["resolved"]["attachments"].values()))
    assert sent == {"image": attachment["url"], "resolution": "1536:640 (12:5)",
                    "rendering_speed": "TURBO", "color_palette": {"name": "PASTEL"},
                    "seed": 99}
    final = [e for e in fake.edits_of_original(payload["token"]) if e.files][-1]
    with Image.open(io.BytesIO(final.files[0].data)) as img:
        assert img.size == (1536, 640)
    fields = {f["name"]: f["value"] for f in final.json["embeds"][0]["fields"]}
    assert fields["Resolution"] == "1536:640 (12:5)" and fields["Rendering speed"] == "TURBO"
    assert fields["Colour palette"] == "PASTEL" and fields["Seed"] == "`99`"


async def test_reframe_defaults(fake: FakeDiscord, bot: IdeogramBot,
                                local_server: LocalRunComfyServer) -> None:
    payload = chat_input("reframe", [image_option(filename="photo.JPG", content_type=None)])
    await dispatch(bot, payload)
    job = await wait_delivered(bot)
    sent = local_server.state.jobs[job.request_id or ""].inputs
    assert sent["resolution"] == "1152:864 (4:3)" and sent["rendering_speed"] == "BALANCED"
    assert "color_palette" not in sent and 0 <= sent["seed"] <= 2147483647


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"filename": "anim.gif", "content_type": "image/gif"}, "PNG, JPEG or WebP"),
        ({"filename": "doc.pdf", "content_type": "application/pdf"}, "PNG, JPEG or WebP"),
        ({"filename": "notes.txt", "content_type": None}, "PNG, JPEG or WebP"),
        ({"size": 50 * 1024 * 1024 + 1}, "up to 50 MB"),
    ],
)
async def test_bad_attachments_are_refused_privately(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        kwargs: dict[str, Any], expected: str) -> None:
    payload = chat_input("reframe", [image_option(**kwargs)])
    await dispatch(bot, payload)
    [callback] = fake.interaction_callbacks(payload["id"])
    assert callback["type"] == 4 and callback["data"]["flags"] & 64
    assert expected in callback["data"]["content"]
    assert local_server.state.submit_count == 0


@pytest.mark.parametrize("value", ["999:999", "1152:864 (4:4)", "wide", "x" * 300])
async def test_resolutions_outside_the_list_are_refused(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        value: str) -> None:
    payload = chat_input("reframe", [image_option(),
                                     {"name": "resolution", "type": 3, "value": value}])
    await dispatch(bot, payload)
    [callback] = fake.interaction_callbacks(payload["id"])
    assert callback["type"] == 4 and callback["data"]["flags"] & 64
    assert "not a resolution I know" in callback["data"]["content"]
    assert local_server.state.submit_count == 0


@pytest.mark.parametrize(
    ("typed", "check"),
    [
        ("", lambda vs: vs[0] == "1152:864 (4:3)"),
        ("16:9", lambda vs: vs and all(abs(int(v.split(":")[0]) / int(v.split(":")[1]
                                                                         .split()[0]) - 16 / 9)
                                       < 0.12 for v in vs)),
        ("1536", lambda vs: vs and all("1536" in v for v in vs)),
        ("wide", lambda vs: len(vs) == 25),
        ("landscape", lambda vs: all(int(v.split(":")[0]) > int(v.split(":")[1].split()[0])
                                     for v in vs)),
        ("portrait", lambda vs: all(int(v.split(":")[0]) < int(v.split(":")[1].split()[0])
                                    for v in vs)),
        ("square", lambda vs: vs[0] == "1024:1024 (1:1)"),
    ],
)
async def test_resolution_autocomplete(fake: FakeDiscord, bot: IdeogramBot, typed: str,
                                       check: Any) -> None:
    payload = autocomplete("reframe", [{"name": "resolution", "type": 3, "value": typed}],
                           focused="resolution")
    await dispatch(bot, payload)
    [callback] = fake.interaction_callbacks(payload["id"])
    assert callback["type"] == 8
    choices = callback["data"]["choices"]
    values = [c["value"] for c in choices]
    assert 0 < len(values) <= 25
    assert all(v in RESOLUTIONS for v in values)
    assert all(1 <= len(c["name"]) <= 100 for c in choices)
    assert check(values), values
    assert values == search(typed)


async def test_context_menu_without_image_says_so(fake: FakeDiscord, bot: IdeogramBot) -> None:
    payload = message_context("Reframe image", message_payload("just words"))
    await dispatch(bot, payload)
    [callback] = fake.interaction_callbacks(payload["id"])
    assert callback["type"] == 4 and callback["data"]["flags"] & 64
    assert "no attached image" in callback["data"]["content"]


async def test_context_menu_picks_image_and_resolution(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    first = attachment_payload("one.png", data=PNG, content_type="image/png")
    second = attachment_payload("two.webp", data=PNG, content_type="image/webp")
    text = attachment_payload("readme.txt", data=b"hi", content_type="text/plain")
    target = message_payload("two pictures", attachments=[first, text, second])
    payload = message_context("Reframe image", target)
    await dispatch(bot, payload)
    [callback] = fake.interaction_callbacks(payload["id"])
    assert callback["type"] == 4 and callback["data"]["flags"] & 64
    rows = callback["data"]["components"]
    image_select, resolution_select = rows[0]["components"][0], rows[1]["components"][0]
    assert [o["label"] for o in image_select["options"]] == ["one.png", "two.webp"]
    assert resolution_select["options"][0]["value"] == "1152:864 (4:3)"
    assert len(resolution_select["options"]) <= 25

    picker_message = fake.original_message(payload["token"])
    assert picker_message is not None
    pick_image = component("reframe:image", component_type=3, values=["1"],
                           message=picker_message)
    await dispatch(bot, pick_image)
    pick_size = component("reframe:resolution", component_type=3,
                          values=["704:1408 (1:2)"], message=picker_message)
    await dispatch(bot, pick_size)
    assert fake.interaction_callbacks(pick_size["id"]) == [{"type": 5}]
    job = await wait_delivered(bot)
    sent = local_server.state.jobs[job.request_id or ""].inputs
    assert sent["image"] == second["url"] and sent["resolution"] == "704:1408 (1:2)"


async def test_an_unused_picker_says_it_expired(fake: FakeDiscord, bot: IdeogramBot,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # The extension's module as the bot loaded it (discord.py executes it afresh).
    loaded = sys.modules[type(bot.get_cog("ReframeCog")).__module__]
    monkeypatch.setattr(loaded, "PICKER_TIMEOUT", 0.2)
    target = message_payload(attachments=[attachment_payload("one.png", data=PNG)])
    payload = message_context("Reframe image", target, locale="it")
    await dispatch(bot, payload)
    assert fake.original_message(payload["token"])["components"]  # type: ignore[index]

    async def expired() -> dict[str, Any] | None:
        shown = fake.original_message(payload["token"])
        return shown if shown is not None and not shown.get("components") else None

    shown = await eventually(expired, timeout=3.0, what="the picker marked expired")
    assert shown["content"] == "Questo selettore è scaduto: usa di nuovo Reinquadra."
