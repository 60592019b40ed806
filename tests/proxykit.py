"""A real TCP proxy for fault tests: it forwards connections on 127.0.0.1 to an upstream that can change
while it runs (a service restarted on another port), and drops connections on a schedule the test sets:
some in the middle of a request, some after the request but before the whole response is back.

It knows nothing of HTTP: a cut is a byte offset in one direction of one connection. With keep-alive a
connection carries one request after another, so a cut lands in whichever request (or response) holds
that byte; a cut that the connection never reaches is not counted.
"""

from __future__ import annotations

import random
import selectors
import socket
import struct
import threading
from dataclasses import dataclass

REQUEST = "request"
RESPONSE = "response"
STALL = "stall"


@dataclass
class Drops:
    """How the proxy drops connections: each new connection is cut with these odds (0 to 1)."""

    request: float = 0.0  # cut after forwarding part of what the client sent
    response: float = 0.0  # forward the request whole, cut the answer before it is all back
    stall: float = 0.0  # like ``request``, but the upstream side stays open and silent: a half-open
    # connection, as when a network drops a client without a word to the server
    request_bytes: int = 512 * 1024  # a request cut falls in the first 1..request_bytes sent upstream
    response_bytes: int = 4096  # a response cut falls in the first 1..response_bytes sent back

    def __post_init__(self) -> None:
        odds = (self.request, self.response, self.stall)
        if not (all(0 <= p <= 1 for p in odds) and sum(odds) <= 1):
            raise ValueError(f"odds request={self.request}, response={self.response}, stall={self.stall}: "
                             "each in [0, 1], their sum at most 1")


@dataclass
class ProxyCounts:
    """What the proxy did so far."""

    connections: int = 0  # accepted from clients
    refused: int = 0  # no upstream answered: the client's connection was closed at once
    cut_requests: int = 0  # closed after forwarding part of a request
    cut_responses: int = 0  # closed before the whole response reached the client
    stalled: int = 0  # closed toward the client after part of a request, left open and silent upstream


class DroppingProxy:
    """A TCP proxy on ``127.0.0.1:<free port>`` to ``upstream``; a context manager that stops it.

    Args:
        upstream: ``(host, port)`` of the service, or None (every connection is refused until
            ``set_upstream``).
        drops: the schedule of cuts (none by default; change it with ``set_drops``).
        seed: the cuts' random choices are a function of it.
    """

    def __init__(self, upstream: tuple[str, int] | None = None, drops: Drops | None = None,
                 seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._upstream = upstream
        self._drops = drops or Drops()
        self._rng = random.Random(seed)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.counts = ProxyCounts()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(256)
        self._listener.settimeout(0.1)  # the accept loop looks at the stop flag this often
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._acceptor = threading.Thread(target=self._accept_loop, name="proxy-accept", daemon=True)
        self._acceptor.start()

    def set_upstream(self, upstream: tuple[str, int] | None) -> None:
        """Where new connections go from now on (connections already open keep theirs)."""
        with self._lock:
            self._upstream = upstream

    def set_drops(self, drops: Drops) -> None:
        """The schedule of cuts for new connections."""
        with self._lock:
            self._drops = drops

    def stop(self) -> None:
        """Stops accepting, closes every connection and waits for every thread of the proxy."""
        self._stopping.set()
        self._acceptor.join(timeout=10)
        self._listener.close()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=10)
        alive = [t.name for t in (self._acceptor, *threads) if t.is_alive()]
        if alive:
            raise RuntimeError(f"proxy threads did not stop: {alive}")

    def __enter__(self) -> DroppingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- inside ---------------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                raise
            conn.settimeout(None)
            with self._lock:
                self.counts.connections += 1
                n, upstream, drops = self.counts.connections, self._upstream, self._drops
                roll = self._rng.random()
                mode = (REQUEST if roll < drops.request
                        else RESPONSE if roll < drops.request + drops.response
                        else STALL if roll < drops.request + drops.response + drops.stall else None)
                cut = self._rng.randint(1, drops.response_bytes if mode == RESPONSE else drops.request_bytes)
                abort = self._rng.random() < 0.5  # half the cuts reset the connection, half close it
                self._threads = [t for t in self._threads if t.is_alive()]
                thread = threading.Thread(target=self._serve, args=(conn, upstream, mode, cut, abort),
                                          name=f"proxy-{n}", daemon=True)
                self._threads.append(thread)
            thread.start()

    def _serve(self, client: socket.socket, upstream: tuple[str, int] | None, mode: str | None, cut: int,
               abort: bool) -> None:
        up = None
        try:
            try:
                if upstream is None:
                    raise ConnectionRefusedError
                up = socket.create_connection(upstream, timeout=5)
            except OSError:
                with self._lock:
                    self.counts.refused += 1
                return
            for s in (client, up):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.settimeout(30)  # a send that cannot go on for this long ends the connection
            if self._pump(client, up, mode, cut):
                with self._lock:
                    if mode == REQUEST:
                        self.counts.cut_requests += 1
                    elif mode == RESPONSE:
                        self.counts.cut_responses += 1
                    else:
                        self.counts.stalled += 1
                if mode == STALL:  # the client's side goes; upstream hears nothing more until the stop
                    client.close()
                    while not self._stopping.wait(0.1) and not _closed(up):
                        pass
                elif abort:  # a reset, as a broken network gives, rather than an orderly close
                    for s in (client, up):
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass  # either side went away: the other is closed below
        finally:
            client.close()
            if up is not None:
                up.close()

    def _pump(self, client: socket.socket, up: socket.socket, mode: str | None, cut: int) -> bool:
        """Forwards both ways until either side closes or the stop; True when it cut the connection."""
        left = {REQUEST: None, RESPONSE: None}  # bytes to forward in that direction before the cut
        if mode is not None:
            left[RESPONSE if mode == RESPONSE else REQUEST] = cut
        with selectors.DefaultSelector() as sel:
            sel.register(client, selectors.EVENT_READ, (REQUEST, up))
            sel.register(up, selectors.EVENT_READ, (RESPONSE, client))
            while not self._stopping.is_set():
                for key, _ in sel.select(timeout=0.1):
                    direction, to = key.data
                    data = key.fileobj.recv(65536)
                    if not data:
                        return False
                    before = left[direction]
                    if before is not None:
                        if before < len(data):  # the cut falls in this piece: its head goes, then none
                            to.sendall(data[:before])
                            return True
                        left[direction] = before - len(data)
                    to.sendall(data)
        return False


def _closed(sock: socket.socket) -> bool:
    """True once the peer closed ``sock`` (what it sends meanwhile is read and dropped)."""
    try:
        sock.setblocking(False)
        return sock.recv(65536) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
