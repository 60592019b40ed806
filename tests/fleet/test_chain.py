"""The key chain of docs/fleet.md on a real synthetic spool: organisation key -> sealed contributor key
-> wrapped data keys -> re-sealed segments. Read back centrally they give the same events and
byte-identical exports; without the contributor key nothing of them can be read."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from workscribe.export.driver import export
from workscribe.export.formats import ExportOptions
from workscribe.fleet.keys import (
    FleetKeyError,
    contributor_key_aad,
    data_key_aad,
    generate_org_key,
    load_private_key,
    load_public_key,
    new_key,
    open_sealed,
    public_b64,
    save_private_key,
    seal,
    unwrap,
    wrap,
)
from workscribe.fleet.reseal import ResealError, open_resealed, read_resealed, reseal_segment, reseal_to
from workscribe.spool import crypto
from workscribe.spool import format as fmt
from workscribe.spool.reader import Spool, SpoolReadError, open_segment
from workscribe.testing.synthetic import write_synthetic_spool

SPOOL_KEY = bytes(range(32))
CONTRIBUTOR = "contributor-7f3a"


@dataclass
class Fleet:
    """What each party holds after a device uploaded a synthetic spool."""

    local: Path  # the device's spool, sealed with SPOOL_KEY
    store: Path  # the re-sealed objects, under their segment names (as a central reader lays them out)
    org_key_file: Path  # the dataset builders' private key
    sealed_contributor_key: bytes  # on the service
    catalog: dict[str, tuple[str, bytes]]  # on the service: object sha256 -> (segment name, wrapped K_s)
    recording_id: str


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    root = tmp_path_factory.mktemp("fleet")
    local, store = root / "local", root / "store"
    counts = write_synthetic_spool(local, SPOOL_KEY, hours=0.02, frames=True, segment_s=20)
    assert counts["segments"] >= 3 and counts["frames"] > 50
    # org init: the builders keep the private key; the service and devices get the public key as text
    org = generate_org_key()
    save_private_key(org, root / "org.key")
    org_public = load_public_key(public_b64(org))
    # enrol: the device makes K_c and hands the service only its sealed form
    k_c = new_key()
    sealed = seal(org_public, k_c, contributor_key_aad(CONTRIBUTOR))
    # upload: each closed segment re-sealed with a fresh K_s, named by its hash, K_s wrapped under K_c
    store.mkdir()
    catalog = {}
    for path in sorted(local.glob(fmt.SEGMENT_GLOB)):
        k_s = new_key()
        data = reseal_segment(path, SPOOL_KEY, k_s)
        sha = hashlib.sha256(data).hexdigest()
        catalog[sha] = (path.name, wrap(k_c, k_s, data_key_aad(sha)))
        (store / path.name).write_bytes(data)
    return Fleet(local, store, root / "org.key", sealed, catalog, counts["recording_id"])


def _central_data_keys(fleet: Fleet) -> list[bytes]:
    """What a dataset builder does: org private key -> K_c -> every K_s (each checked against its object)."""
    org = load_private_key(fleet.org_key_file)
    k_c = open_sealed(org, fleet.sealed_contributor_key, contributor_key_aad(CONTRIBUTOR))
    keys = []
    for sha, (name, wrapped) in fleet.catalog.items():
        assert hashlib.sha256((fleet.store / name).read_bytes()).hexdigest() == sha
        keys.append(unwrap(k_c, wrapped, data_key_aad(sha)))
    return keys


def _events(spool: Spool) -> list[dict]:
    return [e for rec in spool.recordings() for e in spool.iter_events(rec)]


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_resealed_segments_name_their_own_data_key(fleet: Fleet) -> None:
    keys = _central_data_keys(fleet)
    assert len(keys) == len(fleet.catalog) == len(list(fleet.local.glob(fmt.SEGMENT_GLOB)))
    assert len(set(keys)) == len(keys) and SPOOL_KEY not in keys
    for name, _ in fleet.catalog.values():
        opened = [k for k in keys if _opens(fleet.store / name, k)]
        assert len(opened) == 1  # each object opens with its own K_s and no other
        seg = open_resealed(fleet.store / name, opened[0])
        original = open_segment(fleet.local / name, SPOOL_KEY)
        assert seg.complete and not seg.problems
        assert (seg.header, seg.footer) == (original.header, original.footer)
        assert list(seg.records()) == list(original.records())  # same records, same order
    with pytest.raises(SpoolReadError):  # the device's spool key opens none of them
        Spool(fleet.store, key=SPOOL_KEY)


def _opens(path: Path, key: bytes) -> bool:
    try:
        open_resealed(path, key)
    except SpoolReadError:
        return False
    return True


def test_central_reading_gives_the_device_events(fleet: Fleet) -> None:
    central = read_resealed(fleet.store, _central_data_keys(fleet))
    local = Spool(fleet.local, key=SPOOL_KEY)
    assert [s.name for s in central.segments] == [s.name for s in local.segments]
    events = _events(central)
    assert len(events) > 1000 and events == _events(local)
    refs = [e["data"]["ref"] for e in events if e["kind"] == "frame"][:5]
    central_frames, local_frames = central.frames(refs), local.frames(refs)
    assert all((central_frames[r] == local_frames[r]).all() for r in refs)
    assert central.problems == []


@pytest.mark.parametrize("fmt_name", ["hf", "lerobot"])
def test_central_exports_are_the_local_exports_byte_for_byte(fleet: Fleet, fmt_name: str,
                                                             tmp_path: Path) -> None:
    options = ExportOptions(format=fmt_name)
    local_report = export([fleet.local], tmp_path / "local", options, key=SPOOL_KEY)
    central_report = export([fleet.store], tmp_path / "central", options, keys=_central_data_keys(fleet))
    assert local_report["episodes"] > 0 and local_report["steps"] > 10
    assert central_report == local_report
    local, central = _digests(tmp_path / "local"), _digests(tmp_path / "central")
    assert len(local) >= 2 and central == local


def test_without_the_contributor_key_nothing_can_be_read(fleet: Fleet, tmp_path: Path) -> None:
    # org forget: the sealed K_c is gone; a backup holds the objects and the wrapped keys
    backup = tmp_path / "backup"
    shutil.copytree(fleet.store, backup)
    wrapped = {sha: w for sha, (_, w) in fleet.catalog.items()}
    org = load_private_key(fleet.org_key_file)
    for guess in (new_key(), SPOOL_KEY, org.private_bytes_raw()):  # neither a stranger's, the device's
        for sha, blob in wrapped.items():                         # spool key nor the org key opens one
            with pytest.raises(FleetKeyError):
                unwrap(guess, blob, data_key_aad(sha))
    with pytest.raises(SpoolReadError, match="no readable workscribe segments"):
        read_resealed(backup, [])
    with pytest.raises(SpoolReadError):
        read_resealed(backup, [new_key(), SPOOL_KEY])
    # and the objects hold nothing of the events in clear
    local = Spool(fleet.local, key=SPOOL_KEY)
    events = _events(local)
    title = next(e["data"]["title"] for e in events if e["source"] == "window")
    secrets_in_clear = [title.encode(), CONTRIBUTOR.encode(), b"synthetic-contributor",
                        fleet.recording_id.encode(), json.dumps(local.segments[0].header).encode()[:40]]
    for seg in local.segments:  # nor the records' plaintext (events are compressed before sealing)
        secrets_in_clear += [payload[:48] for _, payload in seg.records()][:20]
    for path in sorted(backup.glob(fmt.SEGMENT_GLOB)):
        data = path.read_bytes()
        assert data.startswith(fmt.MAGIC)
        leaked = [s[:20] for s in secrets_in_clear if s in data]
        assert not leaked, f"{path.name} holds plaintext: {leaked}"
    assert title.encode() in json.dumps(events).encode()  # the check looks for what is really there


def test_a_torn_damaged_or_foreign_segment_is_not_resealed(fleet: Fleet, tmp_path: Path) -> None:
    first = sorted(fleet.local.glob(fmt.SEGMENT_GLOB))[0]
    data = first.read_bytes()
    torn = tmp_path / "torn" / first.name  # a crash before the footer
    torn.parent.mkdir()
    torn.write_bytes(data[:-30])
    with pytest.raises(ResealError, match="no footer"):
        reseal_segment(torn, SPOOL_KEY, new_key())
    offset = data.index(fmt.MAGIC, len(data) // 2) + fmt.RECORD_HEAD.size  # a record in the middle
    damaged = tmp_path / "damaged.wss"
    damaged.write_bytes(data[:offset + 5] + bytes([data[offset + 5] ^ 0xFF]) + data[offset + 6:])
    with pytest.raises(ResealError, match="checksum mismatch"):
        reseal_segment(damaged, SPOOL_KEY, new_key())
    with pytest.raises(ResealError, match="not with the key given"):
        reseal_segment(first, new_key(), new_key())
    out = tmp_path / "out.wss"
    with pytest.raises(ResealError):
        reseal_to(damaged, SPOOL_KEY, new_key(), out)
    assert not out.exists()
    reseal_to(first, SPOOL_KEY, k_s := new_key(), out)
    envelope = json.loads(out.read_bytes()[fmt.RECORD_HEAD.size:].split(fmt.MAGIC)[0])
    assert envelope["key_id"] == crypto.key_id(k_s) != crypto.key_id(SPOOL_KEY)
