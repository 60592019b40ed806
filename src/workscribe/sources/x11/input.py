"""Keyboard and pointer input on X11, through the RECORD extension.

RECORD sees every device event the server processes, human or synthetic (XTEST), in order. Keys are
resolved against the keyboard mapping *in force at that moment*: the source also records the core
``ChangeKeyboardMapping`` requests of every client in the same stream, so a keycode that xdotool
remaps for one non-ASCII character resolves to that character and not to whatever the mapping says
later. Layout switches through XKB arrive as ``MappingNotify`` and refresh the whole map.
"""

from __future__ import annotations

import select
import struct
import threading
import time

from Xlib import X, display
from Xlib.ext import record
from Xlib.protocol import rq

from workscribe.events import MODIFIER_KEYS, Event, now_ns
from workscribe.sources.base import Sink, SourceError
from workscribe.sources.x11.connection import open_display
from workscribe.sources.x11.keysyms import keysym_char, keysym_name

X_CHANGE_KEYBOARD_MAPPING = 100
SCROLL_BUTTONS = {4: (0, -1), 5: (0, 1), 6: (-1, 0), 7: (1, 0)}  # button -> (dx, dy)
_MOD_BITS = (("shift", X.ShiftMask), ("capslock", X.LockMask), ("ctrl", X.ControlMask),
             ("alt", X.Mod1Mask), ("super", X.Mod4Mask), ("altgr", X.Mod5Mask))
_NO_TEXT_MASK = X.ControlMask | X.Mod1Mask | X.Mod4Mask


class _DeviceEvent(struct.Struct):
    """The 32-byte core device event (KeyPress ... MotionNotify), read without python-xlib's parser.

    type, detail, sequence, time, root, event, child, root_x, root_y, event_x, event_y, state,
    same_screen: a direct unpack is about 30 times cheaper, and this runs for every input event.
    """

    def unpack_from(self, buffer: bytes, offset: int = 0) -> tuple[int, int, int, int, int, int]:  # type: ignore[override]
        etype, detail, _, ms, _, _, _, x, y, _, _, state, _ = super().unpack_from(buffer, offset)
        return etype & 0x7F, detail, ms, x, y, state


_DEVICE_EVENT = _DeviceEvent("<BBHIIIIhhhhHBx")


