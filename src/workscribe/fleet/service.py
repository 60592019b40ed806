"""The organisation's HTTP service: enrolment, resumable uploads, commits and deletion, and the admin's
erasure of a contributor (docs/fleet.md).

``create_app(data_dir)`` builds the FastAPI app; ``workscribe serve`` runs it under uvicorn. The service
never decrypts: it stores the bytes a device uploads once they hash to their name and frame as a segment
(``verify.py``), and the wrapped data key beside them in the catalog. Every request writes one JSON line
on stderr (method, route template, status, milliseconds): never a body, a query or a token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing, contextmanager
from pathlib import Path
from typing import Annotated, Any, BinaryIO, TextIO

import anyio
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workscribe import __version__
from workscribe.fleet import portal
from workscribe.fleet.catalog import (
    AlreadyStored,
    Catalog,
    ContributorExists,
    Device,
    InviteRefused,
    SegmentConflict,
)
from workscribe.fleet.config import open_store
from workscribe.fleet.erase import CONTRIBUTOR_PATTERN, UnknownContributor, erase
from workscribe.fleet.org import DEVICE_TOKEN_PREFIX, new_token, open_catalog
from workscribe.fleet.store import Staging
from workscribe.fleet.verify import NotASegment, check_stream

MAX_OBJECT_BYTES = 512 * 1024 * 1024
"""The largest object a device may upload (a segment is cut far below this)."""
MAX_META_BYTES = 64 * 1024
"""The largest ``meta`` of a commit, as JSON."""

WRITE_BYTES = 1 << 20
"""An upload's body is written to its partial file in pieces of about this size."""

BODY_TIMEOUT_S = 60.0
"""How long the body of a chunk may pause before the service gives up on it, keeping what came (as
nginx's ``client_body_timeout``): a request whose connection the network cut without a word to the
service holds its upload no longer than this (``serve --body-timeout``)."""

SWEEP_EVERY_S = 3600
"""How often (at most) a commit sweeps abandoned partial uploads out of staging."""

SHA256_PATTERN = r"^[0-9a-f]{64}$"
RECORDING_PATTERN = r"^[0-9a-f]{8,64}$"
SEGMENT_PATTERN = r"^seg-[A-Za-z0-9._-]{1,200}\.wss$"

Sha256 = Annotated[str, PathParam(pattern=SHA256_PATTERN, description="the object's hex SHA-256")]


# -- the protocol's bodies and answers ---------------------------------------------------------------
class OrgInfo(BaseModel):
    """The organisation a device enrols in."""

    org_id: str
    public_key: str = Field(description="X25519 public key, 32 raw bytes, base64")


class EnrollRequest(BaseModel):
    """An invite token and the contributor key sealed to the organisation's public key."""

    token: str = Field(min_length=1, max_length=256, description="the one-use invite token")
    contributor_id: str = Field(pattern=CONTRIBUTOR_PATTERN,
                                description="the device's consent pseudonym, which segments carry")
    sealed_contributor_key: str = Field(min_length=1, max_length=4096,
                                        description="seal(org_public, K_c), base64")
    device_token_sha256: str | None = Field(
        None, pattern=SHA256_PATTERN,
        description="the hex SHA-256 of a device token the device made itself (32 random bytes or more): "
                    "the token never travels at enrolment, and a device whose enrolment answer was lost "
                    "learns with GET /v1/device that it is enrolled. Without it the service makes the token")


class DeviceAnswer(BaseModel):
    """The calling device's identity."""

    device_id: str
    contributor_id: str
    team: str


class EnrollAnswer(DeviceAnswer):
    """The enrolled device's identity and its token (shown once; null when the device made its own)."""

    device_token: str | None


class UploadState(BaseModel):
    """Where an upload of one object stands for the calling device."""

    received: int = Field(description="bytes of this object received from this device, not yet committed")
    stored: bool = Field(description="the object is committed for this device's contributor")
    paused: bool | None = Field(None, description="true (else absent) while the contributor has paused "
                                                  "uploads in the portal: send nothing")


class CommitRequest(BaseModel):
    """What a device says of an uploaded object when it commits it."""

    size: int = Field(ge=1, le=MAX_OBJECT_BYTES)
    wrapped_data_key: str = Field(min_length=1, max_length=1024, description="wrap(K_c, K_s), base64")
    recording_id: str = Field(pattern=RECORDING_PATTERN)
    segment: str = Field(pattern=SEGMENT_PATTERN, description="the segment's file name")
    meta: dict[str, Any] = Field(default_factory=dict, description=f"JSON, at most {MAX_META_BYTES} bytes")


