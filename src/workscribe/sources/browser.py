"""Pages of Chromium-family browsers: URL, title, focused element and what the viewport shows.

**Which browser, which page.** When the active window belongs to a Chromium-family process
(``chromium``, ``chrome``, ``brave``, ``msedge`` ...), ``find_devtools`` walks from the window's
process up its parents to the browser process, the one started with ``--remote-debugging-port=N``;
when N is 0 the browser picked a port and wrote it to ``DevToolsActivePort`` in its
``--user-data-dir``. Only loopback is ever connected to (a browser told to listen elsewhere with
``--remote-debugging-address`` is refused). The source attaches to every page target of that
browser and runs ``browser_page.PAGE_SCRIPT`` in an isolated world of each: the page's own scripts
cannot see it, and it pushes changes through a CDP binding instead of being polled. The script is
added for every new document and run at once in the current one; a document whose navigation was
already under way then (a browser attached to while it opens its first page) misses it, so every
new main-frame document is also given it, unless it runs there already. The page shown in the
active window is the one whose document has focus, else the page last seen there while it is still
visible, else the only visible page (titles break ties: the X title starts with the page's).

**Events** (source ``browser``; documented in ``events.py``): ``page`` when the active page, its
URL or its title changes; ``snapshot`` of the visible elements of the viewport, in screen pixels,
when the page's content, scroll, focus or window geometry changed, at most five a second, and
``focus`` when the focused element changes. The element under the pointer or with focus at an
action is not stored with the action: it is the element of the last snapshot before the action
whose box contains the pointer (the innermost such box), or whose ``focused`` is true.

**Scope.** The consent's ``sites`` (``guard.SiteMatcher``) decide, through the guard, whether a
browser window is in scope: while its page is outside the sites, or not known yet, or the browser
has no DevTools port on loopback, the window is out of scope like a window of an app that was not
allowed (a gap, no keys, no pointer events, no pixels) and this source emits nothing for it.

**Passwords.** The page script reports, when focus moves, whether a password (or one-time-code)
input or a cross-origin frame has focus; ``secure_at`` answers for a key typed at time ``t`` from
that timeline, the way ``sources.terminal.EchoWatch`` answers for terminals, so the recorder drops those keys
(a ``guard/secure_input`` marker with reason ``password_field`` or ``browser_frame`` remains).
There is no race with the report: a click inside the page or a Tab (``on_input``) is a barrier,
and keys typed after it wait (``covered``) until the page has answered it with the focus that
followed (it answers every press, changed or not), for at most ``BARRIER_TIMEOUT_NS``; a key judged
at the end of the recording before its barrier was answered counts as secure. Password inputs never
have a value in any event.

What remains is the time between a page change and its report (milliseconds: the URL of a
navigation is reported when it commits, before the new page is painted or titled): a frame grabbed
or a window title read in between is judged by the page before.

**Privacy of text.** Events leave this source as the page shows them; the redaction stage
(``redact.events.redact_browser_event``) passes URL, title and every element's name, text and value
through ``redact_private`` before the spool; the value or text of a field being typed into (an
input in the last second) loses its last, unfinished word, which the keystroke redactor still holds.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from workscribe.events import Event, now_ns
from workscribe.sources.base import Sink, WindowInfo, browser_family
from workscribe.sources.browser_page import BINDING, PAGE_SCRIPT, WORLD
from workscribe.sources.cdp import LOOPBACK, CdpConnection, CdpError

DEFAULT_PROFILES = {"chromium": ".config/chromium", "chrome": ".config/google-chrome",
                    "google-chrome": ".config/google-chrome", "brave": ".config/BraveSoftware/Brave-Browser",
                    "msedge": ".config/microsoft-edge"}
"""Profile folders under the home folder, for browsers started without ``--user-data-dir``."""

SECURE_MARGIN_NS = 60_000_000
"""A key typed this long before a password field was reported focused counts as typed into it."""

BARRIER_TIMEOUT_NS = 1_000_000_000
"""Keys after a click or Tab wait at most this long for the page's answer (a click the page never
saw, on its scroll bar say, has none; the timeline then judges them)."""

ANSWER_EARLY_NS = 100_000_000
"""The page's answer to a click may reach the recorder up to this long before the click's X event."""

PORT_GRACE_S = 10.0
"""A browser started with ``--remote-debugging-port`` may take this long to publish its port (or to
close) before the source says that it has not."""

_TAB_KEYS = ("Tab", "ISO_Left_Tab")

_PAGE_SCRIPT_ONCE = f"if (!window.__workscribe) {{ {PAGE_SCRIPT} }}"
"""The page script for a document that may run it already (then it does nothing)."""


# -- finding the DevTools endpoint ---------------------------------------------------------------
@dataclass(frozen=True)
class DevTools:
    """Where a browser's DevTools listen: always loopback."""

    pid: int  # the browser process
    port: int
    path: str | None = None  # /devtools/browser/ID, when DevToolsActivePort told it

    def ws_url(self, timeout: float = 2.0) -> str:
        """The browser's WebSocket URL, asking ``/json/version`` when ``path`` is not known."""
        if self.path:
            return f"ws://127.0.0.1:{self.port}{self.path}"
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
        try:
            with opener.open(f"http://127.0.0.1:{self.port}/json/version", timeout=timeout) as reply:
                url = json.load(reply)["webSocketDebuggerUrl"]
        except (OSError, ValueError, KeyError) as exc:
            raise CdpError(f"no DevTools answer on 127.0.0.1:{self.port}: {exc}") from None
        return f"ws://127.0.0.1:{self.port}{urlsplit(url).path}"