class KeyboardMap:
    """The keycode -> keysyms table, kept in step with the event stream."""

    def __init__(self, first: int, rows: list[tuple[int, ...]]) -> None:
        self.first = first
        self.rows = [list(r) for r in rows]

    def change(self, first: int, per: int, syms: tuple[int, ...]) -> None:
        """Applies a ChangeKeyboardMapping of ``len(syms) // per`` keycodes from ``first``."""
        for i in range(len(syms) // per):
            row = list(syms[i * per:(i + 1) * per])
            idx = first + i - self.first
            if 0 <= idx < len(self.rows):
                self.rows[idx] = row
            elif idx == len(self.rows):
                self.rows.append(row)

    def resolve(self, keycode: int, state: int) -> tuple[int, int]:
        """``(base keysym, produced keysym)`` of ``keycode`` under modifier ``state``."""
        idx = keycode - self.first
        row = self.rows[idx] if 0 <= idx < len(self.rows) else []
        syms = [s for s in row]
        base = syms[0] if syms else 0
        group = 4 if state & X.Mod5Mask and len(syms) > 4 and syms[4] else 0
        lower = syms[group] if len(syms) > group else base
        upper = syms[group + 1] if len(syms) > group + 1 and syms[group + 1] else 0
        shifted = bool(state & X.ShiftMask)
        char = keysym_char(lower) or ""
        if state & X.LockMask and char.isalpha():
            shifted = not shifted
        if shifted:
            if upper:
                return base, upper
            if char and char.upper() != char:
                up = char.upper()
                return base, (ord(up) if ord(up) <= 0xFF else 0x01000000 + ord(up))
        return base, lower


def _mods(state: int) -> list[str]:
    return [name for name, bit in _MOD_BITS if state & bit]


class X11InputSource:
    """Key, button, scroll and (thinned) motion events from an X display.

    Args:
        display_name: X display (``":1"``); None uses ``$DISPLAY``.
        motion_hz: highest rate at which pointer motion is kept; presses and releases always are.
    """

    name = "input"

    def __init__(self, display_name: str | None = None, motion_hz: float = 60.0) -> None:
        self.display_name = display_name
        self.motion_gap_ns = int(1e9 / motion_hz)
        self._sink: Sink | None = None
        self._thread: threading.Thread | None = None
        self._notify_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._pressed: dict[int, tuple[int, str]] = {}  # keycode -> (keysym, key) at press
        self._last_motion_t = 0
        self._pending_motion: Event | None = None
        self._xy = (0, 0)
        self._offset: int | None = None  # clock ns - server ms * 1e6
        self._last_t = 0
        self._last_mapping_request = 0.0
        self.events_seen = 0

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self, sink: Sink) -> None:
        """Opens the RECORD context and starts delivering events to ``sink``."""
        self._ctl = open_display(self.display_name)
        self._rec = open_display(self.display_name)
        self._notify = open_display(self.display_name)
        if not self._rec.has_extension("RECORD"):
            raise SourceError("the X server has no RECORD extension")
        self._sink = sink
        self._keymap = self._read_keymap(self._ctl)
        self._ctx = self._rec.record_create_context(0, [record.AllClients], [{
            "core_requests": (X_CHANGE_KEYBOARD_MAPPING, X_CHANGE_KEYBOARD_MAPPING),
            "core_replies": (0, 0), "ext_requests": (0, 0, 0, 0), "ext_replies": (0, 0, 0, 0),
            "delivered_events": (0, 0), "device_events": (X.KeyPress, X.MotionNotify),
            "errors": (0, 0), "client_started": False, "client_died": False,
        }])
        ptr = self._ctl.screen().root.query_pointer()
        self._xy = (ptr.root_x, ptr.root_y)
        self._thread = threading.Thread(target=self._record_loop, name="x11-input", daemon=True)
        self._thread.start()
        self._notify_thread = threading.Thread(target=self._notify_loop, name="x11-keymap", daemon=True)
        self._notify_thread.start()

    def stop(self) -> None:
        """Disables the RECORD context and joins the threads."""
        if self._thread is None:
            return
        self._stopping.set()
        try:
            self._ctl.record_disable_context(self._ctx)
            self._ctl.flush()
        except Exception:  # the server may already be gone
            pass
        self._thread.join(timeout=5)
        if self._notify_thread:
            self._notify_thread.join(timeout=5)
        with self._lock:
            self._flush_motion()
            self._sink = None
        for d in (self._rec, self._ctl, self._notify):
            try:
                d.close()
            except Exception:
                pass
        self._thread = None

    # -- threads ----------------------------------------------------------------------------------
    def _record_loop(self) -> None:
        try:
            self._rec.record_enable_context(self._ctx, self._on_record)
            self._rec.record_free_context(self._ctx)
        except Exception:  # display closed under us while stopping
            if not self._stopping.is_set():
                raise

    def _notify_loop(self) -> None:
        # MappingNotify reaches every client; python-xlib reads it when we poll this connection.
        fd = self._notify.fileno()
        while not self._stopping.is_set():
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            try:
                n = self._notify.pending_events()
                for _ in range(n):
                    ev = self._notify.next_event()
                    if ev.type == X.MappingNotify and ev.request == X.MappingKeyboard:
                        # A ChangeKeyboardMapping seen in-stream is already applied in order; only
                        # changes made some other way (XKB layout switch) need the full refresh.
                        if time.monotonic() - self._last_mapping_request > 0.5:
                            fresh = self._read_keymap(self._notify)
                            with self._lock:
                                self._keymap = fresh
            except Exception:
                if self._stopping.is_set():
                    return
                raise

    @staticmethod
    def _read_keymap(d: display.Display) -> KeyboardMap:
        first = d.display.info.min_keycode
        count = d.display.info.max_keycode - first + 1
        return KeyboardMap(first, [tuple(r) for r in d.get_keyboard_mapping(first, count)])

    # -- RECORD callback ----------------------------------------------------------------------------
    def _on_record(self, reply: rq.DictWrapper) -> None:
        if reply.category == record.FromClient:
            self._on_request(reply.data)
            return
        if reply.category != record.FromServer or reply.client_swapped:
            return
        data = reply.data
        with self._lock:
            for offset in range(0, len(data) - 31, 32):
                self._on_device_event(*_DEVICE_EVENT.unpack_from(data, offset))

    def _on_request(self, data: bytes) -> None:
        if len(data) < 8 or data[0] != X_CHANGE_KEYBOARD_MAPPING:
            return
        count, first, per = data[1], data[4], data[5]
        if per == 0:
            return
        syms = struct.unpack_from(f"<{count * per}I", data, 8)
        self._last_mapping_request = time.monotonic()
        with self._lock:
            self._keymap.change(first, per, syms)

    def _stamp(self, server_ms: int) -> int:
        """Maps the server's millisecond time to the recording clock (robust to delivery delay)."""
        now = now_ns()
        sample = now - server_ms * 1_000_000
        if self._offset is None or sample < self._offset or sample - self._offset > 1_000_000_000:
            self._offset = sample  # smallest delay seen is the best estimate; a jump means wrap
        t = min(server_ms * 1_000_000 + self._offset, now)
        t = max(t, self._last_t)
        self._last_t = t
        return t

    def _emit(self, kind: str, data: dict, t: int) -> None:
        if self._sink is not None:
            self._sink({"t": t, "source": "input", "kind": kind, "data": data})

    def _flush_motion(self) -> None:
        if self._pending_motion is not None and self._sink is not None:
            self._sink(self._pending_motion)
            self._last_motion_t = self._pending_motion["t"]
        self._pending_motion = None

    def _on_device_event(self, etype: int, detail: int, server_ms: int, x: int, y: int, state: int) -> None:
        self.events_seen += 1
        t = self._stamp(server_ms)
        if etype == X.MotionNotify:
            self._xy = (x, y)
            event: Event = {"t": t, "source": "input", "kind": "motion", "data": {"x": x, "y": y}}
            if t - self._last_motion_t >= self.motion_gap_ns:
                self._pending_motion = None
                self._last_motion_t = t
                if self._sink is not None:
                    self._sink(event)
            else:
                self._pending_motion = event
            return
        self._flush_motion()
        self._xy = (x, y)
        if etype == X.KeyPress:
            base, sym = self._keymap.resolve(detail, state)
            key = keysym_name(base) if base else keysym_name(sym)
            text = None if state & _NO_TEXT_MASK or key in MODIFIER_KEYS else keysym_char(sym)
            self._pressed[detail] = (sym, key)
            self._emit("key_press", {"keycode": detail, "keysym": sym, "key": key, "text": text,
                                     "mods": _mods(state), "x": x, "y": y}, t)
        elif etype == X.KeyRelease:
            sym, key = self._pressed.pop(detail, (0, ""))
            if not key:
                base, sym = self._keymap.resolve(detail, state)
                key = keysym_name(base)
            self._emit("key_release", {"keycode": detail, "keysym": sym, "key": key}, t)
        elif etype == X.ButtonPress:
            if detail in SCROLL_BUTTONS:
                dx, dy = SCROLL_BUTTONS[detail]
                self._emit("scroll", {"dx": dx, "dy": dy, "x": x, "y": y}, t)
            else:
                self._emit("button_press", {"button": detail, "x": x, "y": y}, t)
        elif etype == X.ButtonRelease and detail not in SCROLL_BUTTONS:
            self._emit("button_release", {"button": detail, "x": x, "y": y}, t)

    @property
    def pointer(self) -> tuple[int, int]:
        """Last known pointer position."""
        return self._xy
