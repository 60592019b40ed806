"""Scope matching: whether a window belongs to a granted app (``AppMatcher``) and whether a page URL
belongs to a granted site (``SiteMatcher``). Pure: no state, no I/O."""

from __future__ import annotations

from typing import Protocol


class PatternError(ValueError):
    """A site pattern that cannot be a site (the consent turns it into a ``ConsentError``)."""


class WindowLike(Protocol):
    """What scope decisions need to know about a window."""

    instance: str
    cls: str
    process: str | None


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
        """Raises ``PatternError`` for a pattern that cannot be a site."""
        if not pattern or any(c.isspace() for c in pattern) or pattern.startswith("://"):
            raise PatternError(f"site pattern {pattern!r} is not a host (example.com, *.example.com) "
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
