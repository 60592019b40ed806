"""The device side of fleet collection: enrolment, and uploading closed segments (docs/fleet.md).

``enroll`` asks the service for the organisation's public key, makes the contributor key ``K_c``,
seals it for the organisation and enrols with an invite token; the device credential and ``K_c``
are kept owner-only under ``$WORKSCRIBE_HOME/fleet/``.

``upload_pending`` uploads every closed segment of a spool that is not uploaded yet. Each is first
re-sealed under a fresh data key into the outbox (``fleet/outbox/``), and the object's hash and its
wrapped data key are noted in ``fleet/uploads.json`` *before* any byte leaves: a run that is killed
resumes the same object where the service says it stopped, so a retry never makes a second copy. A
segment still being written (no footer) stays pending; the service's answer decides the rest.
Network errors, 5xx answers and a "not now" (408, or a 409 saying another request of this device
still writes the upload: one the network cut) are retried with exponential backoff; a refusal (any
other 4xx) marks the segment failed with the service's reason. One upload runs at a time on a device
(``fleet/upload.lock``): the recorder's background uploader (``fleet.uploader``) and ``workscribe upload``
take turns.

``delete_everywhere`` deletes recordings on this device (``spool.retention``) and then on the service
(``DELETE /v1/recordings/{id}``). A deletion the service cannot take now waits in
``fleet/deletions.json`` and is sent again by the next upload or delete, before any segment; segments
of a deleted recording are never uploaded again (their outbox copies and upload entries go at once).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from workscribe import paths
from workscribe.fleet import keys
from workscribe.fleet.reseal import ResealError, reseal_to
from workscribe.fleet.summary import segment_summary
from workscribe.spool import crypto, retention
from workscribe.spool.format import SEGMENT_GLOB
from workscribe.spool.reader import open_segment

FLEET_DIR = "fleet"
DEVICE_FILE = "device.json"
CONTRIBUTOR_KEY_FILE = "contributor.key"
UPLOADS_FILE = "uploads.json"
LOCK_FILE = "upload.lock"
DELETIONS_FILE = "deletions.json"
ENROLLING_FILE = "enrolling.json"
DEVICE_TOKEN_PREFIX = "wsd_"
OUTBOX = "outbox"
CHUNK_BYTES = 4 * 1024 * 1024
"""Bytes per upload request: a lost connection costs at most this much again."""


class FleetClientError(RuntimeError):
    """Enrolment or upload cannot go on (one line, for the CLI)."""


class UploadBusy(FleetClientError):
    """Another upload of this device is running (the recorder's, or another ``workscribe upload``)."""


@dataclass
class Device:
    """This device's enrolment (``fleet/device.json``)."""

    url: str  # the service, e.g. http://127.0.0.1:8470
    org_id: str
    org_public_key: str  # base64
    contributor_id: str
    device_id: str
    device_token: str
    team: str | None = None


def fleet_dir(home: Path | None = None) -> Path:
    """Where enrolment and upload state live: ``$WORKSCRIBE_HOME/fleet``."""
    return (home or paths.home()) / FLEET_DIR


def load_device(home: Path | None = None) -> Device | None:
    """This device's enrolment, or None when it was never enrolled."""
    path = fleet_dir(home) / DEVICE_FILE
    if not path.exists():
        return None
    try:
        return Device(**json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise FleetClientError(f"{path} is damaged ({exc}); enrol again") from None


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _http(timeout: float) -> Any:
    import httpx

    return httpx.Client(timeout=timeout)


def _detail(response: Any) -> str:
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = None
    return str(detail or response.text[:200] or response.reason_phrase)


def enroll(url: str, token: str, contributor_id: str, home: Path | None = None,
           timeout: float = 10.0) -> Device:
    """Enrols this device with the service at ``url`` using the one-time invite ``token``.

    ``contributor_id`` is the consent's pseudonym: segments already carry it. The device makes its own
    token and the contributor key ``K_c`` and notes them (owner-only, ``fleet/enrolling.json``) before
    asking; only the token's hash and ``K_c`` sealed for the organisation travel. An enrolment whose
    answer was lost (the network, a restart of the service) is found again by running the same command:
    the invite is used by then, and the service, asked with the noted token (``GET /v1/device``), says
    this device is enrolled.

    Raises:
        FleetClientError: already enrolled, the service cannot be reached, or it refused the token.
    """
    import base64

    import httpx

    home = home or paths.home()
    if load_device(home) is not None:
        raise FleetClientError(f"this device is already enrolled ({fleet_dir(home) / DEVICE_FILE})")
    url = url.rstrip("/")
    pending_path = fleet_dir(home) / ENROLLING_FILE
    invite = hashlib.sha256(token.encode()).hexdigest()
    pending = _load_pending(pending_path)
    try:
        with _http(timeout) as http:
            org = http.get(f"{url}/v1/org")
            if org.status_code != 200:
                raise FleetClientError(f"{url} is not a workscribe service ({org.status_code})")
            info = org.json()
            if pending and (pending["org_id"], pending["contributor_id"]) != (info["org_id"], contributor_id):
                pending = None  # begun with another organisation or pseudonym: begun anew
            answer = None
            if pending:  # an enrolment begun before: did it reach the service, and the answer got lost?
                mine = http.get(f"{url}/v1/device",
                                headers={"Authorization": f"Bearer {pending['device_token']}"})
                if mine.status_code == 200 and mine.json().get("contributor_id") == contributor_id:
                    answer = mine
                elif pending["invite_sha256"] != invite:
                    pending = None
            if pending is None:
                contributor_key = keys.new_key()
                sealed = keys.seal(keys.load_public_key(info["public_key"]), contributor_key,
                                   keys.contributor_key_aad(contributor_id))
                pending = {"org_id": info["org_id"], "invite_sha256": invite,
                           "contributor_id": contributor_id,
                           "device_token": DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(32),
                           "contributor_key": base64.b64encode(contributor_key).decode(),
                           "sealed": base64.b64encode(sealed).decode()}
                _write_private(pending_path, json.dumps(pending).encode())  # before any request with it
            device_token = pending["device_token"]
            if answer is None:
                answer = http.post(f"{url}/v1/enroll", json={
                    "token": token, "contributor_id": contributor_id,
                    "sealed_contributor_key": pending["sealed"],
                    "device_token_sha256": hashlib.sha256(device_token.encode()).hexdigest()})
    except httpx.HTTPError as exc:
        raise FleetClientError(f"cannot reach {url}: {exc}; run the same command again to go on") from None
    if answer.status_code != 200:
        raise FleetClientError(f"enrolment refused ({answer.status_code}): {_detail(answer)}")
    body = answer.json()
    device = Device(url=url, org_id=info["org_id"], org_public_key=info["public_key"],
                    contributor_id=body["contributor_id"], device_id=body["device_id"],
                    device_token=device_token, team=body.get("team"))
    _write_private(fleet_dir(home) / CONTRIBUTOR_KEY_FILE, base64.b64decode(pending["contributor_key"]))
    _write_private(fleet_dir(home) / DEVICE_FILE, json.dumps(asdict(device), indent=2).encode())
    pending_path.unlink()
    return device


def _load_pending(path: Path) -> dict[str, str] | None:
    """The enrolment this device began (``fleet/enrolling.json``), or None."""
    try:
        pending = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    fields = ("org_id", "invite_sha256", "contributor_id", "device_token", "contributor_key", "sealed")
    if not isinstance(pending, dict) or not all(isinstance(pending.get(f), str) for f in fields):
        return None
    return pending


def portal_link(home: Path | None = None, timeout: float = 10.0) -> dict[str, Any]:
    """A one-time link to this contributor's page on the service: ``{"url", "expires"}``.

    Raises:
        FleetClientError: not enrolled, the service cannot be reached, or it refused the device.
    """
    import httpx

    device = load_device(home or paths.home())
    if device is None:
        raise FleetClientError("this device is not enrolled; run: workscribe enroll URL --token TOKEN")
    try:
        with _http(timeout) as http:
            answer = http.post(f"{device.url}/v1/portal-links",
                               headers={"Authorization": f"Bearer {device.device_token}"})
    except httpx.HTTPError as exc:
        raise FleetClientError(f"cannot reach {device.url}: {exc}") from None
    if answer.status_code != 200:
        raise FleetClientError(f"portal link refused ({answer.status_code}): {_detail(answer)}")
    return answer.json()


def _contributor_key(home: Path) -> bytes:
    key = (fleet_dir(home) / CONTRIBUTOR_KEY_FILE).read_bytes()
    if len(key) != 32:
        raise FleetClientError("the contributor key is damaged; enrol again")
    return key


def _load_state(home: Path) -> dict[str, dict[str, Any]]:
    path = fleet_dir(home) / UPLOADS_FILE
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError:
        raise FleetClientError(f"{path} is damaged; remove it to upload everything again") from None


def _save_state(home: Path, state: dict[str, dict[str, Any]]) -> None:
    kept = {name: {k: v for k, v in entry.items() if k != "fresh"} for name, entry in state.items()}
    _write_private(fleet_dir(home) / UPLOADS_FILE, json.dumps(kept, indent=1, sort_keys=True).encode())


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of the file ``path``, read a MiB at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _prepare(segment: Path, spool_key: bytes, contributor_key: bytes, outbox: Path) -> dict[str, Any]:
    """Re-seals ``segment`` into the outbox under a fresh data key: its upload entry."""
    import base64

    outbox.mkdir(parents=True, exist_ok=True, mode=0o700)
    staged = outbox / segment.name
    staged.unlink(missing_ok=True)  # a copy whose entry was never noted: made again
    data_key = keys.new_key()
    reseal_to(segment, spool_key, data_key, staged)
    recording_id = open_segment(staged, data_key).header["recording_id"]
    sha = file_sha256(staged)
    wrapped = keys.wrap(contributor_key, data_key, keys.data_key_aad(sha))
    return {"sha256": sha, "size": staged.stat().st_size, "recording_id": recording_id,
            "wrapped_data_key": base64.b64encode(wrapped).decode(), "status": "staged",
            "meta": segment_summary(segment, spool_key)}  # what the portal shows (fleet/summary.py)


def upload_pending(spool: Path, home: Path | None = None, spool_key: bytes | None = None,
                   chunk_bytes: int = CHUNK_BYTES, attempts: int = 5, timeout: float = 30.0,
                   backoff_s: float = 0.5, progress: Callable[[str, int, int], None] | None = None,
                   skip: Collection[str] = (), keep_going: Callable[[], bool] | None = None,
                   ) -> dict[str, Any]:
    """Uploads the closed segments of ``spool`` that are not uploaded yet.

    ``skip`` names segments not to touch (the one being written); ``keep_going`` is asked before each
    segment, and a False ends the run there (a pause, a stop). Once the service cannot be reached after
    ``attempts`` tries, the run ends and what is left stays pending.

    Returns:
        ``{"uploaded", "pending", "failed", "errors", "unreachable"}``: segments uploaded now, still to
        upload (open, or not tried), refused (with the service's reasons); whether the service could
        not be reached; with ``"paused": True`` when the contributor paused uploads in the portal
        (nothing more is sent).

    Raises:
        FleetClientError: this device is not enrolled; ``UploadBusy``: another upload is running.
    """
    home = home or paths.home()
    device, contributor_key, spool_key = _uploader_keys(home, spool_key)
    with _upload_lock(home):
        return _upload_all(spool, home, device, contributor_key, spool_key, chunk_bytes, attempts, timeout,
                           backoff_s, progress, skip, keep_going)


def _uploader_keys(home: Path, spool_key: bytes | None) -> tuple[Device, bytes, bytes]:
    """This device's enrolment, its contributor key and the spool key (``spool_key`` if given).

    Raises:
        FleetClientError: not enrolled, or no spool key on this device.
    """
    device = load_device(home)
    if device is None:
        raise FleetClientError("this device is not enrolled; run: workscribe enroll URL --token TOKEN")
    contributor_key = _contributor_key(home)
    spool_key = spool_key or crypto.load_key(home)
    if spool_key is None:
        raise FleetClientError("no spool key on this device: nothing was recorded here")
    return device, contributor_key, spool_key


def _to_upload(spool: Path, segments: list[Path], home: Path, state: dict[str, dict[str, Any]],
               skip: Collection[str], done: Collection[str]) -> list[Path]:
    """The ``segments`` of ``spool`` still to send: not in ``skip``, whose entry's status is not in
    ``done``, and not of a recording deleted here (tombstoned, or queued for deletion on the service)."""
    deleted = retention.tombstoned(Path(spool)) | set(_load_deletions(home))
    return [s for s in segments if state.get(s.name, {}).get("status") not in done and s.name not in skip
            and not retention.is_tombstoned(_recording_prefix(s.name), deleted)]


@contextlib.contextmanager
def _upload_lock(home: Path) -> Iterator[None]:
    path = fleet_dir(home) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UploadBusy("another upload is running on this device (the recorder uploads in the "
                             "background); try again when it is done") from None
        yield
    finally:
        os.close(fd)


def _upload_all(spool: Path, home: Path, device: Device, contributor_key: bytes, spool_key: bytes,
                chunk_bytes: int, attempts: int, timeout: float, backoff_s: float,
                progress: Callable[[str, int, int], None] | None, skip: Collection[str],
                keep_going: Callable[[], bool] | None) -> dict[str, Any]:
    state = _load_state(home)
    outbox = fleet_dir(home) / OUTBOX
    segments = sorted(Path(spool).glob(SEGMENT_GLOB))
    live = {s.name for s in segments}
    done = [n for n, e in state.items() if n not in live and e.get("status") in ("stored", "failed")]
    if done:  # segments that left the spool (retention, the quota): their entries go, so that this file
        for name in done:  # stays as small as the spool, not as long as the device's history
            del state[name]
        _save_state(home, state)
    todo = _to_upload(spool, segments, home, state, skip, done=("stored",))  # a refusal is tried again
    result: dict[str, Any] = {"uploaded": 0, "pending": 0, "failed": 0, "errors": [], "unreachable": False}
    headers = {"Authorization": f"Bearer {device.device_token}"}
    with _http(timeout) as http:
        if _load_deletions(home):  # deletions the service could not take before go first
            result["errors"] += _flush_deletions(http, device, home)["errors"]
        for n, segment in enumerate(todo):
            if progress:
                progress("uploading", n, len(todo))
            if result["unreachable"] or (keep_going is not None and not keep_going()):
                result["pending"] += 1
                continue
            entry = _staged(segment, state, home, spool_key, contributor_key, outbox, result)
            if entry is None:
                continue
            outcome = _send(http, device, headers, outbox / segment.name, entry, chunk_bytes, attempts,
                            backoff_s)
            if outcome == "stored":
                entry["status"] = "stored"
                _save_state(home, state)
                (outbox / segment.name).unlink(missing_ok=True)
                result["uploaded"] += 1
            elif outcome == "unreachable":
                result["pending"] += 1
                result["unreachable"] = True
            elif outcome == "paused":  # the contributor paused uploads in the portal: nothing more now
                result["pending"] += len(todo) - n
                result["paused"] = True
                break
            else:
                entry.update(status="failed", error=outcome)
                _save_state(home, state)
                result["failed"] += 1
                result["errors"].append(f"{segment.name}: {outcome}")
    if progress:
        progress("uploading", len(todo), len(todo))
    return result


def _staged(segment: Path, state: dict[str, dict[str, Any]], home: Path, spool_key: bytes,
            contributor_key: bytes, outbox: Path, result: dict[str, Any]) -> dict[str, Any] | None:
    """The upload entry of ``segment``, re-sealed into the outbox and noted first if it is not there;
    None (counted in ``result``) when it cannot be staged now."""
    entry = state.get(segment.name)
    if entry is not None and (outbox / segment.name).exists():
        return entry
    try:
        entry = _prepare(segment, spool_key, contributor_key, outbox) | {"fresh": True}
    except FileNotFoundError:  # evicted by the quota, or deleted: no longer to upload
        return None
    except ResealError as exc:
        if "footer" in str(exc):  # still being written: next time
            result["pending"] += 1
        else:
            result["failed"] += 1
            result["errors"].append(str(exc))
        return None
    state[segment.name] = entry
    _save_state(home, state)  # noted before any byte leaves: a rerun resumes this object
    return entry


def stage_pending(spool: Path, home: Path | None = None, spool_key: bytes | None = None,
                  skip: Collection[str] = ()) -> dict[str, Any]:
    """Re-seals every closed segment of ``spool`` that is not uploaded yet into the outbox, as
    ``upload_pending`` does before sending each, without sending anything.

    For work done ahead (``workscribe bench fleet`` stages every device's outbox before its clock
    starts: each device of a fleet re-seals on its own CPU). Returns ``{"staged", "bytes", "pending",
    "failed", "errors"}``.
    """
    home = home or paths.home()
    _, contributor_key, spool_key = _uploader_keys(home, spool_key)
    result: dict[str, Any] = {"staged": 0, "bytes": 0, "pending": 0, "failed": 0, "errors": []}
    with _upload_lock(home):
        state, outbox = _load_state(home), fleet_dir(home) / OUTBOX
        segments = sorted(Path(spool).glob(SEGMENT_GLOB))
        for segment in _to_upload(spool, segments, home, state, skip, done=("stored", "failed")):
            entry = _staged(segment, state, home, spool_key, contributor_key, outbox, result)
            if entry is not None:
                result["staged"] += 1
                result["bytes"] += entry["size"]
    return result


def upload_status(spool: Path, home: Path | None = None, writing: str | None = None) -> dict[str, Any]:
    """What is left to upload from ``spool``, from its segments and this device's upload state.

    ``writing`` names the segment being written (not counted). Returns ``{"pending", "uploaded",
    "failed", "last_error"}``: segments of the spool not uploaded yet, segments of the spool stored on
    the service, segments the service refused, and the reason of the latest refusal (or None).
    """
    state = _load_state(home or paths.home())
    names = {p.name for p in Path(spool).glob(SEGMENT_GLOB)} - {writing}
    failed = sorted(n for n in names if state.get(n, {}).get("status") == "failed")
    stored = sum(1 for n in names if state.get(n, {}).get("status") == "stored")
    pending = sum(1 for n in names if state.get(n, {}).get("status") not in ("stored", "failed"))
    return {"pending": pending, "uploaded": stored, "failed": len(failed),
            "last_error": f"{failed[-1]}: {state[failed[-1]].get('error')}" if failed else None}


def _send(http: Any, device: Device, headers: dict[str, str], staged: Path, entry: dict[str, Any],
          chunk_bytes: int, attempts: int, backoff_s: float) -> str:
    """Sends one staged object: ``stored``, ``unreachable`` or the service's reason for refusing it."""
    import httpx

    sha, size, base = entry["sha256"], entry["size"], device.url
    for attempt in range(attempts):
        if attempt:
            time.sleep(min(backoff_s * 2 ** (attempt - 1), 30.0))
        try:
            if attempt == 0 and entry.pop("fresh", False):
                offset = 0  # staged in this run, never sent: no need to ask (a PUT's 409 says otherwise)
            else:
                status = http.get(f"{base}/v1/uploads/{sha}", headers=headers)
                if status.status_code >= 500:
                    continue
                if status.status_code != 200:
                    return f"{status.status_code} {_detail(status)}"
                if status.json().get("stored"):
                    return "stored"
                if status.json().get("paused"):
                    return "paused"
                offset = int(status.json().get("received", 0))
            with staged.open("rb") as f:
                f.seek(offset)
                while offset < size:
                    chunk = f.read(chunk_bytes)
                    put = http.put(f"{base}/v1/uploads/{sha}", params={"offset": offset}, content=chunk,
                                   headers={**headers, "Content-Type": "application/octet-stream"})
                    if put.status_code == 409 and not _busy(put, offset):  # the service holds another
                        offset = int(put.json().get("received", 0))    # length: continue from it
                        f.seek(offset)
                        continue
                    if put.status_code >= 500 or _retry_later(put, offset):
                        raise httpx.TransportError(f"{put.status_code}")
                    if put.status_code == 423:
                        return "paused"
                    if put.status_code != 200:
                        return f"{put.status_code} {_detail(put)}"
                    offset += len(chunk)
            commit = http.post(f"{base}/v1/uploads/{sha}/commit", headers=headers, json={
                "size": size, "wrapped_data_key": entry["wrapped_data_key"],
                "recording_id": entry["recording_id"], "segment": staged.name,
                "meta": entry.get("meta") or {}})
            if commit.status_code in (200, 201):
                entry["sha256"] = commit.json().get("sha256", sha)  # the copy kept, if stored before
                return "stored"
            if commit.status_code == 423:
                return "paused"
            if commit.status_code < 500 and not _retry_later(commit):
                return f"{commit.status_code} {_detail(commit)}"
        except httpx.HTTPError:
            continue
    return "unreachable"


def _busy(answer: Any, offset: int | None = None) -> bool:
    """A 409 saying that another request of this device still writes this upload: one whose connection
    the network cut and that the service has not given up yet (its ``received`` is where this request
    would go on, or, for a commit, present at all)."""
    if answer.status_code != 409:
        return False
    try:
        received = answer.json().get("received")
    except ValueError:
        return False
    return received is not None and (offset is None or int(received) == offset)


def _retry_later(answer: Any, offset: int | None = None) -> bool:
    """An answer that is no refusal, only a "not now": the upload is busy (``_busy``), or the service gave
    up waiting for a slow body (408). The attempt ends and the next one comes after the backoff."""
    return answer.status_code == 408 or _busy(answer, offset)


# -- deletion ------------------------------------------------------------------------------------------
def _recording_prefix(segment_name: str) -> str:
    """The 8-hex recording prefix in a segment's name (``seg-<wall>-<recording>-<seq>.wss``)."""
    parts = segment_name.split("-")
    return parts[2] if len(parts) > 3 else segment_name


def _load_deletions(home: Path) -> list[str]:
    path = fleet_dir(home) / DELETIONS_FILE
    if not path.exists():
        return []
    try:
        queued = json.loads(path.read_text())
    except ValueError:
        raise FleetClientError(f"{path} is damaged; delete the sessions again to queue them anew") from None
    return [str(r) for r in queued]


def _save_deletions(home: Path, recording_ids: list[str]) -> None:
    _write_private(fleet_dir(home) / DELETIONS_FILE, json.dumps(recording_ids, indent=1).encode())


def drop_uploads(recording_ids: list[str], home: Path | None = None) -> int:
    """Forgets the upload entries and outbox copies of the segments of ``recording_ids``: none of them
    is sent again. Returns how many segments were dropped."""
    home = home or paths.home()
    if not recording_ids:
        return 0
    ids = set(recording_ids)
    prefixes = {r[:8] for r in ids}
    state = _load_state(home)
    gone = {name for name, entry in state.items()
            if entry.get("recording_id") in ids or _recording_prefix(name) in prefixes}
    outbox = fleet_dir(home) / OUTBOX
    staged = {p.name for p in outbox.glob(SEGMENT_GLOB) if _recording_prefix(p.name) in prefixes}
    for name in gone | staged:
        (outbox / name).unlink(missing_ok=True)
    if gone:
        _save_state(home, {name: entry for name, entry in state.items() if name not in gone})
    return len(gone | staged)


def delete_on_service(recording_ids: list[str], home: Path | None = None,
                      timeout: float = 10.0) -> dict[str, Any] | None:
    """Deletes recordings on the service; what it cannot take now is queued and sent again later.

    The queue (``fleet/deletions.json``) is written before any request, and every recording in it is
    sent, the earlier ones too.

    Returns:
        None when this device is not enrolled; otherwise ``{"deleted", "not_uploaded", "queued",
        "errors"}``: recordings deleted on the service now, that it never had (404), still queued
        (unreachable, or refused with the reasons in ``errors``).
    """
    home = home or paths.home()
    device = load_device(home)
    if device is None:
        return None
    queue = _load_deletions(home)
    queue += [r for r in dict.fromkeys(recording_ids) if r not in queue]
    _save_deletions(home, queue)
    drop_uploads(queue, home)
    with _http(timeout) as http:
        return _flush_deletions(http, device, home)


def _flush_deletions(http: Any, device: Device, home: Path) -> dict[str, Any]:
    """Sends every queued deletion; keeps those the service did not take."""
    import httpx

    queue = _load_deletions(home)
    result: dict[str, Any] = {"deleted": 0, "not_uploaded": 0, "queued": 0, "errors": []}
    left: list[str] = []
    headers = {"Authorization": f"Bearer {device.device_token}"}
    for n, rid in enumerate(queue):
        try:
            answer = http.delete(f"{device.url}/v1/recordings/{rid}", headers=headers)
        except httpx.HTTPError as exc:  # unreachable: the rest waits too
            left += queue[n:]
            result["errors"].append(f"cannot reach {device.url}: {exc}")
            break
        if answer.status_code == 200:
            result["deleted"] += 1
        elif answer.status_code == 404:  # never uploaded: nothing to delete there
            result["not_uploaded"] += 1
        else:
            left.append(rid)
            if answer.status_code < 500:
                why = f"{answer.status_code}): {_detail(answer)}"
                result["errors"].append(f"deleting {rid[:8]} refused ({why}")
    _save_deletions(home, left)
    result["queued"] = len(left)
    return result


def delete_everywhere(spool: Path, recording_ids: list[str], reason: str = "contributor request",
                      home: Path | None = None, timeout: float = 10.0) -> dict[str, Any]:
    """Deletes recordings from the spool for good (``spool.retention``), then on the service when this
    device is enrolled (``delete_on_service``; queued deletions are sent again too).

    Returns:
        ``{"deleted_files": [...], "service": delete_on_service's answer or None}``.
    """
    files = retention.delete_recordings(Path(spool), recording_ids, reason=reason)
    return {"deleted_files": files, "service": delete_on_service(recording_ids, home, timeout)}