def devtools_from_args(argv: list[str], home: Path | None = None, pid: int = 0) -> DevTools | None:
    """The DevTools endpoint a browser's command line asks for, or None.

    None when the process is not a browser process (``--type=renderer`` ...), has no
    ``--remote-debugging-port``, listens on an address that is not loopback, or picked a port
    (``=0``) and has not written ``DevToolsActivePort`` yet.
    """
    opts = _flags(argv)
    if "type" in opts or "remote-debugging-port" not in opts:
        return None
    address = opts.get("remote-debugging-address")
    if address and address not in LOOPBACK:
        return None
    try:
        port = int(opts["remote-debugging-port"])
    except ValueError:
        return None
    profile = opts.get("user-data-dir")
    if not profile:
        name = os.path.basename(argv[0]) if argv else ""
        profile = str((home or Path.home()) / DEFAULT_PROFILES.get(name, ".config/chromium"))
    try:
        lines = (Path(profile) / "DevToolsActivePort").read_text().split()
        active_port, path = int(lines[0]), lines[1]
    except (OSError, ValueError, IndexError):
        active_port, path = 0, None
    if port == 0:
        return DevTools(pid, active_port, path) if active_port else None
    return DevTools(pid, port, path if active_port == port else None)


def _flags(argv: list[str]) -> dict[str, str]:
    """``--name=value`` (and ``--name``) options of a command line."""
    opts: dict[str, str] = {}
    for arg in argv[1:]:
        if arg.startswith("--"):
            key, _, value = arg[2:].partition("=")
            opts[key] = value
    return opts


def _process_chain(pid: int, proc: Path, max_depth: int) -> Iterator[tuple[int, list[str]]]:
    """``(pid, argv)`` of process ``pid`` and its parents, up to ``max_depth``, while readable."""
    for _ in range(max_depth):
        try:
            argv = (proc / str(pid) / "cmdline").read_bytes().split(b"\0")
            stat = (proc / str(pid) / "stat").read_text()
        except OSError:
            return
        yield pid, [a.decode(errors="replace") for a in argv if a]
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # field 4, after the (comm) that may hold spaces
        if pid <= 1:
            return


def find_devtools(pid: int, proc: Path = Path("/proc"), max_depth: int = 8) -> DevTools | None:
    """The DevTools endpoint of the browser that process ``pid`` belongs to (it or a parent)."""
    for browser_pid, argv in _process_chain(pid, proc, max_depth):
        found = devtools_from_args(argv, pid=browser_pid)
        if found is not None:
            return found
    return None


def devtools_trouble(pid: int, proc: Path = Path("/proc"), max_depth: int = 8) -> str:
    """Why ``find_devtools(pid)`` found no endpoint.

    Returns:
        ``gone``: process ``pid`` has ended (its browser is closing); ``pending``: the browser was
        started with ``--remote-debugging-port`` on loopback but has no ``DevToolsActivePort`` (it is
        starting, or closing and removed it); ``elsewhere``: its DevTools listen beyond loopback,
        which is never connected to; ``none``: no process of it asked for DevTools.
    """
    chain = list(_process_chain(pid, proc, max_depth))
    if not chain or not chain[0][1]:  # no such process, or a zombie (no command line)
        return "gone"
    for _, argv in chain:
        opts = _flags(argv)
        if "type" in opts or "remote-debugging-port" not in opts:
            continue
        address = opts.get("remote-debugging-address")
        return "elsewhere" if address and address not in LOOPBACK else "pending"
    return "none"


