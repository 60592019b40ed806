"""Consent: what a contributor granted, stored owner-only, checked before recording starts.

A consent record says who granted what, when, under which policy version: the apps whose windows
may be recorded, the sites whose pages may be, the sources that may run, how long data is kept.
``workscribe record`` refuses to start without a valid one.
Whether a window or page is within the grant is decided by ``scope`` and ``guard``.

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
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workscribe import paths
from workscribe.guard.scope import PatternError, SiteMatcher

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
    upload: str | None = None  # the organisation's service that closed segments go to; None: none leave
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
            try:
                SiteMatcher.check(pattern)
            except PatternError as exc:
                raise ConsentError(str(exc)) from None

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
          repos: list[str] | None = None, upload: str | None = None) -> Consent:
    """Writes a new consent record, replacing any earlier one (``repos`` must be git work trees;
    ``upload``: the service of the enrolled organisation that closed segments may be uploaded to)."""
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
        upload=upload,
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
