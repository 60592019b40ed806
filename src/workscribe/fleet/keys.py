"""The keys of fleet collection (docs/fleet.md): the organisation key pair, sealing and wrapping.

- The **organisation key pair** is X25519. The private key lives in a file the dataset builders
  keep (PKCS#8 PEM, owner-only); the service and every device hold only the public key.
- ``seal(public, data, aad)`` encrypts for the holder of a private key: an ephemeral X25519 key
  pair, the shared secret through HKDF-SHA256 (info ``workscribe-seal-v1``), AES-256-GCM with a
  random 96-bit nonce; the output is ``ephemeral_public(32) || nonce(12) || ciphertext``. Devices
  seal their contributor key ``K_c`` with it.
- ``wrap(key, data, aad)`` encrypts under a symmetric key: AES-256-GCM, ``nonce(12) ||
  ciphertext``. Devices wrap each segment's data key ``K_s`` under ``K_c``.

The associated data names what is protected (``contributor_key_aad``, ``data_key_aad``), so a sealed
or wrapped key cannot be passed off as another's. Opening with a wrong key, with other associated
data or after any byte changed raises ``FleetKeyError``.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SEAL_INFO = b"workscribe-seal-v1"
KEY_BYTES = 32  # symmetric keys (K_c, K_s) and raw X25519 public keys
NONCE_BYTES = 12


class FleetKeyError(ValueError):
    """A key does not fit: a wrong key, other associated data, altered bytes, or not a key at all."""


# -- the organisation key pair -----------------------------------------------------------------------

def generate_org_key() -> X25519PrivateKey:
    """A new organisation private key (its public key is ``private.public_key()``)."""
    return X25519PrivateKey.generate()


def save_private_key(private: X25519PrivateKey, path: Path) -> None:
    """Writes ``private`` to a new owner-only (0600) file ``path`` as unencrypted PKCS#8 PEM.

    Raises:
        FileExistsError: ``path`` exists (an organisation key is never overwritten: the data sealed
            for it would be lost).
    """
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())


def load_private_key(path: Path) -> X25519PrivateKey:
    """The organisation private key in ``path``.

    Raises:
        FleetKeyError: the file is not an X25519 private key.
        OSError: the file cannot be read.
    """
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (ValueError, TypeError):
        raise FleetKeyError(f"{path} is not a workscribe organisation key (PEM X25519)") from None
    if not isinstance(key, X25519PrivateKey):
        raise FleetKeyError(f"{path} holds a {type(key).__name__}, not an X25519 organisation key")
    return key


def public_bytes(key: X25519PrivateKey | X25519PublicKey) -> bytes:
    """The raw 32 bytes of the public key of ``key`` (a private or a public key)."""
    public = key.public_key() if isinstance(key, X25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_b64(key: X25519PrivateKey | X25519PublicKey) -> str:
    """The public key of ``key`` in base64, as ``GET /v1/org`` answers it."""
    return base64.b64encode(public_bytes(key)).decode()


def load_public_key(raw: bytes | str) -> X25519PublicKey:
    """A public key from its raw 32 bytes or their base64 text.

    Raises:
        FleetKeyError: not 32 bytes (or not base64).
    """
    if isinstance(raw, str):
        try:
            raw = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise FleetKeyError("the public key is not base64") from None
    if len(raw) != KEY_BYTES:
        raise FleetKeyError(f"an X25519 public key has {KEY_BYTES} bytes, got {len(raw)}")
    return X25519PublicKey.from_public_bytes(raw)


# -- associated data ---------------------------------------------------------------------------------

def contributor_key_aad(contributor_id: str) -> bytes:
    """What a sealed contributor key is bound to: ``b"contributor-key:" + contributor_id`` (UTF-8)."""
    return b"contributor-key:" + contributor_id.encode()


def data_key_aad(object_sha256: str) -> bytes:
    """What a wrapped data key is bound to: ``b"data-key:" + object_sha256`` (64 lowercase hex digits)."""
    if len(object_sha256) != 64 or object_sha256 != object_sha256.lower():
        raise ValueError(f"object_sha256 must be 64 lowercase hex digits, got {object_sha256!r}")
    return b"data-key:" + object_sha256.encode()


# -- sealing and wrapping ----------------------------------------------------------------------------

def new_key() -> bytes:
    """32 random bytes: a contributor key or a segment data key."""
    return secrets.token_bytes(KEY_BYTES)


def _seal_key(shared: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=SEAL_INFO).derive(shared)


def seal(public: X25519PublicKey | bytes, data: bytes, aad: bytes) -> bytes:
    """``data`` encrypted for the holder of the private key of ``public``:
    ``ephemeral_public(32) || nonce(12) || ciphertext``."""
    if isinstance(public, bytes):
        public = load_public_key(public)
    ephemeral = X25519PrivateKey.generate()
    key = _seal_key(ephemeral.exchange(public))
    nonce = secrets.token_bytes(NONCE_BYTES)
    return public_bytes(ephemeral) + nonce + AESGCM(key).encrypt(nonce, data, aad)


def open_sealed(private: X25519PrivateKey, sealed: bytes, aad: bytes) -> bytes:
    """The data ``seal`` sealed for ``private``.

    Raises:
        FleetKeyError: another private key, other ``aad``, or altered bytes.
    """
    if len(sealed) < KEY_BYTES + NONCE_BYTES + 16:
        raise FleetKeyError(f"a sealed value has at least {KEY_BYTES + NONCE_BYTES + 16} bytes, "
                            f"got {len(sealed)}")
    ephemeral = X25519PublicKey.from_public_bytes(sealed[:KEY_BYTES])
    try:
        key = _seal_key(private.exchange(ephemeral))
    except ValueError:  # a low-order point: the shared secret would be all zeros
        raise FleetKeyError("the sealed value's ephemeral key is invalid (altered bytes)") from None
    return _open(key, sealed[KEY_BYTES:], aad, "sealed value")


def wrap(key: bytes, data: bytes, aad: bytes) -> bytes:
    """``data`` encrypted under the 32-byte ``key``: ``nonce(12) || ciphertext``."""
    if len(key) != KEY_BYTES:
        raise FleetKeyError(f"a wrapping key has {KEY_BYTES} bytes, got {len(key)}")
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, data, aad)


def unwrap(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """The data ``wrap`` wrapped under ``key``.

    Raises:
        FleetKeyError: another key, other ``aad``, or altered bytes.
    """
    if len(key) != KEY_BYTES:
        raise FleetKeyError(f"a wrapping key has {KEY_BYTES} bytes, got {len(key)}")
    return _open(key, blob, aad, "wrapped value")


def _open(key: bytes, blob: bytes, aad: bytes, what: str) -> bytes:
    """Opens ``nonce || ciphertext`` under ``key``."""
    if len(blob) < NONCE_BYTES + 16:
        raise FleetKeyError(f"a {what} is too short ({len(blob)} bytes)")
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag:
        raise FleetKeyError(f"the {what} does not open with this key "
                            f"(wrong key, other associated data, or altered bytes)") from None