# -- the source ----------------------------------------------------------------------------------
@dataclass(eq=False)
class _Page:
    target: str
    browser: _Browser
    url: str = ""
    title: str = ""
    session: str | None = None
    context: int | None = None  # the isolated world's execution context (from its binding calls)
    ready: bool = False  # the page script reported its state
    visible: bool = False
    focused: bool = False
    focus_t: int = 0
    secure: str | None = None
    element: dict[str, Any] | None = None


@dataclass(eq=False)
class _Browser:
    devtools: DevTools
    conn: CdpConnection | None = None
    pages: dict[str, _Page] = field(default_factory=dict)  # target id -> page
    sessions: dict[str, _Page] = field(default_factory=dict)  # session id -> page


class BrowserSource:
    """Watches the pages of Chromium-family browsers shown in the active window.

    Args:
        sites: decides whether a URL is in scope (``guard.SiteMatcher``).
        active_window: returns the active window (the guard's view of it).
        on_scope: called with (window id, True | False | None) when a browser window's page enters
            or leaves the sites (None: not known); the guard keeps the window out of scope unless True.
        log: one-line messages (a browser without DevTools on loopback ...).
        period_s: how often the active window is looked at when nothing wakes the source.
    """

    name = "browser"

    def __init__(self, sites: Any, active_window: Callable[[], WindowInfo | None],
                 on_scope: Callable[[int, bool | None], None], log: Callable[[str], None] = print,
                 period_s: float = 0.25, on_page_text: Callable[[int, dict[str, Any]], None] | None = None,
                 ) -> None:
        self.sites = sites
        self.on_page_text = on_page_text  # gets each snapshot of the page in scope with whole texts
        self.active_window = active_window
        self.on_scope = on_scope
        self.log = log
        self.period_s = period_s
        self._sink: Sink | None = None
        self._browsers: dict[int, _Browser | None] = {}  # window pid -> its browser (None: none)
        self._retry: dict[int, float] = {}  # window pid -> when to look for its DevTools again
        self._logged: set[int] = set()
        self._pending: dict[int, float] = {}  # window pid -> since when its DevTools port is awaited
        self._lock = threading.RLock()  # page state, decisions and emitting, from any thread
        self._jobs: deque[Callable[[], None]] = deque()  # CDP calls for the source's own thread
        self._active: _Page | None = None
        self._active_key: tuple[str, str] | None = None
        self._geometry: tuple[int, ...] | None = None
        self._window_page: dict[int, _Page] = {}  # window id -> the page last shown there
        self._scope: dict[int, bool | None] = {}  # window id -> what on_scope was last told
        self._timeline: list[tuple[int, str | None]] = []  # (t, secure) of the active page, by t
        self._barriers: deque[int] = deque()  # times of clicks and Tabs the page has not answered yet
        self._answers: deque[tuple[int, str | None]] = deque(maxlen=8)  # answers no barrier claimed yet
        self._viewport: tuple[int, int, int, int] | None = None  # the active page's, in screen pixels
        self._tl_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.snapshot_ms: deque[float] = deque(maxlen=1000)  # in-page cost of recent snapshots

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, sink: Sink) -> None:
        """Starts watching; events go to ``sink`` from the source's threads."""
        self._sink = sink
        self._thread = threading.Thread(target=self._loop, name="browser", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops watching and closes every DevTools connection."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            self._sink = None
            browsers = [b for b in self._browsers.values() if b is not None]
        for b in {id(b): b for b in browsers}.values():
            if b.conn is not None:
                b.conn.close()

    def wake(self) -> None:
        """The active window changed: look again now (cheap; any thread)."""
        self._wake.set()

    def on_input(self, event: Event) -> None:
        """Takes every input event while a browser window is active (from the input thread, before
        later keys arrive): a click inside the page's viewport or a Tab starts a barrier."""
        data, t = event["data"], event["t"]
        if event["kind"] == "button_press":
            box = self._viewport
            if box is None or not (box[0] <= data["x"] < box[0] + box[2]
                                   and box[1] <= data["y"] < box[1] + box[3]):
                return
        elif not (event["kind"] == "key_press" and data.get("key") in _TAB_KEYS):
            return
        with self._tl_lock:
            answer = next((a for a in reversed(self._answers) if a[0] >= t - ANSWER_EARLY_NS), None)
            if answer is not None:  # the page answered before the X event reached the recorder
                self._answers.clear()
                self._insert((t, answer[1]))
            else:
                self._barriers.append(t)

    def covered(self, t: int) -> bool:
        """True when a key typed at ``t`` can be judged: every click or Tab before it was answered."""
        with self._tl_lock:
            now = now_ns()
            while self._barriers and now - self._barriers[0] > BARRIER_TIMEOUT_NS:
                self._barriers.popleft()
            return not any(b <= t for b in self._barriers)

    def _answer(self, secure: str | None) -> None:
        """The page answered a click or Tab: its focus from the oldest pending barrier on."""
        with self._tl_lock:
            if self._barriers:
                self._insert((self._barriers.popleft(), secure))
            else:
                self._answers.append((now_ns(), secure))

    def _insert(self, entry: tuple[int, str | None]) -> None:
        import bisect

        bisect.insort(self._timeline, entry, key=lambda e: e[0])
        del self._timeline[:-256]

    def secure_at(self, t: int, focus_moves: Iterable[int] = ()) -> str | None:
        """Why a key typed at ``t`` into the active page is secure input, or None.

        Secure when a password field (or a cross-origin frame) had focus at ``t``, or was reported
        focused within ``SECURE_MARGIN_NS`` after ``t`` with no focus-moving key (``focus_moves``:
        times of Tab and Return presses) in between: the report was still on its way.
        """
        with self._tl_lock:
            timeline = list(self._timeline)
        before = [s for ts, s in timeline if ts <= t]
        if before and before[-1]:
            return before[-1]
        seen = next(((ts, s) for ts, s in timeline if t < ts <= t + SECURE_MARGIN_NS and s), None)
        if seen is None or any(t <= m <= seen[0] for m in focus_moves):
            return None if self.covered(t) else "password_field"  # unanswered: assume the worst
        return seen[1]

    def _note_secure(self, secure: str | None) -> None:
        with self._tl_lock:
            if not self._timeline or self._timeline[-1][1] != secure:
                self._insert((now_ns(), secure))

    # -- the source's thread --------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.period_s)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self._tick()
            except CdpError:
                continue  # a page or browser went away mid-call; the next tick sees it
            except Exception as exc:  # keep watching: one bad page must not stop the recording
                self.log(f"browser source: {type(exc).__name__}: {exc}")

    def _tick(self) -> None:
        active = self.active_window()
        if active is not None and active.pid and browser_family(active) == "chromium":
            self._browser_of(active.pid)
            geometry = (active.id, active.x, active.y, active.w, active.h)
            if geometry != self._geometry and self._active is not None:
                self._force(self._active)  # boxes are screen pixels: the window moved
            self._geometry = geometry
        while self._jobs and not self._stop.is_set():
            self._jobs.popleft()()
        self._update()

    def _browser_of(self, pid: int) -> _Browser | None:
        browser = self._browsers.get(pid)
        if browser is not None and browser.conn is not None and browser.conn.alive:
            return browser
        if browser is None and time.monotonic() < self._retry.get(pid, 0):
            return None
        browser_was = browser  # not None: its connection died, as it does when the browser closes
        with self._lock:
            self._browsers.pop(pid, None)
            if browser is not None:  # its connection died (the browser quit): its pages are gone
                browser.pages.clear()
                browser.sessions.clear()
        devtools = find_devtools(pid)
        if devtools is None:
            self._retry[pid] = time.monotonic() + 2.0
            self._no_devtools(pid)
            return None
        self._pending.pop(pid, None)
        same = next((b for b in self._browsers.values() if b is not None and b.devtools == devtools
                     and b.conn is not None and b.conn.alive), None)
        if same is not None:
            self._browsers[pid] = same
            return same
        browser = _Browser(devtools)
        try:
            browser.conn = CdpConnection(devtools.ws_url(),
                                         lambda m, p, s: self._on_cdp(browser, m, p, s))
            browser.conn.call("Target.setDiscoverTargets", {"discover": True})
        except CdpError as exc:
            self._retry[pid] = time.monotonic() + 2.0
            if browser_was is None and devtools_trouble(pid) != "gone":  # else: it is closing
                self.log(f"browser (pid {pid}): {exc}")
            if browser.conn is not None:
                browser.conn.close()
            return None
        with self._lock:
            self._browsers[pid] = browser
        return browser

    def _no_devtools(self, pid: int) -> None:
        """Says, once per browser, why its windows are out of scope. A browser that is closing (its
        process ended, or it removed its port file) or still starting is not misconfigured."""
        trouble = devtools_trouble(pid)
        if trouble == "gone" or pid in self._logged:
            return
        if trouble == "pending":
            waited = time.monotonic() - self._pending.setdefault(pid, time.monotonic())
            if waited < PORT_GRACE_S:
                return
            message = (f"browser (pid {pid}) has published no DevTools port (DevToolsActivePort in its "
                       f"profile) for {waited:.0f} s: its windows are out of scope until it does")
        elif trouble == "elsewhere":
            message = (f"browser (pid {pid}) has DevTools beyond loopback, which are never connected to: "
                       "its windows are out of scope; start it with --remote-debugging-port=0")
        else:
            message = (f"browser (pid {pid}) has no DevTools port on loopback: its windows are out of "
                       "scope; start it with --remote-debugging-port=0")
        self._logged.add(pid)
        self.log(message)

    def _attach(self, page: _Page) -> None:
        conn = page.browser.conn
        if conn is None or page.session is not None or page.target not in page.browser.pages:
            return
        session = conn.call("Target.attachToTarget", {"targetId": page.target, "flatten": True})["sessionId"]
        with self._lock:
            page.session = session
            page.browser.sessions[session] = page
        conn.call("Runtime.enable", session=session)  # binding calls are reported only then
        conn.call("Runtime.addBinding", {"name": BINDING, "executionContextName": WORLD}, session=session)
        conn.call("Page.addScriptToEvaluateOnNewDocument",
                  {"source": PAGE_SCRIPT, "worldName": WORLD, "runImmediately": True}, session=session)

    def _ensure_script(self, page: _Page) -> None:
        """Runs the page script in the page's current document, unless it runs there already.

        ``Page.addScriptToEvaluateOnNewDocument`` misses a document whose navigation was under way
        when the script was added: that document would never report its state, and its window
        would stay out of scope.
        """
        conn = page.browser.conn
        if conn is None or page.session is None or page.target not in page.browser.pages:
            return
        world = conn.call("Page.createIsolatedWorld", {"frameId": page.target, "worldName": WORLD},
                          session=page.session)  # the world the added script uses, if it ran
        conn.send("Runtime.evaluate", {"expression": _PAGE_SCRIPT_ONCE,
                                       "contextId": world["executionContextId"]}, session=page.session)

    def _force(self, page: _Page) -> None:
        """Asks the page for a fresh snapshot (and its state) even if nothing changed."""
        conn = page.browser.conn
        if conn is None or page.session is None or page.context is None:
            return
        expression = "window.__workscribe && (window.__workscribe.state(), window.__workscribe.push(true))"
        conn.send("Runtime.evaluate", {"expression": expression, "contextId": page.context},
                  session=page.session)

    # -- DevTools events (reader threads) -------------------------------------------------------
    def _on_cdp(self, browser: _Browser, method: str, params: dict[str, Any], session: str | None) -> None:
        if method == "Runtime.bindingCalled":
            if params.get("name") == BINDING and session in browser.sessions:
                self._on_message(browser.sessions[session], params)
            return
        if method == "Runtime.executionContextCreated":  # a new document in a page (or a frame)
            aux = params.get("context", {}).get("auxData") or {}
            page = browser.sessions.get(session or "")
            if page is not None and aux.get("isDefault") and aux.get("frameId") == page.target:
                self._jobs.append(lambda: self._ensure_script(page))
                self._wake.set()
            return
        if method in ("Target.targetCreated", "Target.targetInfoChanged"):
            info = params["targetInfo"]
            if info.get("type") != "page":
                return
            with self._lock:
                page = browser.pages.get(info["targetId"])
                if page is None:
                    page = browser.pages[info["targetId"]] = _Page(info["targetId"], browser)
                    self._jobs.append(lambda: self._attach(page))
                    self._wake.set()
                page.url, page.title = info.get("url", ""), info.get("title", "")
                self._update()
        elif method == "Target.targetDestroyed":
            with self._lock:
                page = browser.pages.pop(params["targetId"], None)
                if page is not None and page.session:
                    browser.sessions.pop(page.session, None)
                self._update()

    def _on_message(self, page: _Page, params: dict[str, Any]) -> None:
        try:
            msg = json.loads(params.get("payload") or "{}")
        except ValueError:
            return
        with self._lock:
            page.context = params.get("executionContextId", page.context)
            if msg.get("k") == "state":
                page.ready = True
                page.visible, page.focused = bool(msg.get("visible")), bool(msg.get("focused"))
                page.focus_t = now_ns() if page.focused else page.focus_t
                element = msg.get("element")
                secure = msg.get("secure")
                changed = element != page.element
                page.secure, page.element = secure, element
                self._update()  # a page that just took focus becomes the active one here
                if page is self._active:
                    self._note_secure(secure)
                    if msg.get("input"):
                        self._answer(secure)
                if changed and page is self._active and self._in_scope(page, msg.get("url", "")):
                    self._emit("focus", {"url": msg.get("url", ""), "element": element})
            elif msg.get("k") == "snap":
                self.snapshot_ms.append(float(msg.get("ms", 0.0)))
                if page is self._active:
                    self._viewport = (msg["origin_x"], msg["origin_y"], msg["width"], msg["height"])
                if page is self._active and self._in_scope(page, msg.get("url", "")):
                    data = {k: msg[k] for k in ("url", "origin_x", "origin_y", "width", "height", "elements")}
                    if msg.get("truncated"):
                        data["truncated"] = True
                    if self.on_page_text is not None:  # whole texts, for pixel redaction in memory
                        self.on_page_text(now_ns(), data)
                    data["elements"] = [{k: v for k, v in e.items() if k != "full"} for e in data["elements"]]
                    self._emit("snapshot", data)

    # -- decisions ------------------------------------------------------------------------------
    def _in_scope(self, page: _Page, url: str) -> bool:
        window = next((w for w, p in self._window_page.items() if p is page), None)
        return window is not None and bool(self._scope.get(window)) and self.sites.match(url)

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        if self._sink is not None:
            self._sink({"t": now_ns(), "source": "browser", "kind": kind, "data": data})

    def _pick(self, browser: _Browser, window: WindowInfo) -> _Page | None:
        pages = [p for p in browser.pages.values() if p.ready and p.visible]
        focused = [p for p in pages if p.focused]
        if focused:
            return max(focused, key=lambda p: p.focus_t)
        previous = self._window_page.get(window.id)
        if previous is not None and previous in pages:
            return previous
        if len(pages) > 1 and window.title:
            pages = [p for p in pages if p.title and window.title.startswith(p.title)]
        return pages[0] if len(pages) == 1 else None

    def _update(self) -> None:
        """Decides which page the active window shows, tells the guard, emits ``page`` events."""
        with self._lock:
            if self._sink is None:
                return
            active = self.active_window()
            page = None
            if active is not None and active.pid and browser_family(active) == "chromium":
                browser = self._browsers.get(active.pid)
                page = self._pick(browser, active) if browser is not None else None
                if page is not None:
                    self._window_page[active.id] = page
                else:
                    self._window_page.pop(active.id, None)
                    self._report(active.id, None)
            for window, shown in list(self._window_page.items()):
                gone = shown.target not in shown.browser.pages
                if gone:
                    del self._window_page[window]
                self._report(window, None if gone else self.sites.match(shown.url))
            if page is not self._active:
                self._active, self._active_key, self._viewport = page, None, None
                self._note_secure(page.secure if page else None)
                if page is not None:
                    self._jobs.append(lambda: self._force(page))
                    self._wake.set()
            if page is not None and active is not None and self._scope.get(active.id):
                key = (page.url, page.title)
                if key != self._active_key:
                    self._active_key = key
                    self._emit("page", {"url": page.url, "title": page.title})

    def _report(self, window: int, allowed: bool | None) -> None:
        if self._scope.get(window, "unset") != allowed:
            self._scope[window] = allowed
            self.on_scope(window, allowed)
