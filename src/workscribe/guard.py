"""Consent and scope: what may be recorded, decided before anything is captured or stored.

A consent record says who granted what, when, under which policy version: the apps whose windows
may be recorded, the sites whose pages may be, the sources that may run, how long data is kept.
``workscribe record`` refuses to start without a valid one. ``AppMatcher`` decides for each window
whether its app is in scope, ``SiteMatcher`` for each page URL whether its site is.

Repos apply to the coding sources (``shell``, ``shell-output``, ``files``, ``git``): granting any of
them needs ``--repos`` (git work trees), and ``--repos`` needs one of them. A shell command is kept only
when its working directory, before or after it ran, is inside a granted repo; file edits and git
events are watched only there. These sources need no display and no app: a consent of only them
records without X.

Sites apply through the ``browser`` source, which is the only one that knows what a browser window
shows: granting ``browser`` needs ``--sites`` (``*`` for every site), and ``--sites`` needs
``browser``. With them, a browser window is in scope only while the page it shows is known to be
within the sites (Chromium-family browsers with DevTools on loopback); windows of other browsers,
whose pages cannot be checked, are out of scope.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import json
import os
import secrets
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from workscribe import paths
from workscribe.events import Event
from workscribe.secure import password_manager, secure_window

POLICY_VERSION = "2026-11-1"
"""Version of the recording policy a contributor agrees to; stored in every consent and segment."""

SOURCES = ("input", "screen", "window", "browser", "shell", "shell-output", "files", "git")
"""Sources this version can record. ``shell-output`` adds the tail of each command's output to
``shell`` (it needs ``shell``)."""

GUI_SOURCES = ("input", "screen", "window", "browser")
"""Sources that watch the X display; they are scoped by ``apps`` (and ``sites``)."""

CODING_SOURCES = ("shell", "shell-output", "files", "git")
"""Sources of coding work; they are scoped by ``repos`` and need no display."""

CONSENT_FILE = "consent.json"
DEVICE_KEY_FILE = "device.key"


class ConsentError(ValueError):
    """No valid consent, or a consent request that cannot be granted as asked."""


class WindowLike(Protocol):
    """What scope decisions need to know about a window."""

    instance: str
    cls: str
    process: str | None


@dataclass
class Consent:
    """One contributor's grant of scope."""

    contributor_id: str  # pseudonym: HMAC-SHA256(device key, user name); the name is not stored
    granted_at: str  # ISO 8601, UTC
    apps: list[str]  # allowed apps: WM_CLASS instance or class, or process name; "*" = every app
    sources: list[str]  # allowed sources, a subset of SOURCES
    sites: list[str] = field(default_factory=list)  # allowed sites (SiteMatcher patterns); needs "browser"
    repos: list[str] = field(default_factory=list)  # allowed git work trees (absolute); needs a coding source
    retention_days: int = 30  # segments older than this are deleted
    policy_version: str = POLICY_VERSION  # the policy text the contributor agreed to
    revoked_at: str | None = None  # set by `workscribe consent revoke`
    extra: dict[str, Any] = field(default_factory=dict)  # forward-compatible fields

    def __post_init__(self) -> None:
        unknown = [s for s in self.sources if s not in SOURCES]
        if unknown:
            raise ConsentError(f"unknown source(s) {', '.join(unknown)}; choose from {', '.join(SOURCES)}")
        if not self.sources:
            raise ConsentError("no sources granted; pass --sources, e.g. --sources input,screen,window")
        gui = [s for s in self.sources if s in GUI_SOURCES]
        coding = [s for s in self.sources if s in CODING_SOURCES]
        if gui and not self.apps:
            raise ConsentError(f"no apps granted for {', '.join(gui)}; pass --apps, e.g. --apps xterm,code "
                               "(or '*' for all)")
        if self.apps and not gui:
            raise ConsentError("--apps scopes the input, screen, window and browser sources; add one to "
                               "--sources or leave --apps out")
        if coding and not self.repos:
            raise ConsentError(f"{', '.join(coding)} need repos; pass --repos, e.g. --repos ~/src/app")
        if self.repos and not coding:
            raise ConsentError("--repos scopes the shell, files and git sources; add one to --sources")
        if "shell-output" in self.sources and "shell" not in self.sources:
            raise ConsentError("shell-output adds output to the shell source; add shell to --sources")
        if self.retention_days <= 0:
            raise ConsentError(f"retention must be at least 1 day, got {self.retention_days}")
        if "browser" in self.sources and not self.sites:
            raise ConsentError("the browser source needs sites; pass --sites, e.g. --sites "
                               "localhost,*.example.com (or '*' for every site)")
        if self.sites and "browser" not in self.sources:
            raise ConsentError("--sites is enforced through the browser source; add browser to --sources")
        for pattern in self.sites:
            SiteMatcher.check(pattern)

    @property
    def active(self) -> bool:
        """True until revoked."""
        return self.revoked_at is None

    def scope(self) -> dict[str, Any]:
        """The part of the consent stored in every segment header."""
        scope = {"contributor_id": self.contributor_id, "apps": self.apps, "sources": self.sources,
                 "policy_version": self.policy_version, "retention_days": self.retention_days}
        if self.sites:
            scope["sites"] = self.sites
        if self.repos:
            from workscribe.redact.identity import redact_private

            scope["repos"] = [redact_private(r) for r in self.repos]  # ~/src/app: no home path in segments
        return scope

    @property
    def gui(self) -> bool:
        """True when a source that watches the display is granted (the recorder then needs X)."""
        return any(s in GUI_SOURCES for s in self.sources)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def device_key(home: Path | None = None) -> bytes:
    """The per-device secret (owner-only file), created on first use."""
    path = (home or paths.home()) / DEVICE_KEY_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    return path.read_bytes()


