"""A thin binding of Linux inotify(7): one descriptor, watches added and removed one folder at a time.

The files source chooses which folders it watches: a repository's ``.git`` and its ignored trees
(``.venv``, ``node_modules``, build output) often hold a hundred times more folders than its sources,
and events from them would only be thrown away. watchdog's recursive watch cannot leave them out,
so the files source uses this; the git source, which watches two folders per repository, uses
watchdog.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import math
import os
import select
import struct
from dataclasses import dataclass

IN_MODIFY = 0x2
IN_ATTRIB = 0x4
IN_CLOSE_WRITE = 0x8
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_EXCL_UNLINK = 0x04000000
IN_ISDIR = 0x40000000

_IN_CLOEXEC = 0o2000000
_IN_NONBLOCK = 0o4000
_HEADER = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then the name)


@dataclass(frozen=True)
class InotifyEvent:
    """One kernel event: ``name`` is the entry's name inside the watched folder (empty for the folder)."""

    wd: int
    mask: int
    cookie: int
    name: bytes


class Inotify:
    """An inotify descriptor that ``read`` waits on, and that ``wake`` interrupts from any thread."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self._add = libc.inotify_add_watch
        self._add.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self._rm = libc.inotify_rm_watch
        self._rm.argtypes = [ctypes.c_int, ctypes.c_int]
        self.fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if self.fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"inotify_init1: {os.strerror(err)}")
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._poll = select.poll()
        self._poll.register(self.fd, select.POLLIN)
        self._poll.register(self._wake_r, select.POLLIN)

    def add_watch(self, path: str, mask: int) -> int:
        """Watches ``path``; the same folder always gets the same descriptor. Raises ``OSError``."""
        wd = self._add(self.fd, os.fsencode(path), mask)
        if wd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)
        return wd

    def rm_watch(self, wd: int) -> None:
        """Stops a watch (the kernel then sends ``IN_IGNORED`` for it); a gone watch is no error."""
        self._rm(self.fd, wd)

    def read(self, timeout: float | None) -> list[InotifyEvent]:
        """Events ready within ``timeout`` seconds (None: until one comes or ``wake``), else []."""
        try:
            ready = self._poll.poll(None if timeout is None else max(0, math.ceil(timeout * 1000)))
        except InterruptedError:
            return []
        if any(fd == self._wake_r for fd, _ in ready):
            try:
                while os.read(self._wake_r, 512):
                    pass
            except BlockingIOError:
                pass
        return self.read_now()

    def read_now(self) -> list[InotifyEvent]:
        """The events already queued, without waiting."""
        events: list[InotifyEvent] = []
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return events
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise
            offset = 0
            while offset + _HEADER.size <= len(buf):
                wd, mask, cookie, length = _HEADER.unpack_from(buf, offset)
                start = offset + _HEADER.size
                events.append(InotifyEvent(wd, mask, cookie, buf[start:start + length].rstrip(b"\0")))
                offset = start + length

    def wake(self) -> None:
        """Makes a waiting ``read`` return now (any thread)."""
        try:
            os.write(self._wake_w, b"!")
        except BlockingIOError:
            pass  # already woken

    def close(self) -> None:
        for fd in (self.fd, self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
