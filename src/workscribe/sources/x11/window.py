"""The active window and the window stack on X11, through EWMH properties.

The source listens for PropertyNotify on the root window (``_NET_ACTIVE_WINDOW``,
``_NET_CLIENT_LIST_STACKING``) and on client windows (title changes), and ConfigureNotify (moves,
resizes). It keeps a ``WindowState`` snapshot that the guard reads for every scope decision, and
emits a ``window/active`` event whenever the active window, its title or its geometry changes.
"""

from __future__ import annotations

import select
import threading
from collections.abc import Callable
from pathlib import Path

from Xlib import X, Xatom
from Xlib.error import XError

from workscribe.events import now_ns
from workscribe.sources.base import Sink, WindowInfo, WindowState
from workscribe.sources.x11.connection import open_display


class X11WindowSource:
    """Tracks windows; ``state`` is always the latest snapshot.

    An X error about one window (it vanished mid-query) skips that refresh. Any other failure of the
    connection (the server closed it, python-xlib failed inside its reader) replaces the connection
    and reads every window again; after ``reconnects`` failures in a row the thread ends with the
    error, for the recorder's supervisor to see.

    Args:
        display_name: X display; None uses ``$DISPLAY``.
        on_change: called with the new ``WindowState`` (from the source's thread) on every change.
        log: one-line messages (a reconnection).
        reconnects: failures in a row that are retried on a new connection.
    """

    name = "window"

    def __init__(self, display_name: str | None = None,
                 on_change: Callable[[WindowState], None] | None = None,
                 log: Callable[[str], None] | None = None, reconnects: int = 3) -> None:
        self.display_name = display_name
        self.on_change = on_change
        self.log = log
        self.reconnects = reconnects
        self.reconnected = 0  # connections replaced after a failure
        self.state = WindowState()
        self._sink: Sink | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._watched: set[int] = set()

    def start(self, sink: Sink) -> None:
        """Reads the current windows, emits the active one, and follows changes."""
        self._connect()
        self._sink = sink
        self._refresh(emit=True)
        self._thread = threading.Thread(target=self._loop, name="x11-window", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops following changes."""
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join(timeout=5)
        self._sink = None
        self._close()
        self._thread = None

    def _connect(self) -> None:
        self._d = open_display(self.display_name)
        a = self._d.intern_atom
        self._atoms = {n: a(n) for n in ("_NET_ACTIVE_WINDOW", "_NET_CLIENT_LIST_STACKING",
                                         "_NET_CLIENT_LIST", "_NET_WM_NAME", "_NET_WM_PID", "UTF8_STRING")}
        self._root = self._d.screen().root
        self._root.change_attributes(event_mask=X.PropertyChangeMask | X.SubstructureNotifyMask)
        self._watched = set()  # event masks belong to a connection: a new one selects them again

    def _close(self) -> None:
        try:
            self._d.close()
        except Exception:  # the connection may already be broken
            pass

    def _loop(self) -> None:
        failures, broken = 0, None  # failures in a row; the failure that broke the connection
        while not self._stopping.is_set():
            try:
                if broken is not None:
                    self._reconnect(broken, failures)
                    broken = None
                self._step()
                failures = 0
            except XError:
                continue  # a window vanished mid-query; the next event refreshes again
            except Exception as exc:
                if self._stopping.is_set():
                    return
                # The server closed the connection, or python-xlib failed inside its reader, which
                # leaves the connection hanging on its next round trip: start over on a new one.
                failures += 1
                if failures > self.reconnects:
                    raise
                broken = exc

    def _step(self) -> None:
        """Waits up to 0.2 s for X events; refreshes the snapshot if any could change it."""
        ready, _, _ = select.select([self._d.fileno()], [], [], 0.2)
        if not ready and not self._d.pending_events():
            return
        t = now_ns()  # when the change was seen: reading every window takes a while
        dirty = False
        for _ in range(self._d.pending_events()):
            ev = self._d.next_event()
            if ev.type in (X.PropertyNotify, X.ConfigureNotify, X.DestroyNotify, X.MapNotify,
                           X.UnmapNotify, X.ReparentNotify):
                dirty = True
        if dirty:
            self._refresh(emit=True, t=t)

    def _reconnect(self, exc: Exception, attempt: int) -> None:
        """Replaces the connection and reads every window again."""
        self._close()
        self._stopping.wait(0.1 * 2 ** (attempt - 1))  # a server that is going away: give it a moment
        if self._stopping.is_set():
            return
        self._connect()
        self.reconnected += 1
        if self.log is not None:
            self.log(f"window source: X connection failed ({type(exc).__name__}: {exc}); reconnected")
        self._refresh(emit=True)

    # -- reading X -----------------------------------------------------------------------------
    def _prop(self, window, atom: int, kind: int = X.AnyPropertyType):
        try:
            return window.get_full_property(atom, kind)
        except XError:
            return None

    def _info(self, wid: int) -> WindowInfo | None:
        w = self._d.create_resource_object("window", wid)
        try:
            if wid not in self._watched:
                w.change_attributes(event_mask=X.PropertyChangeMask | X.StructureNotifyMask)
                self._watched.add(wid)
            name = self._prop(w, self._atoms["_NET_WM_NAME"], self._atoms["UTF8_STRING"])
            title = name.value.decode("utf-8", "replace") if name and name.value else None
            if title is None:
                legacy = self._prop(w, Xatom.WM_NAME)
                title = legacy.value.decode("latin-1") if legacy and isinstance(legacy.value, bytes) else ""
            wm_class = w.get_wm_class() or ("", "")
            pid_prop = self._prop(w, self._atoms["_NET_WM_PID"], Xatom.CARDINAL)
            pid = int(pid_prop.value[0]) if pid_prop and len(pid_prop.value) else None
            geom = w.get_geometry()
            pos = w.translate_coords(self._root, 0, 0)
        except XError:
            return None
        return WindowInfo(id=wid, title=title, instance=wm_class[0] or "", cls=wm_class[1] or "",
                          pid=pid, process=_process_name(pid), x=-pos.x, y=-pos.y,
                          w=geom.width, h=geom.height)

    def _refresh(self, emit: bool, t: int | None = None) -> None:
        """Reads every window; emits ``window/active`` (stamped ``t``, else now) if the active one
        changed."""
        stack = self._prop(self._root, self._atoms["_NET_CLIENT_LIST_STACKING"], Xatom.WINDOW)
        ids = list(stack.value) if stack else []
        active_prop = self._prop(self._root, self._atoms["_NET_ACTIVE_WINDOW"], Xatom.WINDOW)
        active_id = int(active_prop.value[0]) if active_prop and len(active_prop.value) else 0
        infos = [i for i in (self._info(wid) for wid in ids) if i is not None]
        active = next((i for i in infos if i.id == active_id), None)
        if active is None and active_id:
            active = self._info(active_id)
        old = self.state
        self.state = WindowState(active=active, stacking=tuple(infos))
        self._watched &= set(ids) | {active_id}
        if self.on_change is not None and self.state != old:
            self.on_change(self.state)
        if emit and self._sink is not None and active != old.active and active is not None:
            self._sink({"t": now_ns() if t is None else t, "source": "window", "kind": "active", "data": {
                "id": active.id, "title": active.title, "instance": active.instance,
                "class": active.cls, "pid": active.pid, "process": active.process,
                "x": active.x, "y": active.y, "w": active.w, "h": active.h}})


def _process_name(pid: int | None) -> str | None:
    if not pid:
        return None
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() or None
    except OSError:
        return None
