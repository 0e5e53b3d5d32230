"""Interaction tokens at rest: sealed with a key derived from the bot's own token.

A job's reply is edited through its interaction's webhook, which needs the interaction
token (valid 15 minutes). To finish the reply after a restart the token must outlive the
process, but secrets never go into the database in the clear: it is stored encrypted and
authenticated (AES-256-GCM, a fresh random nonce per token), under a key derived
(HKDF-SHA256) from ``DISCORD_TOKEN``, which the database never holds. A database copied
elsewhere gives nothing away; a bot restarted with another token simply cannot open old
seals and edits through the channel instead.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_CONTEXT = b"ideogram-discord-bot/interaction-token/v1"
_NONCE_BYTES = 12
_VERSION = "v1."


class TokenSealer:
    """``seal(token)`` → opaque text for the database; ``unseal(text)`` → the token or None."""

    __slots__ = ("_aead",)

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("a sealing secret is required")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=_CONTEXT).derive(secret.encode())
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "<TokenSealer>"

    def seal(self, token: str) -> str:
        """Return ``token`` encrypted (a fresh nonce each time) for the database."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, token.encode(), _CONTEXT)
        return _VERSION + base64.urlsafe_b64encode(sealed).decode("ascii")

    def unseal(self, sealed: str | None) -> str | None:
        """The token, or None when there is none or it was sealed under another key."""
        if not sealed or not sealed.startswith(_VERSION):
            return None
        try:
            raw = base64.urlsafe_b64decode(sealed[len(_VERSION):])
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _CONTEXT)
            return plain.decode()
        except (InvalidTag, ValueError, binascii.Error, UnicodeError):
            return None
