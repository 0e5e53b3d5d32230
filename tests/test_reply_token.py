"""Interaction tokens are stored sealed: never in the clear, and only this bot opens them."""

from __future__ import annotations

from bot.reply_token import TokenSealer


def test_seal_round_trip_and_no_plain_text() -> None:
    sealer = TokenSealer("bot-token-1")
    token = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDpzZWNyZXQ"
    sealed = sealer.seal(token)
    assert token not in sealed and "secret" not in sealed
    assert sealer.unseal(sealed) == token
    assert sealer.seal(token) != sealed  # a fresh nonce every time


def test_another_key_or_a_damaged_seal_opens_nothing() -> None:
    sealed = TokenSealer("bot-token-1").seal("the-token")
    assert TokenSealer("bot-token-2").unseal(sealed) is None
    assert TokenSealer("bot-token-1").unseal(sealed[:-4] + "AAAA") is None
    assert TokenSealer("bot-token-1").unseal("garbage") is None
    assert TokenSealer("bot-token-1").unseal(None) is None
    assert "bot-token" not in repr(TokenSealer("bot-token-1"))
