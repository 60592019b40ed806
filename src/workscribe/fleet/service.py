"""The organisation's HTTP service: enrolment, resumable uploads, commits and deletion (docs/fleet.md).

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
from typing import Annotated, Any, TextIO

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
from workscribe.fleet.catalog import Catalog, ContributorExists, Device, InviteRefused, SegmentConflict
from workscribe.fleet.config import open_store
from workscribe.fleet.org import DEVICE_TOKEN_PREFIX, new_token, open_catalog
from workscribe.fleet.store import Staging
from workscribe.fleet.verify import NotASegment, check_segment

MAX_OBJECT_BYTES = 512 * 1024 * 1024
"""The largest object a device may upload (a segment is cut far below this)."""
MAX_META_BYTES = 64 * 1024
"""The largest ``meta`` of a commit, as JSON."""

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
    contributor_id: str = Field(pattern="^[0-9a-f]{16}$",
                                description="the device's consent pseudonym, which segments carry")
    sealed_contributor_key: str = Field(min_length=1, max_length=4096,
                                        description="seal(org_public, K_c), base64")


class EnrollAnswer(BaseModel):
    """The enrolled device's identity and its token (shown once)."""

    device_id: str
    device_token: str
    contributor_id: str
    team: str


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
    """The stored object; ``created`` is false when it was committed before (nothing changed)."""

    sha256: str
    size: int
    recording_id: str
    segment: str
    created: bool


class DeleteAnswer(BaseModel):
    """A deleted recording and how many of its objects left the store now."""

    recording_id: str
    objects_removed: int


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


def _problem(status: int, detail: str, received: int | None = None) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail}
    if received is not None:
        body["received"] = received
    return JSONResponse(body, status_code=status)


def _b64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(422, f"{what} is not base64") from None


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def create_app(data_dir: Path, log: TextIO | None = None, body_timeout_s: float = BODY_TIMEOUT_S) -> FastAPI:
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
        try:
            made = catalog.enroll(body.token, body.contributor_id, sealed, new_token(DEVICE_TOKEN_PREFIX))
        except InviteRefused:
            raise HTTPException(401, "unknown, expired or used invite token") from None
        except ContributorExists as exc:
            raise HTTPException(409, str(exc)) from None
        return EnrollAnswer(device_id=made.device.id, device_token=made.device_token,
                            contributor_id=made.device.contributor_id, team=made.device.team)

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
            total = offset
            with open(staging.path(sha256, device.id), "ab") as f:
                try:
                    async for piece in _paced(request.stream(), body_timeout_s):
                        total += len(piece)
                        if total > MAX_OBJECT_BYTES:
                            break
                        await run_in_threadpool(f.write, piece)
                except ClientDisconnect:  # the device went away mid-chunk: what came stays, it resumes there
                    return UploadState(received=total, stored=False)  # nobody hears it; logged as 499
                except TimeoutError:  # gone without a word, or too slow: free the upload for its next try
                    answer = _problem(408, f"the body paused for more than {body_timeout_s:g} s; continue "
                                           "from received", total)
                    answer.headers["Connection"] = "close"  # the rest of this body is not read
                    return answer
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
            except SegmentConflict as exc:
                return _problem(409, str(exc))
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

    portal.mount(app, catalog, store, current_device)  # the contributor's and the organisation's pages
    return app


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
    digest = _sha256_of(path)
    if digest != sha256:
        return 400, f"hash mismatch: the bytes received hash to {digest[:16]}..., not to the object's name"
    try:
        check_segment(path)
    except NotASegment as exc:
        return 422, f"not a workscribe segment: {exc}"
    return None


Listener = Callable[[str, str, int], None]
"""Told of every answered request: ``(method, route template, status)``."""

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
        start, status, answered, gone = time.perf_counter(), [500], [False], [False]

        async def note_disconnect() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect" and not answered[0]:
                gone[0] = True
            return message

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered[0] = True
                status[0] = CLIENT_CLOSED if gone[0] else message["status"]
            await send(message)

        try:
            await self.app(scope, note_disconnect, send_status)
        except ClientDisconnect:
            status[0] = CLIENT_CLOSED
        finally:
            route = getattr(scope.get("route"), "path", None) or "<unmatched>"
            line = {"t": round(time.time(), 3), "method": scope["method"], "path": route, "status": status[0],
                    "ms": round((time.perf_counter() - start) * 1000, 1)}
            print(json.dumps(line), file=self.stream or sys.stderr, flush=True)
            for listen in self.listeners:
                listen(scope["method"], route, status[0])