def pseudonym(user: str, key: bytes) -> str:
    """HMAC-SHA256(key, user), hex, shortened to 16 characters: not reversible without the key."""
    return hmac.new(key, user.encode(), hashlib.sha256).hexdigest()[:16]


def check_repos(repos: list[str]) -> list[str]:
    """The absolute top folders of the git work trees ``repos`` (``~`` expanded), or ``ConsentError``."""
    import subprocess

    out = []
    for repo in repos:
        path = Path(os.path.expanduser(repo.strip())).resolve()
        if not path.is_dir():
            raise ConsentError(f"repo {repo!r} is not a folder")
        try:
            top = subprocess.run(["git", "-C", str(path), "rev-parse", "--show-toplevel"],
                                 capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConsentError(f"cannot run git to check repo {repo!r}: {exc}") from None
        if top.returncode != 0:
            raise ConsentError(f"repo {repo!r} is not a git work tree (git init it, or grant its top folder)")
        out.append(str(Path(top.stdout.strip()).resolve()))
    return sorted(set(out))


def grant(apps: list[str], sources: list[str], retention_days: int = 30,
          home: Path | None = None, sites: list[str] | None = None,
          repos: list[str] | None = None) -> Consent:
    """Writes a new consent record, replacing any earlier one (``repos`` must be git work trees)."""
    home = home or paths.home()
    consent = Consent(
        contributor_id=pseudonym(getpass.getuser(), device_key(home)),
        granted_at=_now_iso(),
        apps=sorted({a.strip() for a in apps if a.strip()}, key=str.lower),
        sources=sorted({x.strip() for x in sources if x.strip()},
                       key=lambda s: SOURCES.index(s) if s in SOURCES else len(SOURCES)),
        sites=sorted({x.strip() for x in sites or [] if x.strip()}, key=str.lower),
        repos=check_repos(repos or []),
        retention_days=retention_days,
    )
    _write(home / CONSENT_FILE, asdict(consent))
    return consent


def revoke(home: Path | None = None) -> Consent:
    """Marks the consent revoked; a running recorder stops at its next check."""
    home = home or paths.home()
    consent = load(home)
    if consent is None or not consent.active:
        raise ConsentError("no active consent to revoke")
    consent.revoked_at = _now_iso()
    _write(home / CONSENT_FILE, asdict(consent))
    return consent


def load(home: Path | None = None) -> Consent | None:
    """The stored consent (active or revoked), or None if none was ever granted."""
    path = (home or paths.home()) / CONSENT_FILE
    if not path.exists():
        return None
    try:
        return Consent(**json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise ConsentError(f"consent record {path} is damaged ({exc}); grant consent again") from None


def require(home: Path | None = None) -> Consent:
    """The active consent, or ``ConsentError`` saying why recording may not start."""
    consent = load(home)
    if consent is None:
        raise ConsentError("no consent granted; run `workscribe consent grant --apps ... --sources ...`")
    if not consent.active:
        raise ConsentError(f"consent was revoked at {consent.revoked_at}; grant it again to record")
    return consent


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class AppMatcher:
    """Decides whether a window belongs to an allowed app.

    An entry matches the window's WM_CLASS instance, its WM_CLASS class, or its process name,
    case-insensitively; ``*`` matches every window.
    """

    def __init__(self, apps: list[str]) -> None:
        self._all = "*" in apps
        self._apps = {a.lower(): a for a in apps if a != "*"}

    def match(self, window: WindowLike | None) -> str | None:
        """The allowlist entry that admits ``window``, or None if it is out of scope."""
        if window is None:
            return None
        for name in (window.instance, window.cls, window.process):
            if name and name.lower() in self._apps:
                return self._apps[name.lower()]
        if self._all:
            return window.cls or window.instance or window.process or "*"
        return None


class SiteMatcher:
    """Decides whether a page URL belongs to an allowed site.

    A pattern without ``://`` names a host: ``localhost`` or ``example.com`` matches that host
    (any scheme, any port), ``*.example.com`` matches example.com and every subdomain, ``host:8080``
    only that port. A pattern with ``://`` is matched against the whole URL, ``*`` matching any
    characters (``file:///srv/miniwob/*``, ``https://example.com/app/*``); one that ends at the host
    (``https://example.com``) covers every path there. ``*`` alone matches every URL. Case is ignored.
    """

    def __init__(self, patterns: list[str]) -> None:
        for pattern in patterns:
            self.check(pattern)
        self._all = "*" in patterns
        self._hosts = [p.lower() for p in patterns if "://" not in p and p != "*"]
        self._urls = [self._url_pattern(p.lower()) for p in patterns if "://" in p]

    @staticmethod
    def check(pattern: str) -> None:
        """Raises ``ConsentError`` for a pattern that cannot be a site."""
        if not pattern or any(c.isspace() for c in pattern) or pattern.startswith("://"):
            raise ConsentError(f"site pattern {pattern!r} is not a host (example.com, *.example.com) "
                               "or a URL pattern (https://example.com/app/*, file:///path/*)")

    @staticmethod
    def _url_pattern(pattern: str) -> str:
        rest = pattern.split("://", 1)[1]
        return pattern + "/*" if rest and "/" not in rest and not rest.endswith("*") else pattern

    def match(self, url: str) -> bool:
        """True if ``url`` is within one of the sites."""
        from fnmatch import fnmatchcase
        from urllib.parse import urlsplit

        if self._all:
            return True
        url = (url or "").lower()
        if any(fnmatchcase(url, p) or (p.endswith("/*") and url == p[:-2]) for p in self._urls):
            return True
        try:
            parts = urlsplit(url)
            host, port = parts.hostname or "", parts.port
        except ValueError:
            return False
        if not host or parts.scheme not in ("http", "https", "ws", "wss"):
            return False
        for pattern in self._hosts:
            name, _, want_port = pattern.partition(":")
            if want_port and str(port or "") != want_port:
                continue
            if host == name or (name.startswith("*.") and (host == name[2:] or host.endswith(name[1:]))):
                return True
        return False


Rect = tuple[int, int, int, int]


class Guard:
    """Scope decisions for one recording: which events may be kept, and the gaps in between.

    Keyboard input is in scope when the active window is allowed. Pointer input is in scope when
    the window under the pointer is allowed (a click that activates an allowed window is kept), and
    a release is kept when its press was; a kept press or scroll carries that window (``id``, ``title``,
    ``app``) in ``data["window"]``, as it may not be the active one. Nothing is kept while paused.
    While the active window is out of scope, or the recorder is paused, only a ``guard/gap`` event
    with start and end is kept.

    When the consent has sites, a browser window counts as allowed only while the browser source
    has reported (``on_page``) that the page it shows is within them; ``browser`` events are kept
    only for such pages.

    Shell commands, file edits and git events do not depend on windows: they are kept unless they
    happened during a pause, a command only when its working directory is inside a granted repo.
    Without display sources there is no window scope at all (no ``out_of_scope`` gaps).

    Args:
        consent: the active consent.
        now: the recording clock (injectable for tests).
    """

    def __init__(self, consent: Consent, now: Callable[[], int] | None = None) -> None:
        from workscribe.events import now_ns
        from workscribe.sources.base import WindowState

        self.consent = consent
        self.matcher = AppMatcher(consent.apps)
        self.sites = SiteMatcher(consent.sites) if "browser" in consent.sources else None
        self._pages: dict[int, bool] = {}  # browser window id -> its page is within the sites
        self.store_windows = "window" in consent.sources
        self.gui = consent.gui  # without display sources there is no window scope, only pauses
        self.repos = [r.rstrip("/") for r in consent.repos]
        self.now = now or now_ns
        self.paused = False
        self._pauses: deque[list[int | None]] = deque(maxlen=8)  # [start, end or None] of recent pauses
        self.state = WindowState()
        self._active_app: str | None = None
        self._gap: tuple[int, str] | None = None  # (start, reason) of the open gap
        self._keys: set[int] = set()
        self._buttons: set[int] = set()
        self._active_secure: str | None = None  # why the active window is a secure context
        self._secure: tuple[int, int, str] | None = None  # (start, last key, reason) of a secure run
        self.dropped = 0

    # -- state ------------------------------------------------------------------------------------
    @property
    def status(self) -> str:
        """``recording``, ``paused`` or ``out of scope``."""
        if self.paused:
            return "paused"
        return "recording" if self._active_app or not self.gui else "out of scope"

    def on_window(self, state: Any) -> list[Event]:
        """Takes a new window snapshot; returns gap events that this change closes."""
        self.state = state
        present = {w.id for w in state.stacking} | ({state.active.id} if state.active else set())
        self._pages = {w: ok for w, ok in self._pages.items() if w in present}
        self._active_app = self._match(state.active)
        active = state.active
        self._active_secure = secure_window(active.title, (active.instance, active.cls, active.process)) \
            if active else None
        return self._end_secure() + self._update_gap(self.now())

    def on_page(self, window_id: int, allowed: bool | None) -> list[Event]:
        """The browser source's report: the page shown in window ``window_id`` is within the sites
        (True), outside them (False) or not known (None); returns gap events this closes."""
        if allowed is None:
            self._pages.pop(window_id, None)
        else:
            self._pages[window_id] = allowed
        self._active_app = self._match(self.state.active)
        return self._update_gap(self.now())

    def forget_pages(self) -> list[Event]:
        """Forgets every page the browser source reported (it stopped watching them): browser
        windows are out of scope until it reports again; returns gap events this closes."""
        self._pages.clear()
        self._active_app = self._match(self.state.active)
        return self._update_gap(self.now())

    def _title_secure(self) -> str | None:
        """The title rule (a window called "Login", a password manager) where nothing better is known.

        In a browser whose page the browser source watches, the page says which field has focus: only
        password fields are secure there (``password_field``), so a page titled "Login" does not make
        its user-name field secure. Password managers stay secure whatever they show.
        """
        active = self.state.active
        if (self._active_secure == "window_title" and active is not None and self.sites is not None
                and self._pages.get(active.id)):
            return None
        return self._active_secure

    def _match(self, window: Any) -> str | None:
        """The allowlist entry that admits ``window`` (its app, and its page where sites apply)."""
        from workscribe.sources.browser import browser_family

        app = self.matcher.match(window)
        if app is None or self.sites is None or browser_family(window) is None:
            return app
        return app if self._pages.get(window.id) else None

    def set_paused(self, paused: bool) -> list[Event]:
        """Pauses or resumes; returns gap events that this closes.

        Input is judged by when it happened, not when it arrived: keys typed just before a pause
        (still in flight from the X server, or held for the echo check) are kept, and keys typed
        during a pause that arrive after ``resume`` are dropped.
        """
        t = self.now()
        if paused and not self.paused:
            self._pauses.append([t, None])
        elif not paused and self.paused and self._pauses:
            self._pauses[-1][1] = t
        self.paused = paused
        return self._update_gap(t)

    def _in_pause(self, t: int) -> bool:
        return any(start <= t and (end is None or t < end) for start, end in self._pauses)

    def close(self) -> list[Event]:
        """Closes an open gap or secure run at the end of the recording."""
        out = self._end_secure() + self._end_gap(self.now())
        self._gap = None
        return out

    def _update_gap(self, t: int) -> list[Event]:
        reason = "paused" if self.paused else (None if self._active_app or not self.gui else "out_of_scope")
        current = self._gap[1] if self._gap else None
        if reason == current:
            return []
        out = self._end_gap(t)
        self._gap = (t, reason) if reason else None
        return out

    def _end_gap(self, t: int) -> list[Event]:
        if self._gap is None:
            return []
        start, reason = self._gap
        self._gap = None
        data = {"reason": reason, "start": start, "end": t}
        return [{"t": t, "source": "guard", "kind": "gap", "data": data}]

    def _end_secure(self) -> list[Event]:
        if self._secure is None:
            return []
        start, last, reason = self._secure
        self._secure = None
        return [{"t": last, "source": "guard", "kind": "secure_input",
                 "data": {"reason": reason, "start": start, "end": last}}]

    # -- decisions -------------------------------------------------------------------------------
    def admit(self, event: Event, echo_off: bool = False, secure: str | None = None) -> list[Event]:
        """The events to store for ``event``: none, the event, or closed markers then the event.

        ``echo_off`` says that the active terminal was at a password prompt when the key was typed;
        ``secure`` names another secure context it was typed into (``password_field`` ...).
        """
        source, kind, data = event["source"], event["kind"], event["data"]
        if source == "window":
            if self.paused or not self._active_app or not self.store_windows:
                return []
            return [{**event, "data": {**data, "app": self._active_app}}]
        if source == "browser":
            if (self._in_pause(event["t"]) or self.paused or not self._active_app or self.sites is None
                    or not self.sites.match(data.get("url", ""))):
                return []
            return [event]
        if source in ("shell", "files", "git"):
            return self._admit_coding(event)
        if source != "input" or self._in_pause(event["t"]):
            self.dropped += source == "input"
            return []
        keep, prefix = False, []
        if kind == "key_press":
            keep = self._active_app is not None
            reason = "echo_off" if echo_off else secure or self._title_secure()
            if keep and reason:  # a secure context: not the key, not even that one was typed
                start = self._secure[0] if self._secure else event["t"]
                self._secure = (start, event["t"], self._secure[2] if self._secure else reason)
                return []
            if keep:
                prefix = self._end_secure()
                self._keys.add(data["keycode"])
        elif kind == "key_release":
            keep = data["keycode"] in self._keys
            self._keys.discard(data["keycode"])
        elif kind == "button_press":
            window, app = self._pointed(data["x"], data["y"])
            keep = app is not None
            if keep:
                prefix = self._end_secure()  # a click leaves the secure field: its run is over
                self._buttons.add(data["button"])
                if self._gap is not None:  # a click that activates an allowed window
                    prefix += self._end_gap(event["t"] - 1)
                event = self._with_window(event, window, app)
        elif kind == "button_release":
            keep = data["button"] in self._buttons
            self._buttons.discard(data["button"])
        elif kind == "motion":
            keep = bool(self._buttons) or (
                self._active_app is not None and self._pointer_allowed(data["x"], data["y"]))
        elif kind == "scroll":
            window, app = self._pointed(data["x"], data["y"])
            keep = app is not None
            if keep:
                event = self._with_window(event, window, app)
        if not keep:
            self.dropped += 1
            return prefix
        return [*prefix, event]

    def _admit_coding(self, event: Event) -> list[Event]:
        """Shell commands, file edits and git events: kept unless paused while they happened, and a
        command only when its working directory (before or after) is inside a granted repo."""
        data = event["data"]
        start = end = event["t"]
        if event["source"] == "shell":  # a command that ran while a pause began or ended is dropped whole
            start, end = min(data.get("start", start), start), max(data.get("end", end), end)
            if not (self.in_repos(data.get("cwd")) or self.in_repos(data.get("cwd_after"))):
                self.dropped += 1
                return []
        if self.paused or any(p_start <= end and (p_end is None or start < p_end)
                              for p_start, p_end in self._pauses):
            self.dropped += 1
            return []
        return [event]

    def in_repos(self, path: str | None) -> bool:
        """True if ``path`` (absolute; symlinks are resolved too) is a granted repo or inside one."""
        if not path:
            return False
        for candidate in dict.fromkeys((path.rstrip("/") or "/", os.path.realpath(path))):
            if any(candidate == r or candidate.startswith(r + "/") for r in self.repos):
                return True
        return False

    def _pointer_allowed(self, x: int, y: int) -> bool:
        return self._pointed(x, y)[1] is not None

    def _pointed(self, x: int, y: int) -> tuple[Any, str | None]:
        """The window under the pointer and the allowlist entry that admits it (None: not allowed)."""
        window = self.state.window_at(x, y)
        return window, self._match(window)

    def _with_window(self, event: Event, window: Any, app: str) -> Event:
        """A press or scroll with the window it acts on: ``data["window"]`` ``{id, title, app}``
        (kept only with the window source, like ``window/active`` events)."""
        if not self.store_windows:
            return event
        return {**event, "data": {**event["data"], "window": {"id": window.id, "title": window.title,
                                                              "app": app}}}

    def frame_regions(self) -> list[tuple[Rect, bool]] | None:
        """Screen regions bottom to top, each kept (allowed window) or blacked out; None = no frame."""
        if self.paused or not self._active_app:
            return None
        def keep(w: Any) -> bool:
            return self._match(w) is not None and not password_manager(
                w.title, (w.instance, w.cls, w.process))

        return [((w.x, w.y, w.w, w.h), keep(w)) for w in self.state.stacking]
