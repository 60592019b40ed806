"""Encryption at rest: every record of a segment but its envelope is sealed with AES-256-GCM.

The key is per device, 32 random bytes in ``$WORKSCRIBE_HOME/spool.key`` (mode 0600), created the
first time a recording starts. A segment names the key it was sealed with by ``key_id`` (a hash, not
the key). Each record gets a fresh 96-bit nonce; the associated data binds the record type and the
segment's random id, so records cannot be swapped between types or segments unnoticed.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from workscribe import paths

KEY_FILE = "spool.key"
CIPHER = "AES-256-GCM"
NONCE_BYTES = 12


class DecryptError(ValueError):
    """A record could not be decrypted: wrong key, or the bytes were altered."""


def key_id(key: bytes) -> str:
    """A public name of a key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(b"workscribe-key-id" + key).hexdigest()[:16]


def keyring(keys: Iterable[bytes]) -> dict[str, bytes]:
    """``keys`` by their ``key_id``: a reader looks up the key a segment's envelope names in it."""
    return {key_id(k): k for k in keys}


def key_path(home: Path | None = None) -> Path:
    """Where the spool key of the state folder ``home`` (default ``$WORKSCRIBE_HOME``) lives."""
    return (home or paths.home()) / KEY_FILE


def load_key(home: Path | None = None) -> bytes | None:
    """The device's spool key, or None if none was created yet."""
    path = key_path(home)
    if not path.exists():
        return None
    key = path.read_bytes()
    if len(key) != 32:
        raise DecryptError(f"{path} is not a workscribe key (expected 32 bytes, found {len(key)})")
    return key


def load_or_create_key(home: Path | None = None) -> bytes:
    """The device's spool key, created owner-only if missing."""
    home = home or paths.home()
    key = load_key(home)
    if key is not None:
        return key
    path = key_path(home)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(32))
        f.flush()
        os.fsync(f.fileno())
    return path.read_bytes()


class SegmentCipher:
    """Seals and opens the records of one segment."""

    def __init__(self, key: bytes, segment_id: bytes) -> None:
        self._aead = AESGCM(key)
        self._segment_id = segment_id

    def seal(self, rtype: int, payload: bytes) -> bytes:
        """``nonce | ciphertext | tag`` of ``payload``."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, payload, bytes([rtype]) + self._segment_id)

    def open(self, rtype: int, sealed: bytes) -> bytes:
        """The plaintext of a sealed record; ``DecryptError`` if the key is wrong or bytes changed."""
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:],
                                      bytes([rtype]) + self._segment_id)
        except InvalidTag:
            raise DecryptError("record does not decrypt with this key (wrong key or altered bytes)") from None
