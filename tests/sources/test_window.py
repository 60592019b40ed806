"""The X11 window source against a real Xvfb + openbox: X errors and failed connections."""

from __future__ import annotations

import socket
import threading

import pytest
from Xlib import X, Xatom
from Xlib.error import BadValue

from helpers import wait_for
from workscribe.envs.xdisplay import XDisplay, open_window
from workscribe.sources.x11.connection import open_display
from workscribe.sources.x11.window import X11WindowSource

pytestmark = pytest.mark.x11


def _xterm(d: XDisplay, name: str, geometry: str):
    return open_window(d.name, "xterm", "-name", name, "-title", name, "-geometry", geometry, wm_class=name)


def _stop(*procs) -> None:
    for p in procs:
        p.kill()
        p.wait()


def test_a_bad_value_error_is_an_x_error_and_the_connection_goes_on(xdisplay: XDisplay) -> None:
    """A ``BadValue`` (what ``get_full_property`` gets when a title shrinks between its two reads,
    as a closing browser's does) raised ``AttributeError`` inside python-xlib 0.33 and left the
    connection hanging; on a connection from ``open_display`` it is the ``XError`` callers catch."""
    d = open_display(xdisplay.name)
    try:
        root = d.screen().root
        atom = d.intern_atom("WORKSCRIBE_TEST")
        root.change_property(atom, Xatom.STRING, 8, b"short")
        d.sync()
        with pytest.raises(BadValue):
            root.get_property(atom, X.AnyPropertyType, 1000, 1)  # an offset past the end: BadValue
        answers: list = []
        probe = threading.Thread(target=lambda: answers.append(d.get_input_focus()), daemon=True)
        probe.start()
        probe.join(timeout=5)
        assert answers, "the connection hangs after the error"
    finally:
        d.close()


def test_the_window_source_reconnects_when_its_connection_fails(xdisplay: XDisplay) -> None:
    left, left_id = _xterm(xdisplay, "leftterm", "40x10+10+10")
    procs = [left]
    events: list[dict] = []
    logs: list[str] = []
    source = X11WindowSource(xdisplay.name, log=logs.append)
    try:
        source.start(events.append)
        assert source.state.active is not None and source.state.active.id == left_id
        thread = source._thread
        source._d.display.socket.shutdown(socket.SHUT_RDWR)  # the server's end is gone
        wait_for(lambda: source.reconnected == 1, timeout=10, interval=0.01, what="a reconnection")
        assert len(logs) == 1 and logs[0].startswith("window source: X connection failed (")
        assert logs[0].endswith("); reconnected")
        right, right_id = _xterm(xdisplay, "rightterm", "40x10+400+10")
        procs.append(right)
        wait_for(lambda: any(e["data"]["id"] == right_id for e in events), timeout=10, interval=0.01,
                 what="the new window's event")
        assert source.state.active.id == right_id and thread.is_alive()
        assert {w.id for w in source.state.stacking} >= {left_id, right_id}
    finally:
        source.stop()
        _stop(*procs)
    assert not thread.is_alive()


def test_the_window_source_thread_ends_with_the_error_when_x_is_gone(
        xdisplay: XDisplay, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a server to reconnect to, the thread ends with the error, for the supervisor."""
    died: list = []
    monkeypatch.setattr(threading, "excepthook", died.append)
    source = X11WindowSource(xdisplay.name, reconnects=2)
    source.start(lambda e: None)
    thread = source._thread
    try:
        xdisplay.stop()  # Xvfb and openbox end
        wait_for(lambda: not thread.is_alive(), timeout=10, interval=0.01, what="the thread's end")
        assert len(died) == 1 and died[0].thread is thread
        assert source.reconnected == 0
    finally:
        source.stop()
