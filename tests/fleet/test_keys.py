"""Sealing and wrapping (docs/fleet.md): round trips, and every wrong key, byte or binding refused."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from workscribe.fleet.keys import (
    KEY_BYTES,
    NONCE_BYTES,
    FleetKeyError,
    contributor_key_aad,
    data_key_aad,
    generate_org_key,
    load_private_key,
    load_public_key,
    new_key,
    open_sealed,
    public_b64,
    public_bytes,
    save_private_key,
    seal,
    unwrap,
    wrap,
)


def _flip(data: bytes, i: int) -> bytes:
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:]


def test_seal_opens_with_the_private_key_only() -> None:
    org, other = generate_org_key(), generate_org_key()
    k_c = new_key()
    aad = contributor_key_aad("contributor-1")
    sealed = seal(load_public_key(public_b64(org)), k_c, aad)
    assert len(sealed) == KEY_BYTES + NONCE_BYTES + len(k_c) + 16  # ephemeral | nonce | ciphertext | tag
    assert k_c not in sealed
    assert open_sealed(org, sealed, aad) == k_c
    assert seal(public_bytes(org), k_c, aad) != sealed  # a fresh ephemeral key and nonce every time
    with pytest.raises(FleetKeyError):
        open_sealed(other, sealed, aad)
    with pytest.raises(FleetKeyError):
        open_sealed(org, sealed, contributor_key_aad("contributor-2"))
    for i in (0, KEY_BYTES, KEY_BYTES + NONCE_BYTES, len(sealed) - 1):  # ephemeral, nonce, body, tag
        with pytest.raises(FleetKeyError):
            open_sealed(org, _flip(sealed, i), aad)
    with pytest.raises(FleetKeyError):
        open_sealed(org, sealed[:40], aad)


def test_wrap_unwraps_with_its_key_and_object_only() -> None:
    k_c, k_s = new_key(), new_key()
    sha_a = hashlib.sha256(b"object A").hexdigest()
    sha_b = hashlib.sha256(b"object B").hexdigest()
    wrapped = wrap(k_c, k_s, data_key_aad(sha_a))
    assert len(wrapped) == NONCE_BYTES + KEY_BYTES + 16 and k_s not in wrapped
    assert unwrap(k_c, wrapped, data_key_aad(sha_a)) == k_s
    with pytest.raises(FleetKeyError, match="does not open"):  # A's key cannot be moved to B
        unwrap(k_c, wrapped, data_key_aad(sha_b))
    with pytest.raises(FleetKeyError):
        unwrap(new_key(), wrapped, data_key_aad(sha_a))
    for i in range(0, len(wrapped), 7):
        with pytest.raises(FleetKeyError):
            unwrap(k_c, _flip(wrapped, i), data_key_aad(sha_a))
    with pytest.raises(FleetKeyError):
        wrap(b"short", k_s, data_key_aad(sha_a))
    with pytest.raises(ValueError, match="64 lowercase hex"):
        data_key_aad(sha_a.upper())


def test_private_key_file_is_owner_only_and_never_overwritten(tmp_path: Path) -> None:
    org = generate_org_key()
    path = tmp_path / "org.key"
    save_private_key(org, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    loaded = load_private_key(path)
    assert public_bytes(loaded) == public_bytes(org)
    sealed = seal(public_bytes(org), b"secret", b"aad")
    assert open_sealed(loaded, sealed, b"aad") == b"secret"
    with pytest.raises(FileExistsError):
        save_private_key(generate_org_key(), path)
    assert public_bytes(load_private_key(path)) == public_bytes(org)
    (tmp_path / "junk.key").write_bytes(b"not a key")
    with pytest.raises(FleetKeyError, match="not a workscribe organisation key"):
        load_private_key(tmp_path / "junk.key")


def test_public_key_from_text_or_bytes() -> None:
    org = generate_org_key()
    assert public_bytes(load_public_key(public_b64(org))) == public_bytes(org)
    assert public_bytes(load_public_key(public_bytes(org))) == public_bytes(org)
    with pytest.raises(FleetKeyError, match="32 bytes"):
        load_public_key(b"\x01" * 31)
    with pytest.raises(FleetKeyError, match="base64"):
        load_public_key("not base64!")
