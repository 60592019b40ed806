"""Talking to the running recorder: a Unix socket that only its owner can open.

The socket lives in an owner-only folder under ``$WORKSCRIBE_HOME``, has mode 0600, and the server
also checks the peer's uid (SO_PEERCRED). One JSON request per connection, one JSON reply.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workscribe import paths

Handler = Callable[[str, dict[str, Any]], dict[str, Any]]
"""Answers one request: its command and its arguments (``{}`` when none were sent)."""


class ControlError(RuntimeError):
    """No recorder is running, or it did not answer."""


class ControlServer:
    """Serves ``{"cmd": ...}`` requests to ``handler`` on a background thread."""

    def __init__(self, handler: Handler, path: Path | None = None) -> None:
        self.path = path or paths.control_socket()
        self.handler = handler
        if self.path.exists():
            try:
                request("status", self.path, timeout=1.0)
            except ControlError:
                self.path.unlink()  # stale socket of a recorder that died
            else:
                raise ControlError(f"a recorder is already running (socket {self.path})")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            self._sock.bind(str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        self._sock.listen(4)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="control", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                try:
                    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
                    _, uid, _ = struct.unpack("3i", creds)
                    if uid != os.getuid():
                        conn.sendall(b'{"ok": false, "error": "not the owner"}\n')
                        continue
                    conn.settimeout(2.0)
                    line = conn.makefile("rb").readline()
                    req = json.loads(line)
                    args = req.get("args") or {}
                    if not isinstance(args, dict):
                        raise ValueError("args must be an object")
                    reply = self.handler(str(req.get("cmd", "")), args)
                except (OSError, ValueError, AttributeError) as exc:
                    reply = {"ok": False, "error": f"bad request: {exc}"}
                try:
                    conn.sendall(json.dumps(reply).encode() + b"\n")
                except OSError:
                    pass

    def close(self) -> None:
        """Stops serving and removes the socket."""
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


def request(cmd: str, path: Path | None = None, timeout: float = 3.0,
            args: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sends one command (with ``args``, if any) to the running recorder and returns its reply."""
    path = path or paths.control_socket()
    if not path.exists():
        raise ControlError("no recorder is running")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(path))
            s.sendall(json.dumps({"cmd": cmd, "args": args or {}}).encode() + b"\n")
            data = s.makefile("rb").readline()
    except OSError as exc:
        raise ControlError(f"no recorder is answering ({exc.strerror or exc})") from None
    try:
        return json.loads(data)
    except ValueError:
        raise ControlError("the recorder sent a reply that is not JSON") from None
