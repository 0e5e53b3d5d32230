"""/reframe, its resolution autocomplete, and the Reframe image message menu."""

from __future__ import annotations

import io
from pathlib import Path
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
    message_context,
    message_payload,
    png_bytes,
)
from tests.helpers import ideogram_bot, wait_delivered

PNG = png_bytes(64, 48)


def image_option(**kwargs: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {"filename": "cat.png", "content_type": "image/png", "data": PNG}
    return attachment_option("image", **{**defaults, **kwargs})


async def pick_size(fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
                    token: str, resolution: str) -> dict[str, Any]:
    """Pick ``resolution`` on the picker shown under ``token``: the job starts and is
    delivered; what the provider was sent."""
    message = fake.original_message(token)
    assert message is not None
    pick = component("reframe:resolution", component_type=3, values=[resolution],
                     message=message)
    await dispatch(bot, pick)
    assert fake.interaction_callbacks(pick["id"]) == [{"type": 5}]
    job = await wait_delivered(bot)
    return local_server.state.jobs[job.request_id or ""].inputs


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

    shown = [(e["title"], e["thumbnail"]["url"]) for e in callback["data"]["embeds"]]
    assert shown == [("one.png", first["url"]), ("two.webp", second["url"])]

    picker_message = fake.original_message(payload["token"])
    assert picker_message is not None
    pick_image = component("reframe:image", component_type=3, values=["1"],
                           message=picker_message)
    await dispatch(bot, pick_image)
    [update] = fake.interaction_callbacks(pick_image["id"])
    assert update["type"] == 7  # the picker shows the second image as chosen
    [image_menu] = update["data"]["components"][0]["components"]
    assert [o.get("default", False) for o in image_menu["options"]] == [False, True]
    assert [e.get("color") is not None for e in update["data"]["embeds"]] == [False, True]
    sent = await pick_size(fake, bot, local_server, payload["token"], "704:1408 (1:2)")
    assert sent["image"] == second["url"] and sent["resolution"] == "704:1408 (1:2)"


async def test_a_picker_still_works_after_a_restart(
        fake: FakeDiscord, local_server: LocalRunComfyServer, db: Path) -> None:
    first = attachment_payload("one.png", data=PNG)
    second = attachment_payload("two.png", data=PNG)
    payload = message_context("Reframe image", message_payload(attachments=[first, second]))
    async with ideogram_bot(fake, local_server, db) as before:
        await dispatch(before, payload)
        picker_message = fake.original_message(payload["token"])
        assert picker_message is not None
        pick_image = component("reframe:image", component_type=3, values=["1"],
                               message=picker_message)
        await dispatch(before, pick_image)
    async with ideogram_bot(fake, local_server, db) as after:  # the same picker, a new process
        sent = await pick_size(fake, after, local_server, payload["token"], "1024:1024 (1:1)")
    assert sent["image"] == second["url"] and sent["resolution"] == "1024:1024 (1:1)"


async def test_a_picker_from_an_older_version_says_to_start_again(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer) -> None:
    # Pickers once kept their images in memory only: their message holds no embeds.
    pick = component("reframe:resolution", component_type=3, values=["1024:1024 (1:1)"],
                     locale="it")
    await dispatch(bot, pick)
    [callback] = fake.interaction_callbacks(pick["id"])
    assert callback["type"] == 4 and callback["data"]["flags"] & 64
    assert callback["data"]["content"] == "Questo selettore è scaduto: usa di nuovo Reinquadra."
    assert local_server.state.submit_count == 0


@pytest.mark.parametrize("forged", ["99", "²", "-1", "1" * 100, ""])
async def test_forged_picker_values_get_a_clean_answer(
        fake: FakeDiscord, bot: IdeogramBot, local_server: LocalRunComfyServer,
        forged: str) -> None:
    first = attachment_payload("one.png", data=PNG)
    second = attachment_payload("two.png", data=PNG)
    payload = message_context("Reframe image", message_payload(attachments=[first, second]))
    await dispatch(bot, payload)
    picker_message = fake.original_message(payload["token"])
    assert picker_message is not None
    pick_image = component("reframe:image", component_type=3, values=[forged],
                           message=picker_message)
    await dispatch(bot, pick_image)
    [update] = fake.interaction_callbacks(pick_image["id"])  # the first image, chosen
    [image_menu] = update["data"]["components"][0]["components"]
    assert [o.get("default", False) for o in image_menu["options"]] == [True, False]
    pick_size = component("reframe:resolution", component_type=3, values=[forged or "9:9"],
                          message=fake.original_message(payload["token"]))
    await dispatch(bot, pick_size)
    [refusal] = fake.interaction_callbacks(pick_size["id"])
    assert refusal["type"] == 4 and refusal["data"]["flags"] & 64
    assert "not a resolution I know" in refusal["data"]["content"]
    assert local_server.state.submit_count == 0 and not fake.violations


async def test_a_forged_picker_button_gets_an_answer(fake: FakeDiscord, bot: IdeogramBot) -> None:
    click = component("reframe:image")  # a button, where the picker has a menu
    await dispatch(bot, click)
    [callback] = fake.interaction_callbacks(click["id"])
    assert callback["type"] == 4 and callback["data"]["flags"] & 64
    assert "use Reframe again" in callback["data"]["content"]
