"""Proves the Discord test harness (tests/harness/) with a throwaway bot defined only here."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.ext import commands
from discord.http import Route

from tests.harness import (
    FakeDiscord,
    HarnessDispatchError,
    action_row,
    attachment_option,
    attachment_payload,
    autocomplete,
    button,
    chat_input,
    component,
    dispatch,
    ids,
    message_context,
    message_payload,
    opt,
    png_bytes,
    running_bot,
    start_dispatch,
    user_option,
    user_payload,
)

PNG = png_bytes(4, 3)
RESOLUTIONS = ["1024x576 (16:9)", "1280x720 (16:9)", "1024x1024 (1:1)", "768x1024 (3:4)"]


# ------------------------------------------------------------ throwaway bot


class PersistentView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Ping", custom_id="persist:ping")
    async def ping(self, interaction: discord.Interaction, _: discord.ui.Button[Any]) -> None:
        await interaction.response.edit_message(
            content=f"pong from {interaction.user.name}", view=None
        )


class CancelButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"job:(?P<id>[0-9a-f]+):cancel"
):
    def __init__(self, job_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Cancel", style=discord.ButtonStyle.danger, custom_id=f"job:{job_id}:cancel"
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: Any, /
    ) -> CancelButton:
        return cls(match["id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"cancelled {self.job_id}", ephemeral=True)


class HarnessBot(commands.Bot):
    def __init__(self) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=discord.Intents.default(),
            help_command=None,
        )
        self.seen: dict[str, Any] = {}
        self.background: set[asyncio.Task[None]] = set()

    async def setup_hook(self) -> None:
        self.seen["setup_hook"] = True
        self.add_view(PersistentView())
        self.add_dynamic_items(CancelButton)
        _install_commands(self)


def _install_commands(bot: HarnessBot) -> None:
    tree = bot.tree

    @tree.command(description="Draw something")
    async def draw(interaction: discord.Interaction, prompt: str) -> None:
        await interaction.response.defer()
        embed = discord.Embed(title="Result", description=prompt)
        embed.add_field(name="Seed", value="42").set_image(url="attachment://result.png")
        view = discord.ui.View(timeout=None)
        view.add_item(discord.ui.Button(label="Reroll", custom_id="result:reroll"))
        view.add_item(CancelButton("beef"))
        bot.seen["draw"] = await interaction.edit_original_response(
            content="done",
            attachments=[discord.File(io.BytesIO(PNG), filename="result.png")],
            embed=embed,
            view=view,
        )

    @tree.command(description="Only you can see this")
    async def secret(interaction: discord.Interaction) -> None:
        response = await interaction.response.send_message("only you", ephemeral=True)
        bot.seen["secret_ephemeral"] = response.is_ephemeral()

    @tree.command(description="Pick a resolution")
    async def pick(interaction: discord.Interaction, resolution: str) -> None:
        await interaction.response.send_message(resolution)

    @pick.autocomplete("resolution")
    async def pick_autocomplete(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=r, value=r) for r in RESOLUTIONS if current in r][:25]

    @tree.context_menu(name="Inspect image")
    async def inspect(interaction: discord.Interaction, message: discord.Message) -> None:
        att = message.attachments[0]
        data = await att.read()
        digest = hashlib.sha256(data).hexdigest()[:12]
        await interaction.response.send_message(
            f"{att.filename} {att.content_type} {len(data)} {digest}", ephemeral=True
        )

    @tree.command(description="Finish after the token expired")
    async def finish(interaction: discord.Interaction) -> None:
        response = await interaction.response.defer()
        assert response is not None and response.message_id is not None
        try:
            await interaction.edit_original_response(content="result")
        except discord.HTTPException as exc:
            bot.seen["edit_error"] = exc
            assert isinstance(interaction.channel, discord.TextChannel)
            partial = interaction.channel.get_partial_message(response.message_id)
            bot.seen["fallback"] = await partial.edit(content="result (through the channel)")

    @tree.command(description="Who am I")
    async def whoami(
        interaction: discord.Interaction, member: discord.Member | None = None
    ) -> None:
        target = member or interaction.user
        await interaction.response.send_message(f"{target.name}", ephemeral=True)

    @tree.command(description="Sends too many embed fields")
    async def toolong(interaction: discord.Interaction) -> None:
        embed = discord.Embed(title="x")
        for i in range(26):
            embed.add_field(name=f"f{i}", value="v")
        try:
            await interaction.response.send_message(embed=embed)
        except discord.HTTPException as exc:
            bot.seen["limit_error"] = exc

    @tree.command(description="Acknowledges too late")
    async def slow(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.15)
        await interaction.response.defer()

    @tree.command(description="Defers, then works in the background")
    async def later(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True)

        async def work() -> None:
            await asyncio.sleep(0.05)
            await interaction.followup.send("background result", ephemeral=False)

        task = asyncio.create_task(work())
        bot.background.add(task)
        task.add_done_callback(bot.background.discard)


# ----------------------------------------------------------------- fixtures


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[HarnessBot]:
    async with running_bot(fake, HarnessBot()) as b:
        yield b


# -------------------------------------------------------------------- tests


async def test_login_setup_hook_cache_and_sync(fake: FakeDiscord, bot: HarnessBot) -> None:
    assert fake.api_base == Route.BASE and Route.BASE.startswith("http://127.0.0.1:")
    assert bot.seen["setup_hook"] is True
    assert bot.user is not None and bot.user.id == ids.BOT_USER_ID
    assert bot.application_id == ids.APPLICATION_ID
    assert bot.is_ready()
    assert [r.path for r in fake.requests[:2]] == ["/users/@me", "/oauth2/applications/@me"]
    assert all(r.auth_scheme == "Bot" for r in fake.requests)
    assert all("Authorization" not in r.headers for r in fake.requests)
    channel = bot.get_channel(ids.CHANNEL_ID)
    assert isinstance(channel, discord.TextChannel) and channel.guild.id == ids.GUILD_ID
    fetched = await bot.fetch_channel(ids.CHANNEL_ID)
    assert fetched.id == ids.CHANNEL_ID

    synced = await bot.tree.sync()
    put = fake.calls("PUT", rf"^/applications/{ids.APPLICATION_ID}/commands$")
    assert len(put) == 1
    names = {c["name"] for c in put[0].json}
    assert {"draw", "secret", "pick", "Inspect image"} <= names
    assert all(c.id for c in synced)


async def test_defer_then_edit_original_with_file_embed_and_view(
    fake: FakeDiscord, bot: HarnessBot
) -> None:
    payload = chat_input("draw", [opt("prompt", "a cat")])
    interaction = await dispatch(bot, payload)

    callbacks = fake.interaction_callbacks(payload["id"])
    assert callbacks == [{"type": 5}]
    edits = fake.edits_of_original(payload["token"])
    assert len(edits) == 1
    edit = edits[0]
    callback_req = fake.calls("POST", r"/callback$")[0]
    assert callback_req.index < edit.index
    assert edit.auth_scheme is None  # interaction routes use the token, not the bot token
    assert edit.is_multipart and len(edit.files) == 1
    assert edit.files[0].filename == "result.png"
    assert edit.files[0].data == PNG
    body = edit.json
    assert body["content"] == "done"
    embed = body["embeds"][0]
    assert embed["title"] == "Result" and embed["description"] == "a cat"
    assert embed["fields"] == [{"name": "Seed", "value": "42", "inline": True}]
    custom_ids = [c["custom_id"] for row in body["components"] for c in row["components"]]
    assert custom_ids == ["result:reroll", "job:beef:cancel"]

    message = bot.seen["draw"]
    assert isinstance(message, discord.InteractionMessage)
    assert message.content == "done"
    assert message.attachments[0].filename == "result.png"
    assert await message.attachments[0].read() == PNG
    assert message.embeds[0].image.url == message.attachments[0].url
    assert not message.flags.ephemeral and not message.flags.loading
    stored = fake.original_message(payload["token"])
    assert stored is not None and stored["id"] == str(message.id)
    assert stored["interaction_metadata"]["user"]["id"] == str(ids.USER_ID)
    assert interaction.response.type is discord.InteractionResponseType.deferred_channel_message


async def test_ephemeral_send_message(fake: FakeDiscord, bot: HarnessBot) -> None:
    payload = chat_input("secret")
    await dispatch(bot, payload)
    [callback] = fake.interaction_callbacks(payload["id"])
    assert callback["type"] == 4
    assert callback["data"]["flags"] & 64
    assert callback["data"]["content"] == "only you"
    assert bot.seen["secret_ephemeral"] is True


async def test_autocomplete(fake: FakeDiscord, bot: HarnessBot) -> None:
    payload = autocomplete("pick", {"resolution": "16:9"}, focused="resolution")
    await dispatch(bot, payload)
    [callback] = fake.interaction_callbacks(payload["id"])
    assert callback["type"] == 8
    assert [c["value"] for c in callback["data"]["choices"]] == RESOLUTIONS[:2]


async def test_persistent_view_button(fake: FakeDiscord, bot: HarnessBot) -> None:
    message = message_payload(
        "ping me",
        author=user_payload(ids.BOT_USER_ID),
        components=[action_row(button("persist:ping", label="Ping"))],
    )
    payload = component("persist:ping", message=message, user_id=ids.OTHER_USER_ID)
    await dispatch(bot, payload)  # returns once the view callback has finished
    [callback] = fake.interaction_callbacks(payload["id"])
    assert callback["type"] == 7
    assert callback["data"]["content"] == "pong from bob"
    assert callback["data"]["components"] == []
    stored = fake.message(message["id"])
    assert stored is not None and stored["content"] == "pong from bob"


async def test_dynamic_item_button(fake: FakeDiscord, bot: HarnessBot) -> None:
    payload = component("job:abc123:cancel")
    await dispatch(bot, payload)
    [callback] = fake.interaction_callbacks(payload["id"])
    assert callback["type"] == 4
    assert callback["data"]["content"] == "cancelled abc123"
    assert callback["data"]["flags"] & 64


async def test_unhandled_component_is_reported(bot: HarnessBot) -> None:
    with pytest.raises(AssertionError, match="nobody:home"):
        await dispatch(bot, component("nobody:home"))


async def test_message_context_menu_reads_attachment(fake: FakeDiscord, bot: HarnessBot) -> None:
    target = message_payload(
        "look", attachments=[attachment_payload("cat.png", data=PNG, content_type="image/png")]
    )
    payload = message_context("Inspect image", target)
    await dispatch(bot, payload)
    [callback] = fake.interaction_callbacks(payload["id"])
    digest = hashlib.sha256(PNG).hexdigest()[:12]
    assert callback["type"] == 4
    assert callback["data"]["content"] == f"cat.png image/png {len(PNG)} {digest}"
    assert fake.calls("GET", r"^/attachments/")[0].status == 200


async def test_expired_token_then_channel_edit(fake: FakeDiscord, bot: HarnessBot) -> None:
    fake.fail_next("PATCH", r"/messages/@original$", status=401)
    payload = chat_input("finish")
    await dispatch(bot, payload)

    error = bot.seen["edit_error"]
    assert isinstance(error, discord.HTTPException)
    assert error.status == 401 and error.code == 50027
    [callback] = fake.interaction_callbacks(payload["id"])
    assert callback["type"] == 5
    mid = int(fake.calls("POST", r"/callback$")[0].response["interaction"]["response_message_id"])
    [patch] = fake.calls("PATCH", rf"^/channels/{ids.CHANNEL_ID}/messages/{mid}$")
    assert patch.auth_scheme == "Bot"
    assert patch.json["content"] == "result (through the channel)"
    assert bot.seen["fallback"].content == "result (through the channel)"
    stored = fake.message(mid)
    assert stored is not None and stored["content"] == "result (through the channel)"


async def test_expire_interaction(fake: FakeDiscord, bot: HarnessBot) -> None:
    payload = chat_input("secret")
    interaction = await dispatch(bot, payload)
    original = await interaction.original_response()
    assert original.content == "only you" and original.flags.ephemeral
    fake.expire_interaction(payload["token"])
    with pytest.raises(discord.HTTPException) as info:
        await interaction.edit_original_response(content="too late")
    assert info.value.code == 50027


async def test_options_permissions_and_resolved_member(fake: FakeDiscord, bot: HarnessBot) -> None:
    payload = chat_input("whoami", [user_option("member", ids.OTHER_USER_ID)],
                         user_id=ids.MOD_USER_ID)
    interaction = await dispatch(bot, payload)
    assert interaction.guild is not None and interaction.guild.id == ids.GUILD_ID
    assert isinstance(interaction.channel, discord.TextChannel)
    assert isinstance(interaction.user, discord.Member)
    assert interaction.user.name == "morgan"
    assert interaction.permissions.manage_guild
    assert not (await dispatch(bot, chat_input("whoami"))).permissions.manage_guild
    assert interaction.namespace.member.id == ids.OTHER_USER_ID
    assert fake.interaction_callbacks(payload["id"])[0]["data"]["content"] == "bob"
    option = attachment_option("image", data=PNG, filename="in.png")
    built = chat_input("reframe", [option])
    att_id = built["data"]["options"][0]["value"]
    assert built["data"]["resolved"]["attachments"][att_id]["size"] == len(PNG)
    assert "__resolved__" not in built["data"]["options"][0]


async def test_rate_limit_with_via_is_retried(fake: FakeDiscord, bot: HarnessBot) -> None:
    fake.fail_next("POST", rf"^/channels/{ids.CHANNEL_ID}/messages$", status=429)
    channel = bot.get_channel(ids.CHANNEL_ID)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("hello", file=discord.File(io.BytesIO(PNG), filename="a.png"))
    attempts = fake.calls("POST", rf"^/channels/{ids.CHANNEL_ID}/messages$")
    assert [r.status for r in attempts] == [429, 200]
    assert attempts[1].files[0].data == PNG
    assert sent.content == "hello" and sent.attachments[0].size == len(PNG)


async def test_discord_limits_are_enforced(fake: FakeDiscord, bot: HarnessBot) -> None:
    await dispatch(bot, chat_input("toolong"))
    error = bot.seen["limit_error"]
    assert isinstance(error, discord.HTTPException) and error.code == 50035
    assert any("at most 25" in v for v in fake.violations)


async def test_late_acknowledgement_fails_and_errors_surface(
    fake: FakeDiscord, bot: HarnessBot
) -> None:
    fake.ack_deadline = 0.05
    with pytest.raises(HarnessDispatchError) as info:
        await dispatch(bot, chat_input("slow"))
    cause = info.value.__cause__
    assert isinstance(cause, app_commands.CommandInvokeError)
    assert isinstance(cause.original, discord.NotFound) and cause.original.code == 10062


async def test_background_work_and_followup_replacing_thinking(
    fake: FakeDiscord, bot: HarnessBot
) -> None:
    payload = chat_input("later")
    dispatched = start_dispatch(bot, payload)
    await dispatched.wait()
    assert fake.interaction_callbacks(payload["id"]) == [{"type": 5, "data": {"flags": 64}}]
    request = await fake.wait_for(method="POST", path=rf"^/webhooks/{ids.APPLICATION_ID}/",
                                  timeout=2)
    original = fake.original_message(payload["token"])
    assert original is not None
    # The first followup after a deferral replaces the "thinking" message, ephemeral as it was.
    assert request.response["id"] == original["id"]
    assert original["content"] == "background result"
    assert original["flags"] & 64 and not original["flags"] & 128


async def test_route_base_is_restored() -> None:
    before = Route.BASE
    async with FakeDiscord() as fake, running_bot(fake) as plain_bot:
        assert fake.api_base == Route.BASE
        assert plain_bot.user is not None
        assert FakeDiscord.current() is fake
    assert before == Route.BASE
    assert FakeDiscord.current() is None