class CommitAnswer(BaseModel):
    """The stored object; ``created`` is false when it was committed before (nothing changed), and
    then ``sha256`` names the object kept: a segment re-sealed anew is stored once."""

    sha256: str
    size: int
    recording_id: str
    segment: str
    created: bool


class DeleteAnswer(BaseModel):
    """A deleted recording and how many of its objects left the store now."""

    recording_id: str
    objects_removed: int


class ForgetAnswer(BaseModel):
    """An erased contributor: counts only (``workscribe org forget`` prints the same)."""

    contributor_id: str = Field(description="the id asked for")
    forgotten_at: float = Field(description="when first forgotten, seconds since the epoch")
    already_forgotten: bool = Field(description="forgotten before: this only finished what was left")
    recordings: int = Field(description="recordings of theirs tombstoned")
    segments: int = Field(description="segments of theirs whose keys are shredded")
    objects_removed: int = Field(description="objects removed from the store now")
    devices_disabled: int = Field(description="devices whose tokens stopped working now")


class Problem(BaseModel):
    """An error: one line; ``received`` where a resumed upload must continue."""

    detail: str
    received: int | None = None


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Problem} for code in codes}


# -- the app ------------------------------------------------------------------------------------------
class _Busy:
    """Which partial uploads a request is writing or committing now (one at a time each)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: set[tuple[str, str]] = set()

    @contextmanager
    def claim(self, device_id: str, sha256: str) -> Iterator[bool]:
        key = (device_id, sha256)
        with self._lock:
            got = key not in self._held
            self._held.add(key)
        try:
            yield got
        finally:
            if got:
                with self._lock:
                    self._held.discard(key)


_bearer = HTTPBearer(auto_error=False, description="the device token from enrolment")


def current_device(request: Request,
                   creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Device:
    """The device whose token the request carries (``Authorization: Bearer``); 401 otherwise."""
    catalog: Catalog = request.app.state.catalog
    device = catalog.device_by_token(creds.credentials) if creds and creds.credentials else None
    if device is None:
        raise HTTPException(401, "missing or invalid device token", headers={"WWW-Authenticate": "Bearer"})
    return device


CurrentDevice = Annotated[Device, Depends(current_device)]

_admin_bearer = HTTPBearer(auto_error=False, scheme_name="AdminToken",
                           description="the organisation's admin token (`workscribe org init` printed it)")


def current_admin(request: Request,
                  creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_admin_bearer)]) -> None:
    """Passes a request that carries the admin token (``Authorization: Bearer``; not the ``/org`` page's
    session cookie, which no destructive route takes); 401 otherwise."""
    catalog: Catalog = request.app.state.catalog
    if not (creds and creds.credentials and portal.is_admin_token(catalog, creds.credentials)):
        raise HTTPException(401, "missing or invalid admin token", headers={"WWW-Authenticate": "Bearer"})


AdminToken = Annotated[None, Depends(current_admin)]


def _problem(status: int, detail: str, received: int | None = None) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail}
    if received is not None:
        body["received"] = received
    return JSONResponse(body, status_code=status)


def _stored_as(answer: CommitAnswer, row: dict[str, Any]) -> CommitAnswer:
    """The answer to a commit of a segment catalogued already as the object of ``row``."""
    return answer.model_copy(update={"sha256": row["sha256"], "size": row["size"], "created": False})


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(422, f"{what} is not base64") from None


def create_app(data_dir: Path, log: TextIO | None = None, body_timeout_s: float = BODY_TIMEOUT_S
               ) -> FastAPI:
    """The service of the organisation in ``data_dir`` (see ``workscribe org init``).

    Args:
        data_dir: the data folder: ``staging/``, and the catalog and objects where its ``fleet.json`` says.
        log: where the access log goes, one JSON line per request (default: stderr).
        body_timeout_s: how long the body of a chunk may pause before the upload answers 408 and keeps
            what came (``BODY_TIMEOUT_S``).

    Raises:
        OrgError: no organisation in ``data_dir``.
        ServiceUnreachable: the catalog's server or the object store does not answer.
    """
    data_dir = Path(data_dir)
    catalog: Catalog = open_catalog(data_dir)
    store, staging, busy = open_store(data_dir), Staging(data_dir), _Busy()
    swept = [time.monotonic()]
    staging.sweep()

    def sweep_now_and_then() -> None:  # partial uploads abandoned for a day go, without a timer thread
        if time.monotonic() - swept[0] > SWEEP_EVERY_S:
            swept[0] = time.monotonic()
            staging.sweep()
    org = catalog.org()
    assert org is not None
    org_info = OrgInfo(org_id=org["id"], public_key=base64.b64encode(org["public_key"]).decode())

    app = FastAPI(title="workscribe fleet service", version=__version__,
                  description="Stores contributors' sealed segments and wrapped keys; reads no content.")
    app.state.response_listeners = []  # others that want each request's status (portal.mount)
    app.add_middleware(AccessLog, stream=log, listeners=app.state.response_listeners)
    app.state.catalog, app.state.store, app.state.staging = catalog, store, staging
    def mine(sha256: str, device: Device) -> bool:
        row = catalog.segment(sha256)
        return bool(row and row["contributor_id"] == device.contributor_id and row["deleted_at"] is None)

    @app.get("/v1/org", response_model=OrgInfo, tags=["org"])
    def get_org() -> OrgInfo:
        """The organisation's id and public key (anyone may ask)."""
        return org_info

    @app.post("/v1/enroll", response_model=EnrollAnswer, responses=_problems(401, 409), tags=["devices"])
    def enroll(body: EnrollRequest) -> EnrollAnswer:
        """Enrols a device with a one-use invite; a wrong, expired or used token is 401."""
        sealed = _b64(body.sealed_contributor_key, "sealed_contributor_key")
        made_here = None if body.device_token_sha256 else new_token(DEVICE_TOKEN_PREFIX)
        try:
            made = catalog.enroll(body.token, body.contributor_id, sealed, made_here,
                                  body.device_token_sha256)
        except InviteRefused:
            raise HTTPException(401, "unknown, expired or used invite token") from None
        except ContributorExists as exc:
            raise HTTPException(409, str(exc)) from None
        return EnrollAnswer(device_id=made.device.id, device_token=made.device_token,
                            contributor_id=made.device.contributor_id, team=made.device.team)

    @app.get("/v1/device", response_model=DeviceAnswer, responses=_problems(401), tags=["devices"])
    def who_am_i(device: CurrentDevice) -> DeviceAnswer:
        """The calling device's identity: how a device whose enrolment answer was lost finds it."""
        return DeviceAnswer(device_id=device.id, contributor_id=device.contributor_id, team=device.team)

    @app.get("/v1/uploads/{sha256}", response_model=UploadState, responses=_problems(401), tags=["uploads"],
             response_model_exclude_none=True)
    def upload_state(sha256: Sha256, device: CurrentDevice) -> UploadState:
        """Where an upload continues: bytes received from this device, and whether it is stored."""
        return UploadState(received=staging.received(sha256, device.id), stored=mine(sha256, device),
                           paused=portal.uploads_paused(catalog, device.contributor_id) or None)

    @app.put("/v1/uploads/{sha256}", response_model=UploadState, responses=_problems(401, 408, 409, 413, 423),
             response_model_exclude_none=True,
             tags=["uploads"], openapi_extra={"requestBody": {"required": True, "content": {
                 "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}})
    async def put_chunk(request: Request, sha256: Sha256, device: CurrentDevice,
                        offset: Annotated[int, Query(ge=0, description="must equal `received`")]) -> Any:
        """Appends the body to this device's partial upload of the object, at ``offset``."""
        if await run_in_threadpool(mine, sha256, device):
            return UploadState(received=0, stored=True)
        if await run_in_threadpool(portal.uploads_paused, catalog, device.contributor_id):
            return _problem(423, "uploads are paused in the portal")
        with busy.claim(device.id, sha256) as got:
            received = staging.received(sha256, device.id)
            if not got:
                return _problem(409, "another request is writing this upload; ask where to continue",
                                received)
            if offset != received:
                return _problem(409, f"offset {offset} is not where this upload continues", received)
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and offset + int(declared) > MAX_OBJECT_BYTES:
                staging.discard(sha256, device.id)
                return _problem(413, f"an object may hold at most {MAX_OBJECT_BYTES} bytes")
            total, pieces, buffered, cut = offset, [], 0, None
            with open(staging.path(sha256, device.id), "ab") as f:
                try:
                    async for piece in _paced(request.stream(), body_timeout_s):
                        total += len(piece)
                        if total > MAX_OBJECT_BYTES:
                            break
                        pieces.append(piece)
                        buffered += len(piece)
                        if buffered >= WRITE_BYTES:  # one write per MiB, not one per socket read
                            await run_in_threadpool(f.write, b"".join(pieces))
                            pieces, buffered = [], 0
                except ClientDisconnect:  # the device went away mid-chunk: what came stays, it resumes there
                    cut = UploadState(received=total, stored=False)  # nobody hears it; logged as 499
                except TimeoutError:  # gone without a word, or too slow: free the upload for its next try
                    cut = _problem(408, f"the body paused for more than {body_timeout_s:g} s; continue "
                                        "from received", total)
                    cut.headers["Connection"] = "close"  # the rest of this body is not read
                if pieces and total <= MAX_OBJECT_BYTES:  # what came is kept, a cut body's too
                    await run_in_threadpool(f.write, b"".join(pieces))
            if cut is not None:
                return cut
            if total > MAX_OBJECT_BYTES:
                staging.discard(sha256, device.id)
                return _problem(413, f"an object may hold at most {MAX_OBJECT_BYTES} bytes")
            return UploadState(received=total, stored=False)

    @app.post("/v1/uploads/{sha256}/commit", response_model=CommitAnswer,
              responses=_problems(400, 401, 404, 409, 410, 413, 422, 423), tags=["uploads"])
    def commit(sha256: Sha256, body: CommitRequest, device: CurrentDevice) -> Any:
        """Checks the uploaded bytes (size, hash, segment framing), stores them and catalogues them."""
        sweep_now_and_then()
        if portal.uploads_paused(catalog, device.contributor_id):
            return _problem(423, "uploads are paused in the portal")
        wrapped = _b64(body.wrapped_data_key, "wrapped_data_key")
        meta = json.dumps(body.meta, ensure_ascii=False, separators=(",", ":"))
        if len(meta.encode()) > MAX_META_BYTES:
            return _problem(413, f"meta may hold at most {MAX_META_BYTES} bytes of JSON")
        answer = CommitAnswer(sha256=sha256, size=body.size, recording_id=body.recording_id,
                              segment=body.segment, created=False)
        with busy.claim(device.id, sha256) as got:
            if not got:
                return _problem(409, "another request is writing this upload; ask where to continue",
                                staging.received(sha256, device.id))
            row = catalog.segment(sha256)
            if row is not None:
                if row["contributor_id"] != device.contributor_id:
                    staging.discard(sha256, device.id)
                    return _problem(409, "this object is stored for another contributor")
                if row["deleted_at"] is not None:
                    staging.discard(sha256, device.id)
                    return _problem(410, "this object's recording was deleted")
                staging.discard(sha256, device.id)  # committed before: nothing changes
                return answer.model_copy(update={"size": row["size"], "recording_id": row["recording_id"],
                                                 "segment": row["name"]})
            if catalog.is_tombstoned(body.recording_id, device.contributor_id):
                staging.discard(sha256, device.id)
                return _problem(410, "this recording was deleted")
            same = catalog.segment_named(device.contributor_id, body.recording_id, body.segment)
            if same is not None:  # re-sealed again (the device lost its upload state): one copy is kept
                staging.discard(sha256, device.id)
                return _stored_as(answer, same)
            part = staging.path(sha256, device.id)
            # an object stored but not catalogued (a crash between the two) is checked like an upload
            # (in a remote store the device uploads it again)
            kept = None if part.exists() else store.local_path(sha256)
            source, orphan = (kept, store.exists(sha256)) if kept is not None else (part, False)
            if not source.exists():
                return _problem(404, "nothing received for this object; upload it first", 0)
            refusal = _refusal(source, sha256, body.size)
            if refusal is not None:
                if orphan:
                    store.delete(sha256)
                else:
                    staging.discard(sha256, device.id)
                return _problem(*refusal)
            if not orphan:
                store.put_file(sha256, part)
            try:
                catalog.add_segment(sha256, device.contributor_id, body.recording_id, body.segment,
                                    body.size, wrapped, meta)
            except SegmentConflict as exc:  # erased, or the recording deleted, while this was checked
                if catalog.segment(sha256) is None:
                    store.delete(sha256)  # stored just now for nobody
                return _problem(409, str(exc))
            except AlreadyStored as exc:  # committed by another request meanwhile: this copy goes
                store.delete(sha256)
                return _stored_as(answer, exc.row)
            return answer.model_copy(update={"created": True})

    @app.delete("/v1/recordings/{recording_id}", response_model=DeleteAnswer, responses=_problems(401, 404),
                tags=["recordings"])
    def delete_recording(recording_id: Annotated[str, PathParam(pattern=RECORDING_PATTERN)],
                         device: CurrentDevice) -> DeleteAnswer:
        """Deletes one of this contributor's recordings: tombstone, wrapped keys shredded, objects removed."""
        shas = catalog.delete_recording(recording_id, device.contributor_id)
        if shas is None:
            raise HTTPException(404, "no such recording of this contributor")
        removed = sum(store.delete(sha) for sha in shas)
        return DeleteAnswer(recording_id=recording_id, objects_removed=removed)

    @app.delete("/v1/admin/contributors/{contributor_id}", response_model=ForgetAnswer,
                responses=_problems(401, 404), tags=["admin"])
    def forget_contributor(contributor_id: Annotated[str, PathParam(pattern=CONTRIBUTOR_PATTERN)],
                           _admin: AdminToken) -> ForgetAnswer:
        """Erases a contributor for good (admin token): sealed key and wrapped keys shredded, objects and
        partial uploads removed, recordings tombstoned, devices disabled. Again: finishes what was left."""
        try:
            return ForgetAnswer(**erase(catalog, store, staging, contributor_id))
        except UnknownContributor:
            raise HTTPException(404, "no such contributor") from None

    portal.mount(app, catalog, store, current_device)  # the contributor's and the organisation's pages
    return app


class _Hashing:
    """A file read through, hashing every byte read (the framing check and the hash in one pass)."""

    def __init__(self, f: BinaryIO) -> None:
        self.f, self.digest = f, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.digest.update(data)
        return data


async def _paced(stream: AsyncIterator[bytes], timeout_s: float) -> AsyncIterator[bytes]:
    """The pieces of ``stream``; ``TimeoutError`` once the next one takes more than ``timeout_s``."""
    async with aclosing(stream):
        while True:
            with anyio.fail_after(timeout_s):
                try:
                    piece = await anext(stream)
                except StopAsyncIteration:
                    return
            yield piece


def _refusal(path: Path, sha256: str, size: int) -> tuple[int, str] | None:
    """Why the bytes in ``path`` cannot be stored as object ``sha256`` of ``size`` bytes, or None."""
    actual = path.stat().st_size
    if actual != size:
        return 400, f"size mismatch: {actual} bytes received, the commit says {size}"
    with open(path, "rb", buffering=1 << 20) as f:
        reader = _Hashing(f)
        try:
            check_stream(reader)  # type: ignore[arg-type]
            framing = None
        except NotASegment as exc:
            framing = exc
        while reader.read(1 << 20):  # the rest of the bytes after damage, for the hash
            pass
    digest = reader.digest.hexdigest()
    if digest != sha256:
        return 400, f"hash mismatch: the bytes received hash to {digest[:16]}..., not to the object's name"
    if framing is not None:
        return 422, f"not a workscribe segment: {framing}"
    return None


Listener = Callable[[str, str, int], None]
"""Told of every request's answer, ``(method, route template, status)``: in a worker thread, before the
answer's first byte leaves (what it writes is there once the client has the answer), or when a request
ends without one. An error it raises is named in the request's log line and the answer goes on."""

CLIENT_CLOSED = 499
"""The status logged for a request whose client closed the connection before the answer began (as nginx
logs it): a dropped connection is the network's doing, not an error of the service."""


class AccessLog:
    """ASGI middleware: one JSON line per request (method, route template, status, ms), and each
    request's ``(method, route, status)`` to the ``listeners`` (the portal's upload health).

    A request whose client went away before the answer began is logged ``CLIENT_CLOSED`` (499), whatever
    the app made of its cut body; a ``ClientDisconnect`` it raised ends there (no 500, no traceback).
    """

    def __init__(self, app: ASGIApp, stream: TextIO | None = None, listeners: list[Listener] | None = None,
                 ) -> None:
        self.app, self.stream, self.listeners = app, stream, listeners if listeners is not None else []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status, told, failed = time.perf_counter(), [500], [False], []
        answered, gone = [False], [False]

        async def tell() -> None:  # the route is in the scope once the router matched one
            told[0] = True
            route = getattr(scope.get("route"), "path", None) or "<unmatched>"
            for listen in self.listeners:
                try:
                    await run_in_threadpool(listen, scope["method"], route, status[0])
                except Exception as exc:  # a listener never costs the answer
                    failed.append(type(exc).__name__)

        async def note_disconnect() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect" and not answered[0]:
                gone[0] = True
            return message

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered[0] = True
                status[0] = CLIENT_CLOSED if gone[0] else message["status"]
                await tell()
            await send(message)

        try:
            await self.app(scope, note_disconnect, send_status)
        except ClientDisconnect:
            status[0] = CLIENT_CLOSED
        finally:
            if not told[0]:
                await tell()
            route = getattr(scope.get("route"), "path", None) or "<unmatched>"
            line = {"t": round(time.time(), 3), "method": scope["method"], "path": route, "status": status[0],
                    "ms": round((time.perf_counter() - start) * 1000, 1)}
            if failed:
                line["listener_errors"] = failed
            print(json.dumps(line), file=self.stream or sys.stderr, flush=True)
