"""The service's web pages: a contributor's own uploads, and the organisation's aggregates (docs/fleet.md).

``mount(app, catalog, store)`` adds them to the service. A contributor opens ``/portal`` through a
one-time link that ``POST /v1/portal-links`` gives their device: opening it sets a session cookie for
that contributor only (HttpOnly, SameSite=Strict) and uses the link up. The page lists the
contributor's recordings with the summaries their device sent (``fleet/summary.py``), a delete button
per recording and a pause-uploads switch. The organisation's page ``/org`` (admin token, through a
form that sets an admin session cookie) and ``GET /v1/org/aggregates`` show aggregates only: hours,
steps and segments per app and per team, each group shown only when at least ``K_ANONYMITY``
distinct contributors are in it, stored bytes and upload health (commits by answer status per hour, kept
in the catalog's ``upload_health`` with no device or contributor in it, so a restart loses none). No route
answers the admin with a contributor's rows or ids. Pages are server-rendered HTML without scripts or
external assets.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

import sqlalchemy as sa
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from workscribe.fleet.catalog import (
    Catalog,
    Device,
    contributors,
    metadata,
    segments,
    token_sha256,
    tombstones,
)
from workscribe.fleet.org import new_token
from workscribe.fleet.store import ObjectStore

K_ANONYMITY = 5
"""A group (an app, a team) is shown to the organisation only with at least this many contributors."""
LINK_TTL_S = 600
"""A portal link works once, within ten minutes."""
SESSION_TTL_S = 3600
"""A contributor's portal session lasts an hour."""
ADMIN_SESSION_TTL_S = 8 * 3600
PORTAL_TOKEN_PREFIX = "wsp_"
SESSION_TOKEN_PREFIX = "wss_"
PORTAL_COOKIE = "ws_portal"
ORG_COOKIE = "ws_org"
HEALTH_WINDOW_S = 86400
"""Upload health covers the last day: the current hour's counts and those of the 23 hours before it."""
HEALTH_KEEP_S = 3 * 86400
"""Hourly commit counts older than this leave the catalog (when the service starts, and with each new
hour's first count of a status)."""
CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"

portal_links = sa.Table(
    "portal_links", metadata,
    sa.Column("token_sha256", sa.String(64), primary_key=True),
    sa.Column("contributor_id", sa.String(32), sa.ForeignKey("contributors.id"), nullable=False),
    sa.Column("expires", sa.Float, nullable=False),
    sa.Column("used_at", sa.Float, nullable=True),
)
web_sessions = sa.Table(
    "web_sessions", metadata,
    sa.Column("token_sha256", sa.String(64), primary_key=True),
    sa.Column("contributor_id", sa.String(32), nullable=True),  # NULL: the organisation's admin
    sa.Column("expires", sa.Float, nullable=False),
)
contributor_settings = sa.Table(
    "contributor_settings", metadata,
    sa.Column("contributor_id", sa.String(32), sa.ForeignKey("contributors.id"), primary_key=True),
    sa.Column("uploads_paused", sa.Boolean, nullable=False),
    sa.Column("updated", sa.Float, nullable=False),
)
upload_health = sa.Table(  # aggregate only: no device, contributor, object or recording
    "upload_health", metadata,
    sa.Column("hour", sa.Integer, primary_key=True, autoincrement=False),  # whole hours since the epoch (UTC)
    sa.Column("status", sa.Integer, primary_key=True, autoincrement=False),  # the commit's answer status
    sa.Column("commits", sa.Integer, nullable=False),
)
TABLES = [portal_links, web_sessions, contributor_settings, upload_health]


# -- the catalog's part ---------------------------------------------------------------------------
def create_tables(catalog: Catalog) -> None:
    """Adds the portal's tables to a catalog made before them."""
    metadata.create_all(catalog.engine, tables=TABLES)


def new_link(catalog: Catalog, contributor_id: str, ttl_s: float = LINK_TTL_S) -> tuple[str, float]:
    """A one-time portal link token for the contributor and when it expires."""
    token, expires = new_token(PORTAL_TOKEN_PREFIX), time.time() + ttl_s
    with catalog.begin() as conn:
        conn.execute(portal_links.delete().where(portal_links.c.expires < time.time()))
        conn.execute(portal_links.insert().values(token_sha256=token_sha256(token),
                                                  contributor_id=contributor_id, expires=expires))
    return token, expires


