"""A small Chrome DevTools Protocol client: one WebSocket, flat sessions, a reader thread.

``CdpConnection.call`` sends a command and waits for its answer; events (and answers nobody waits
for) go to ``on_event(method, params, session_id)`` from the reader thread, which must not call
``call`` itself (it would wait for an answer only it can read): hand such work to another thread.
Connections go to loopback only.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")

EventHandler = Callable[[str, dict[str, Any], str | None], None]


class CdpError(RuntimeError):
    """The browser refused a command, did not answer, or the connection is gone."""


class CdpConnection:
    """One DevTools WebSocket to a browser on this machine.

    Args:
        url: ``ws://127.0.0.1:PORT/devtools/browser/ID``; any host but loopback is refused.
        on_event: called with (method, params, session id) for every event, from the reader thread.
        timeout: seconds to connect.
    """

    def __init__(self, url: str, on_event: EventHandler, timeout: float = 3.0) -> None:
        import websocket

        host = urlsplit(url).hostname or ""
        if host not in LOOPBACK:
            raise CdpError(f"refusing a DevTools connection to {host!r}: only loopback is allowed")
        self.url = url
        self.on_event = on_event
        try:
            self._ws = websocket.create_connection(
                url, timeout=timeout, suppress_origin=True, enable_multithread=True,
                http_no_proxy=list(LOOPBACK))
        except (OSError, websocket.WebSocketException) as exc:
            raise CdpError(f"cannot connect to {url}: {exc}") from None
        self._ws.settimeout(0.5)
        self._ids = itertools.count(1)
        self._waiting: dict[int, list[Any]] = {}  # id -> [threading.Event, reply]
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._read, name="cdp-reader", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """False once the browser closed the connection or ``close`` was called."""
        return not self._closed.is_set()

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> int:
        """Sends a command without waiting for its answer; returns its id."""
        msg_id = next(self._ids)
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        try:
            self._ws.send(json.dumps(msg))
        except Exception as exc:  # the socket closed under us
            self._closed.set()
            raise CdpError(f"{method}: connection lost ({exc})") from None
        return msg_id

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 5.0) -> dict[str, Any]:
        """Sends a command and returns its ``result``; ``CdpError`` if it failed or timed out."""
        if not self.alive:
            raise CdpError(f"{method}: connection closed")
        done = threading.Event()
        slot: list[Any] = [done, None]
        with self._lock:
            msg_id = next(self._ids)
            self._waiting[msg_id] = slot
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        try:
            self._ws.send(json.dumps(msg))
        except Exception as exc:
            self._closed.set()
            raise CdpError(f"{method}: connection lost ({exc})") from None
        if not done.wait(timeout):
            with self._lock:
                self._waiting.pop(msg_id, None)
            raise CdpError(f"{method}: no answer within {timeout:.0f} s")
        reply = slot[1]
        if reply is None:
            raise CdpError(f"{method}: connection closed")
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error'].get('message', reply['error'])}")
        return reply.get("result", {})

    def close(self) -> None:
        """Closes the socket and stops the reader thread."""
        self._closed.set()
        try:
            self._ws.close()
        except Exception:
            pass
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _read(self) -> None:
        import websocket

        while not self._closed.is_set():
            try:
                raw = self._ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except Exception:  # closed by the browser or by close()
                break
            if not raw:
                continue
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            if "id" in msg:
                with self._lock:
                    slot = self._waiting.pop(msg["id"], None)
                if slot is not None:
                    slot[1] = msg
                    slot[0].set()
                continue
            try:
                self.on_event(msg.get("method", ""), msg.get("params", {}), msg.get("sessionId"))
            except Exception:  # a handler's error must not stop the connection
                import logging

                logging.getLogger(__name__).exception("CDP event handler failed")
        self._closed.set()
        with self._lock:
            waiting, self._waiting = self._waiting, {}
        for slot in waiting.values():
            slot[0].set()
