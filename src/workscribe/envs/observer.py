"""An independent witness of X input: what the server really processed, through RECORD.

Tests and benchmarks compare what the recorder stored against it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from Xlib import X, display
from Xlib.ext import record
from Xlib.protocol import rq

Seen = tuple[int, int, int, int, int]
"""(event type, detail, server time ms, root x, root y)."""


class InputObserver:
    """Records every key, button and motion event the X server receives, through RECORD."""

    def __init__(self, name: str) -> None:
        self.events: list[Seen] = []
        self._lock = threading.Lock()
        self._started = threading.Event()
        self._ctl = display.Display(name)
        self._data = display.Display(name)
        self._ctx = self._ctl.record_create_context(0, [record.AllClients], [{
            "core_requests": (0, 0), "core_replies": (0, 0),
            "ext_requests": (0, 0, 0, 0), "ext_replies": (0, 0, 0, 0),
            "delivered_events": (0, 0), "device_events": (X.KeyPress, X.MotionNotify),
            "errors": (0, 0), "client_started": False, "client_died": False,
        }])
        self._thread = threading.Thread(target=self._data.record_enable_context,
                                        args=(self._ctx, self._on_reply), daemon=True)
        self.modifier_keycodes = {kc for kcs in self._ctl.get_modifier_mapping() for kc in kcs if kc}

    def _on_reply(self, reply: object) -> None:
        if reply.category == record.StartOfData:  # type: ignore[attr-defined]
            self._started.set()
        if reply.category != record.FromServer or reply.client_swapped:  # type: ignore[attr-defined]
            return
        data = reply.data  # type: ignore[attr-defined]
        while data:
            ev, data = rq.EventField(None).parse_binary_value(data, self._data.display, None, None)
            with self._lock:
                self.events.append((ev.type, ev.detail, ev.time, ev.root_x, ev.root_y))

    def __enter__(self) -> InputObserver:
        self._thread.start()
        if not self._started.wait(5):
            raise RuntimeError("RECORD did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._ctl.record_disable_context(self._ctx)
        self._ctl.flush()
        self._thread.join(5)
        self._ctl.record_free_context(self._ctx)
        self._ctl.close()
        self._data.close()

    def of(self, *types: int) -> list[Seen]:
        """The events seen so far whose type is one of ``types``."""
        with self._lock:
            return [e for e in self.events if e[0] in types]

    def keysym(self, keycode: int) -> int:
        """The base-level keysym of ``keycode`` in the keyboard map now in force."""
        return self._ctl.keycode_to_keysym(keycode, 0)

    def wait_for(self, done: Callable[[], bool], timeout: float = 5.0) -> None:
        """Polls until ``done()`` holds (events still in flight), failing after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() >= deadline:
                raise TimeoutError("expected events did not arrive")
            time.sleep(0.01)