def use_link(catalog: Catalog, token: str) -> str | None:
    """Uses the link up: a new session token of its contributor, or None (unknown, used, expired)."""
    digest, now = token_sha256(token), time.time()
    with catalog.begin() as conn:
        found = conn.execute(sa.select(portal_links).where(portal_links.c.token_sha256 == digest))
        row = found.mappings().first()
        if row is None or not hmac.compare_digest(row["token_sha256"], digest):
            return None
        claimed = conn.execute(portal_links.update().where(
            portal_links.c.token_sha256 == digest, portal_links.c.used_at.is_(None),
            portal_links.c.expires > now).values(used_at=now))
        if claimed.rowcount != 1:
            return None
        alive = conn.execute(sa.select(contributors.c.id).where(
            contributors.c.id == row["contributor_id"], contributors.c.forgotten_at.is_(None))).first()
        if alive is None:
            return None
    return _new_session(catalog, row["contributor_id"], SESSION_TTL_S)


def _new_session(catalog: Catalog, contributor_id: str | None, ttl_s: float) -> str:
    token = new_token(SESSION_TOKEN_PREFIX)
    with catalog.begin() as conn:
        conn.execute(web_sessions.delete().where(web_sessions.c.expires < time.time()))
        conn.execute(web_sessions.insert().values(token_sha256=token_sha256(token),
                                                  contributor_id=contributor_id, expires=time.time() + ttl_s))
    return token


def session_of(catalog: Catalog, token: str | None) -> tuple[bool, str | None] | None:
    """``(True, None)`` for an admin session, ``(False, contributor_id)`` for a contributor's; None."""
    if not token:
        return None
    digest = token_sha256(token)
    with catalog.engine.connect() as conn:
        row = conn.execute(sa.select(web_sessions).where(
            web_sessions.c.token_sha256 == digest, web_sessions.c.expires > time.time())).mappings().first()
    if row is None or not hmac.compare_digest(row["token_sha256"], digest):
        return None
    return (row["contributor_id"] is None, row["contributor_id"])


def uploads_paused(catalog: Catalog, contributor_id: str) -> bool:
    """True while the contributor has paused uploads in the portal."""
    with catalog.engine.connect() as conn:
        row = conn.execute(sa.select(contributor_settings.c.uploads_paused).where(
            contributor_settings.c.contributor_id == contributor_id)).first()
    return bool(row and row[0])


def set_paused(catalog: Catalog, contributor_id: str, paused: bool) -> None:
    """Pauses or resumes the contributor's uploads."""
    with catalog.begin() as conn:
        done = conn.execute(contributor_settings.update().where(
            contributor_settings.c.contributor_id == contributor_id).values(uploads_paused=paused,
                                                                          updated=time.time()))
        if done.rowcount == 0:
            conn.execute(contributor_settings.insert().values(contributor_id=contributor_id,
                                                              uploads_paused=paused, updated=time.time()))


def is_admin_token(catalog: Catalog, token: str) -> bool:
    """True if ``token`` is the organisation's admin token."""
    org = catalog.org()
    return bool(org and token and hmac.compare_digest(org["admin_token_sha256"], token_sha256(token)))


def _meta(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def own_recordings(catalog: Catalog, contributor_id: str) -> list[dict[str, Any]]:
    """The contributor's stored recordings, newest first, each with its segments' summaries merged."""
    query = sa.select(segments.c.recording_id, segments.c.size, segments.c.meta, segments.c.created).where(
        segments.c.contributor_id == contributor_id, segments.c.deleted_at.is_(None))
    with catalog.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        rec = out.setdefault(row["recording_id"], {
            "recording_id": row["recording_id"], "segments": 0, "bytes": 0, "start": None, "duration_s": 0.0,
            "episodes": 0, "actions": 0, "apps": Counter(), "uploaded": row["created"]})
        meta = _meta(row["meta"])
        rec["segments"] += 1
        rec["bytes"] += row["size"]
        rec["uploaded"] = max(rec["uploaded"], row["created"])
        start = meta.get("start")
        if isinstance(start, int | float) and (rec["start"] is None or start < rec["start"]):
            rec["start"] = start
        rec["duration_s"] += _num(meta.get("duration_s"))
        rec["episodes"] += int(_num(meta.get("episodes")))
        rec["actions"] += int(_num(meta.get("actions")))
        for app, got in _apps(meta):
            rec["apps"][app] += _num(got.get("s"))
    return sorted(out.values(), key=lambda r: -(r["start"] or r["uploaded"]))


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _apps(meta: dict[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    apps = meta.get("apps")
    if isinstance(apps, dict):
        for name, got in apps.items():
            if isinstance(got, dict):
                yield str(name)[:64], got


def aggregates(catalog: Catalog, k: int = K_ANONYMITY) -> dict[str, Any]:
    """The organisation's view: groups of at least ``k`` contributors, totals and upload health."""
    query = (sa.select(segments.c.contributor_id, segments.c.size, segments.c.meta, segments.c.created,
                       contributors.c.team)
             .join(contributors, contributors.c.id == segments.c.contributor_id)
             .where(segments.c.deleted_at.is_(None)))
    day_ago = time.time() - HEALTH_WINDOW_S
    with catalog.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
        deleted = conn.execute(sa.select(sa.func.count()).select_from(tombstones)
                               .where(tombstones.c.at > day_ago)).scalar_one()
    return summarise(rows, k) | {"health": {
        "commits_by_status_last_day": commits_last_day(catalog),
        "segments_stored_last_day": sum(1 for r in rows if r["created"] > day_ago),
        "recordings_deleted_last_day": deleted}}


def summarise(rows: Iterable[Any], k: int = K_ANONYMITY) -> dict[str, Any]:
    """Pure: rows of ``contributor_id, team, size, meta`` -> groups by app and team with ``k`` or more
    distinct contributors (the others counted as hidden, never listed), and totals."""
    groups: dict[str, dict[str, dict[str, Any]]] = {"apps": {}, "teams": {}}
    total = {"bytes": 0, "segments": 0, "hours": 0.0, "steps": 0}
    people: set[str] = set()

    def add(kind: str, name: str, who: str, seconds: float, steps: float, size: int) -> None:
        g = groups[kind].setdefault(name, {"name": name, "who": set(), "hours": 0.0, "steps": 0,
                                           "segments": 0, "bytes": 0})
        g["who"].add(who)
        g["hours"] += seconds / 3600
        g["steps"] += int(steps)
        g["segments"] += 1
        g["bytes"] += size

    for row in rows:
        meta, who = _meta(row["meta"]), row["contributor_id"]
        people.add(who)
        total["bytes"] += row["size"]
        total["segments"] += 1
        total["hours"] += _num(meta.get("duration_s")) / 3600
        total["steps"] += int(_num(meta.get("actions")))
        add("teams", row["team"], who, _num(meta.get("duration_s")), _num(meta.get("actions")), row["size"])
        for app, got in _apps(meta):
            add("apps", app, who, _num(got.get("s")), _num(got.get("actions")), 0)
    out: dict[str, Any] = {"k": k, "hidden": {}}
    for kind, found in groups.items():
        shown = [g for g in found.values() if len(g["who"]) >= k]
        out[kind] = [{"name": g["name"], "contributors": len(g["who"]), "hours": round(g["hours"], 3),
                      "steps": g["steps"], "segments": g["segments"],
                      **({"bytes": g["bytes"]} if kind == "teams" else {})}
                     for g in sorted(shown, key=lambda g: (-g["hours"], g["name"]))]
        out["hidden"][kind] = len(found) - len(shown)
    out["totals"] = {**total, "hours": round(total["hours"], 3),
                     "contributors": len(people) if len(people) >= k else None}
    return out


# -- upload health ------------------------------------------------------------------------------------
COMMIT_ROUTE = "/v1/uploads/{sha256}/commit"
"""The route whose statuses make the upload health (commits in the last day)."""


def _hour(now: float | None) -> int:
    return int((time.time() if now is None else now) // 3600)


def _stale(hour: int) -> sa.ColumnElement[bool]:
    return upload_health.c.hour < hour - HEALTH_KEEP_S // 3600


def count_commit(catalog: Catalog, status: int, now: float | None = None) -> None:
    """Adds one commit answered with ``status`` to the current hour's count (one small write); the hour's
    first count of a status also prunes counts older than ``HEALTH_KEEP_S``."""
    hour = _hour(now)
    bucket = (upload_health.c.hour == hour, upload_health.c.status == status)
    for _ in range(2):
        with catalog.begin() as conn:
            added = conn.execute(upload_health.update().where(*bucket)
                                 .values(commits=upload_health.c.commits + 1))
            if added.rowcount:
                return
        try:
            with catalog.begin() as conn:
                conn.execute(upload_health.insert().values(hour=hour, status=status, commits=1))
                conn.execute(upload_health.delete().where(_stale(hour)))
            return
        except sa.exc.IntegrityError:  # another request made this hour's row first: add to that
            continue


def prune_health(catalog: Catalog, now: float | None = None) -> None:
    """Removes hourly commit counts older than ``HEALTH_KEEP_S``."""
    with catalog.begin() as conn:
        conn.execute(upload_health.delete().where(_stale(_hour(now))))


def commits_last_day(catalog: Catalog, now: float | None = None) -> dict[str, int]:
    """Commits by answer status (as text) in the current hour and the 23 before it."""
    since = _hour(now) - HEALTH_WINDOW_S // 3600 + 1
    query = (sa.select(upload_health.c.status, sa.func.sum(upload_health.c.commits))
             .where(upload_health.c.hour >= since).group_by(upload_health.c.status))
    with catalog.engine.connect() as conn:
        counts = {str(status): int(n) for status, n in conn.execute(query)}
    return dict(sorted(counts.items()))


# -- pages --------------------------------------------------------------------------------------------
def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    text = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse}}
td,th{{border-bottom:1px solid #ccc;padding:.3em .8em;text-align:left}}.num{{text-align:right}}
form.inline{{display:inline}}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"""
    return HTMLResponse(text, status, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store",
                                               "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"})


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _when(t: float | None) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC") if t else "?"


def _csrf(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"workscribe-portal-form", hashlib.sha256).hexdigest()[:32]


def _set_cookie(response: Response, request: Request, name: str, value: str, ttl_s: int) -> None:
    response.set_cookie(name, value, max_age=ttl_s, httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")


def _e(value: Any) -> str:
    return html.escape(str(value))


def contributor_page(recordings: list[dict[str, Any]], paused: bool, csrf: str) -> str:
    """The body of a contributor's portal page."""
    switch = (f'<form method="post" action="/portal/pause" class="inline"><input type="hidden" name="csrf" '
              f'value="{csrf}"><input type="hidden" name="paused" value="{0 if paused else 1}">'
              f'<button id="pause" type="submit">{"Resume uploads" if paused else "Pause uploads"}</button>'
              f'</form>')
    state = "paused: your devices upload nothing until you resume" if paused else "on"
    rows = []
    for r in recordings:
        apps = ", ".join(f"{_e(a)} ({s / 60:.0f} min)" for a, s in r["apps"].most_common()) or "-"
        rows.append(
            f'<tr class="recording" data-recording="{_e(r["recording_id"])}"><td>{_when(r["start"])}</td>'
            f'<td><code>{_e(r["recording_id"][:12])}</code></td>'
            f'<td class="num">{r["duration_s"] / 60:.1f} min</td>'
            f'<td class="num">{r["episodes"]}</td><td class="num">{r["actions"]}</td><td>{apps}</td>'
            f'<td class="num">{r["segments"]}</td><td class="num">{_size(r["bytes"])}</td>'
            f'<td><form method="post" class="inline" '
            f'action="/portal/recordings/{_e(r["recording_id"])}/delete">'
            f'<input type="hidden" name="csrf" value="{csrf}"><button type="submit" class="delete">Delete'
            f'</button></form></td></tr>')
    table = ("<table><tr><th>Started</th><th>Session</th><th>Length</th><th>Episodes</th><th>Actions</th>"
             "<th>Apps</th><th>Segments</th><th>Stored</th><th></th></tr>" + "".join(rows) + "</table>"
             if rows else "<p id=\"empty\">Nothing uploaded.</p>")
    total = sum(r["bytes"] for r in recordings)
    return (f'<p>Only you see this page. Uploads: <b id="upload-state">{state}</b> {switch}</p>'
            f"<p>{len(recordings)} sessions, {_size(total)} stored. Deleting a session removes its "
            f"segments and keys from the service for good.</p>{table}")


def org_page(agg: dict[str, Any]) -> str:
    """The body of the organisation's page: aggregates only."""
    parts = [f"<p>Groups of fewer than {agg['k']} contributors are not shown.</p>"]
    for kind, title in (("apps", "Per app"), ("teams", "Per team")):
        rows = "".join(f'<tr class="group"><td>{_e(g["name"])}</td><td class="num">{g["hours"]:.2f}</td>'
                       f'<td class="num">{g["steps"]}</td><td class="num">{g["segments"]}</td>'
                       f'<td class="num">{g["contributors"]}</td></tr>' for g in agg[kind])
        hidden = agg["hidden"][kind]
        parts.append(f'<h2>{title}</h2><table id="{kind}"><tr><th>Name</th><th>Hours</th><th>Steps</th>'
                     f'<th>Segments</th><th>Contributors</th></tr>{rows}</table>'
                     f'<p class="hidden-{kind}">{hidden} {"group" if hidden == 1 else "groups"} hidden</p>')
    t, h = agg["totals"], agg["health"]
    parts.append(f'<h2>Dataset</h2><p id="totals">{_size(t["bytes"])} stored in {t["segments"]} segments, '
                 f'{t["hours"]:.2f} hours, {t["steps"]} steps.</p>')
    commits = ", ".join(f"{_e(s)}: {n}" for s, n in h["commits_by_status_last_day"].items()) or "none"
    parts.append(f'<h2>Upload health (last day)</h2><p id="health">commits by status: {commits}; segments '
                 f'stored: {h["segments_stored_last_day"]}; recordings deleted: '
                 f'{h["recordings_deleted_last_day"]}</p>')
    return "".join(parts)


LOGIN_FORM = ('<form method="post" action="/org/login"><label>Admin token <input type="password" '
              'name="token" id="token" autocomplete="off"></label> <button type="submit" id="login">Sign in'
              '</button></form>')


class PortalLink(BaseModel):
    """A one-time link to the contributor's portal page."""

    url: str
    expires: float = Field(description="seconds since the epoch; the link works once, until then")


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body())[:8192].decode(errors="replace")
    return {k: v[0] for k, v in parse_qs(body).items()}


_admin_bearer = HTTPBearer(auto_error=False, description="the organisation's admin token")


def mount(app: FastAPI, catalog: Catalog, store: ObjectStore, device: Any) -> None:
    """Adds the portal's pages and routes to the service ``app``; ``device`` is its device dependency."""
    create_tables(catalog)
    prune_health(catalog)

    def note_commit(method: str, route: str, status: int) -> None:
        if method == "POST" and route == COMMIT_ROUTE:
            count_commit(catalog, status)

    app.state.response_listeners.append(note_commit)  # the access log tells of each answer before it leaves

    def contributor_of(request: Request) -> tuple[str, str] | None:
        token = request.cookies.get(PORTAL_COOKIE)
        found = session_of(catalog, token)
        return (found[1], token) if found and not found[0] and found[1] and token else None

    def is_admin(request: Request, creds: HTTPAuthorizationCredentials | None) -> bool:
        if creds and creds.credentials and is_admin_token(catalog, creds.credentials):
            return True
        found = session_of(catalog, request.cookies.get(ORG_COOKIE))
        return bool(found and found[0])

    @app.post("/v1/portal-links", response_model=PortalLink, tags=["portal"], responses={401: {}})
    def portal_link(request: Request, dev: Device = Depends(device)) -> PortalLink:  # noqa: B008 (a local)
        """A one-time, short-lived link that opens this device's contributor's portal page."""
        token, expires = new_link(catalog, dev.contributor_id)
        return PortalLink(url=f"{str(request.base_url).rstrip('/')}/portal/open/{token}", expires=expires)

    @app.get("/portal/open/{token}", response_class=HTMLResponse, tags=["portal"])
    def open_link(request: Request, token: Annotated[str, PathParam(pattern=r"^wsp_[A-Za-z0-9_-]{20,100}$")]
                  ) -> Response:
        """Uses a portal link up and starts the contributor's session (cookie); 404 if used or expired."""
        session = use_link(catalog, token)
        if session is None:
            return _page("Link not valid", "<p>This link was used already or has expired. Run "
                         "<code>workscribe portal</code> on your device for a new one.</p>", 404)
        response = RedirectResponse("/portal", 303)
        _set_cookie(response, request, PORTAL_COOKIE, session, SESSION_TTL_S)
        return response

    @app.get("/portal", response_class=HTMLResponse, tags=["portal"])
    def portal(request: Request) -> Response:
        """The contributor's own uploads (session cookie from a portal link)."""
        who = contributor_of(request)
        if who is None:
            return _page("Sign in", "<p>Open the link that <code>workscribe portal</code> prints on your "
                         "device.</p>", 401)
        body = contributor_page(own_recordings(catalog, who[0]), uploads_paused(catalog, who[0]),
                                _csrf(who[1]))
        return _page("Your uploads", body)

    async def checked(request: Request) -> tuple[str, dict[str, str]]:
        who = await run_in_threadpool(contributor_of, request)
        if who is None:
            raise HTTPException(401, "no portal session; open a new link from `workscribe portal`")
        form = await _form(request)
        if not hmac.compare_digest(form.get("csrf", ""), _csrf(who[1])):
            raise HTTPException(403, "this form is not from your portal page")
        return who[0], form

    @app.post("/portal/recordings/{recording_id}/delete", tags=["portal"],
              responses={401: {}, 403: {}, 404: {}})
    async def portal_delete(request: Request,
                            recording_id: Annotated[str, PathParam(pattern=r"^[0-9a-f]{8,64}$")]) -> Response:
        """Deletes one of the contributor's recordings (as ``DELETE /v1/recordings/{id}``)."""
        contributor_id, _ = await checked(request)
        shas = await run_in_threadpool(catalog.delete_recording, recording_id, contributor_id)
        if shas is None:
            raise HTTPException(404, "no such recording of yours")
        for sha in shas:
            await run_in_threadpool(store.delete, sha)
        return RedirectResponse("/portal", 303)

    @app.post("/portal/pause", tags=["portal"], responses={401: {}, 403: {}})
    async def portal_pause(request: Request) -> Response:
        """Pauses (``paused=1``) or resumes (``paused=0``) the contributor's uploads."""
        contributor_id, form = await checked(request)
        await run_in_threadpool(set_paused, catalog, contributor_id, form.get("paused") == "1")
        return RedirectResponse("/portal", 303)

    @app.get("/org", response_class=HTMLResponse, tags=["org"])
    def org(request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_admin_bearer)]
            ) -> Response:
        """The organisation's aggregates (admin session or token); a sign-in form otherwise."""
        if not is_admin(request, creds):
            return _page("Organisation", LOGIN_FORM, 401)
        return _page("Organisation", org_page(aggregates(catalog)))

    @app.post("/org/login", tags=["org"], responses={401: {}})
    async def org_login(request: Request) -> Response:
        """Signs the admin in with the admin token (form field ``token``): an admin session cookie."""
        token = (await _form(request)).get("token", "")
        if not await run_in_threadpool(is_admin_token, catalog, token):
            return _page("Organisation", "<p>Wrong admin token.</p>" + LOGIN_FORM, 401)
        response = RedirectResponse("/org", 303)
        _set_cookie(response, request, ORG_COOKIE, await run_in_threadpool(
            _new_session, catalog, None, ADMIN_SESSION_TTL_S), ADMIN_SESSION_TTL_S)
        return response

    @app.get("/v1/org/aggregates", tags=["org"], responses={401: {}})
    def org_aggregates(request: Request,
                       creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_admin_bearer)]
                       ) -> dict[str, Any]:
        """The organisation's page as JSON: groups of at least K contributors, totals, upload health."""
        if not is_admin(request, creds):
            raise HTTPException(401, "missing or invalid admin token", headers={"WWW-Authenticate": "Bearer"})
        return aggregates(catalog)
