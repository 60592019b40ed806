"""Output of shell commands: a pty proxy between the terminal and the contributor's shell.

The terminal starts it in place of the shell::

    python -m workscribe.sources.shell_pty --port-file FILE -- SHELL [ARGS...]

It runs SHELL in a new pseudo-terminal with ``WORKSCRIBE_PTY=1`` added to its environment, puts
its own terminal in raw mode (restored on exit) and copies bytes both ways as they come, window size
included (at start and on every SIGWINCH). It exits with the shell's exit status (128 + N when a
signal N ended it). When its stdin is not a terminal, or anything fails while setting up, it execs
SHELL directly (``/bin/sh`` if SHELL cannot run): there is always a working shell. An error in the
capture later turns the capture off and the proxy goes on.

**Marks.** With ``WORKSCRIBE_PTY=1`` the shell hook writes ``ESC]133;C;ws=SESSION:SEQ BEL`` when a
command starts and ``ESC]133;D;EXIT;ws=SESSION:SEQ BEL`` when it ended, before the next prompt
(SESSION: 8 hex digits, SEQ and EXIT integers). The proxy takes these marks out of the stream, also
when a read cuts one in two; the terminal sees every other byte unchanged. A read that ends inside
what may be a mark is held back until the next read, or for at most ``HOLD_S`` when none comes.

**Records.** The output between a C mark and the D mark of the same ``SESSION:SEQ`` is kept in
memory (the last ``BUFFER_BYTES``). At the D mark a background thread reads ``PORT TOKEN`` from the
port file (it exists only while a recorder that may record output runs; when it does not, nothing
is sent), turns the output into plain text (``render_tail``) and sends one record on a new
connection to ``127.0.0.1:PORT``, giving up after ``CONNECT_TIMEOUT_S``::

    WS1 O <token> <session> <seq> <truncated 0|1>\\n<the tail, UTF-8, until the connection closes>

``truncated`` is 1 when the tail is not the whole output (more than ``TAIL_LINES`` lines, more than
``TAIL_CHARS`` characters, or more than ``BUFFER_BYTES`` bytes printed). The text is not redacted:
the recorder redacts it before anything is stored. Nothing is ever written to disk here.

**Start-up.** It runs before every shell, so it imports only small standard modules (about 2 ms);
``re`` and ``socket`` are imported by the sending thread at the first record. Most of its start-up
is the interpreter's and, under ``-m``, the import of the package ``workscribe.sources``.
"""

from __future__ import annotations

import _signal as signal  # what `signal` wraps; `signal` itself imports enum (7 ms at start-up)
import fcntl
import os
import select
import sys
import termios
import time
import tty

TYPE_CHECKING = False
if TYPE_CHECKING:  # collections.abc and typing are not imported at start-up
    from collections.abc import Callable

MARK_PREFIX = b"\x1b]133;"
MARK_MAX_BYTES = 96  # from ESC to BEL; a longer OSC 133 sequence is not a workscribe mark
BUFFER_BYTES = 64 * 1024  # output kept per running command (the last bytes)
TAIL_LINES = 40  # lines of a command's output sent to the recorder
TAIL_CHARS = 4000  # characters of those lines, at most
CONNECT_TIMEOUT_S = 0.2  # for connecting to the recorder and sending one record
HOLD_S = 0.1  # how long bytes that may begin a mark wait for the rest
READ_BYTES = 64 * 1024  # one read from either side
INPUT_BACKLOG_BYTES = 256 * 1024  # keys/paste not yet taken by the shell; stdin is not read beyond
MAX_OPEN_COMMANDS = 8  # sessions with a command running at once (nested shells)
MAX_PENDING_RECORDS = 16  # records waiting for the sending thread; more are dropped
MAX_COLUMN = 1024  # cursor movements further right are clamped here
DRAIN_S = 0.2  # after the shell exited, how long output still left in the pty is copied
HANGUP_WAIT_S = 3.0  # after the terminal went away, how long to wait for the shell to exit
EXIT_SEND_WAIT_S = 0.5  # after the shell exited, how long a record still being sent may take

USAGE = "usage: python -m workscribe.sources.shell_pty --port-file FILE -- SHELL [ARGS...]\n"

if TYPE_CHECKING:
    OnCommand = Callable[[str, int, bytes, bool], None]

_HEX = frozenset(b"0123456789abcdefABCDEF")


def parse_mark(body: bytes) -> tuple[str, str, int] | None:
    """Reads the body of a mark (between ``ESC]133;`` and BEL).

    Returns:
        ``(kind, session, seq)`` with kind ``"C"`` or ``"D"``, or None when the body is not a
        workscribe mark (other shell integrations use OSC 133 too).
    """
    parts = body.split(b";")
    if len(parts) == 2 and parts[0] == b"C":
        ws = parts[1]
    elif len(parts) == 3 and parts[0] == b"D" and parts[1].lstrip(b"-").isdigit():
        ws = parts[2]
    else:
        return None
    session, colon, seq = ws[3:].partition(b":")
    if (not ws.startswith(b"ws=") or not colon or len(session) != 8 or not _HEX.issuperset(session)
            or not seq.isdigit()):
        return None
    return parts[0].decode(), session.decode(), int(seq)


class _Command:
    __slots__ = ("seq", "output", "overflowed")

    def __init__(self, seq: int) -> None:
        self.seq = seq
        self.output = bytearray()
        self.overflowed = False


class MarkTap:
    """Takes workscribe marks out of the shell's output and keeps what each command printed.

    ``feed`` returns what the terminal must see: every byte but the marks, in order. Bytes at the
    end of a read that may begin a mark are held (``held``) until the next ``feed`` or ``flush``.
    At a D mark whose ``session:seq`` matches the open C mark, ``on_command(session, seq, output,
    overflowed)`` gets the last ``BUFFER_BYTES`` printed in between; ``overflowed`` says that more
    was printed. A shell runs one command at a time, so one command is open per session (nested
    shells have their own sessions); a new C mark of a session drops its unfinished command.
    """

    def __init__(self, on_command: OnCommand) -> None:
        self.on_command = on_command
        self.held = b""
        self._open: dict[str, _Command] = {}

    def feed(self, data: bytes) -> bytes:
        """Returns the bytes of ``data`` (after what was held) for the terminal."""
        if self.held:
            data = self.held + data
            self.held = b""
        if b"\x07" in data:  # (memchr: fast) a whole mark ends with BEL
            i = data.find(MARK_PREFIX)
        else:  # but a read may end inside one
            i = data.find(MARK_PREFIX, max(0, len(data) - MARK_MAX_BYTES))
        if i < 0:  # most reads
            data = self._hold_tail(data)
            if self._open:
                self._keep(data)
            return data
        out: list[bytes] = []
        start = 0
        while i >= 0:
            end = data.find(b"\x07", i + len(MARK_PREFIX), i + MARK_MAX_BYTES)
            if end < 0 and len(data) - i < MARK_MAX_BYTES and data.find(b"\x1b", i + 1) < 0:
                self._pass(out, data[start:i])  # the read ended inside what may be a mark
                self.held = data[i:]
                return b"".join(out)
            mark = parse_mark(data[i + len(MARK_PREFIX):end]) if end >= 0 else None
            if mark is None:
                i = data.find(MARK_PREFIX, i + 1)
                continue
            self._pass(out, data[start:i])
            self._mark(*mark)
            start = end + 1
            i = data.find(MARK_PREFIX, start)
        self._pass(out, self._hold_tail(data[start:]))
        return b"".join(out)

    def flush(self) -> bytes:
        """Gives up waiting for the rest of a mark: the held bytes go to the terminal."""
        data, self.held = self.held, b""
        if self._open:
            self._keep(data)
        return data

    def _hold_tail(self, data: bytes) -> bytes:
        j = data.rfind(b"\x1b", max(0, len(data) - len(MARK_PREFIX) + 1))
        if j >= 0 and MARK_PREFIX.startswith(data[j:]):
            self.held = data[j:]
            return data[:j]
        return data

    def _pass(self, out: list[bytes], piece: bytes) -> None:
        if piece:
            out.append(piece)
            if self._open:
                self._keep(piece)

    def _keep(self, piece: bytes) -> None:
        for cmd in self._open.values():
            buf = cmd.output
            buf += piece
            if len(buf) > 2 * BUFFER_BYTES:  # trimmed in large steps: appends stay cheap
                del buf[:-BUFFER_BYTES]
                cmd.overflowed = True

    def _mark(self, kind: str, session: str, seq: int) -> None:
        if kind == "C":
            self._open.pop(session, None)
            if len(self._open) >= MAX_OPEN_COMMANDS:
                del self._open[next(iter(self._open))]
            self._open[session] = _Command(seq)
            return
        cmd = self._open.pop(session, None)
        if cmd is not None and cmd.seq == seq:
            output = cmd.output
            self.on_command(session, seq, bytes(output[-BUFFER_BYTES:]),
                            cmd.overflowed or len(output) > BUFFER_BYTES)


_control = None


def _control_re():
    global _control
    if _control is None:
        import re

        _control = re.compile(
            r"\x1b\[([0-?]*)[ -/]*([@-~])"  # CSI: parameters, final byte
            r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC (title, hyperlink, ...)
            r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC
            r"|\x1b[ -/]*[0-~]?"  # other escapes (charset, keypad mode, ...), a lone ESC
            r"|[\x00-\x08\x0a-\x1f\x7f-\x9f]"  # C0 and C1 controls but tab
        )
    return _control


_ALT_SCREEN = ("?1049", "?1047", "?47")


def _put(line: list[str], col: int, text: str) -> int:
    if col > len(line):
        line.extend(" " * (col - len(line)))
    line[col:col + len(text)] = text
    return col + len(text)


def screen_lines(text: str) -> list[str]:
    """The lines a terminal would show for ``text`` printed from the start of an empty screen.

    Carriage returns, backspaces and the usual cursor and erase sequences (CSI A-G, J, K, P, X, @)
    move and overwrite as on a terminal, so a progress bar ends in its final state; everything shown
    on the alternate screen (full-screen programs) is left out; other escapes and controls are
    dropped. Lines are logical (no wrapping at a terminal width) and have no trailing blanks.
    """
    lines: list[list[str]] = [[]]
    row = col = 0
    alt = False
    pos = 0
    for m in _control_re().finditer(text):
        if m.start() > pos and not alt:
            col = _put(lines[row], col, text[pos:m.start()])
        pos = m.end()
        final = m.group(2)
        if final is None:
            if alt:
                continue
            c = m.group()
            if c == "\n":
                row += 1
                if row == len(lines):
                    lines.append([])
            elif c == "\r":
                col = 0
            elif c == "\b" and col:
                col -= 1
            continue
        params = m.group(1)
        if params in _ALT_SCREEN and final in "hl":
            alt = final == "h"
            continue
        if alt or params.startswith(("?", ">", "<", "=")):
            continue
        args = params.split(";")
        n = int(args[0]) if args[0].isdigit() else 0
        n1 = max(n, 1)
        line = lines[row]
        if final == "K":
            if n == 0:
                del line[col:]
            elif n == 1:
                line[:col + 1] = " " * min(col + 1, len(line))
            else:
                line.clear()
        elif final == "J":
            if n == 0:
                del line[col:]
                del lines[row + 1:]
            elif n >= 2:
                lines, row = [[]], 0
        elif final in "AF":
            row = max(0, row - n1)
            col = 0 if final == "F" else col
        elif final in "BE":
            row = min(row + n1, len(lines) - 1)
            col = 0 if final == "E" else col
        elif final == "C":
            col = min(col + n1, MAX_COLUMN)
        elif final == "D":
            col = max(0, col - n1)
        elif final in "G`":
            col = min(n1, MAX_COLUMN) - 1
        elif final in "Hf":
            x = args[1] if len(args) > 1 else ""
            col = min(int(x) if x.isdigit() and x != "0" else 1, MAX_COLUMN) - 1
        elif final == "P":
            del line[col:col + n1]
        elif final == "X":
            end = min(col + n1, len(line))
            if end > col:
                line[col:end] = " " * (end - col)
        elif final == "@" and col < len(line):
            line[col:col] = " " * n1
    if pos < len(text) and not alt:
        _put(lines[row], col, text[pos:])
    return ["".join(line).rstrip() for line in lines]


def render_tail(output: bytes, overflowed: bool = False) -> tuple[str, bool]:
    """Turns a command's output into the plain-text tail sent to the recorder.

    Args:
        output: the bytes the command printed (the last ``BUFFER_BYTES``).
        overflowed: more was printed before ``output``; its first, partial line is dropped.

    Returns:
        The last ``TAIL_LINES`` lines, at most ``TAIL_CHARS`` characters (UTF-8 decoded with
        replacement, escapes applied or removed by ``screen_lines``, no leading or trailing empty
        lines), and whether that is not the whole output.
    """
    if overflowed:
        output = output[output.find(b"\n") + 1:]
    lines = screen_lines(output.decode("utf-8", "replace"))
    end = len(lines)
    while end and not lines[end - 1]:
        end -= 1
    start = 0
    while start < end and not lines[start]:
        start += 1
    truncated = overflowed
    if end - start > TAIL_LINES:
        start, truncated = end - TAIL_LINES, True
    text = "\n".join(lines[start:end])
    if len(text) > TAIL_CHARS:
        text, truncated = text[-TAIL_CHARS:], True
        nl = text.find("\n")
        if 0 <= nl < len(text) - 1:
            text = text[nl + 1:]
    return text, truncated


def read_port_file(path: str) -> tuple[int, bytes] | None:
    """``(port, token)`` from the recorder's port file, or None when there is none (or it is bad)."""
    try:
        with open(path, "rb") as f:
            fields = f.read(256).split()
        port, token = int(fields[0]), fields[1]
    except (OSError, ValueError, IndexError):
        return None
    return (port, token) if 0 < port < 65536 else None


def send_record(port_file: str, session: str, seq: int, output: bytes, overflowed: bool) -> bool:
    """Sends one command's output to the recorder named by the port file; False when none took it."""
    recorder = read_port_file(port_file)
    if recorder is None:
        return False
    text, truncated = render_tail(output, overflowed)
    port, token = recorder
    import socket

    head = b"WS1 O %s %s %d %d\n" % (token, session.encode(), seq, truncated)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=CONNECT_TIMEOUT_S) as conn:
            conn.sendall(head + text.encode())
    except OSError:
        return False
    return True


class Sender:
    """Sends records from one background thread, so the proxy never waits for the recorder.

    The thread starts with the first record (``_thread``: no import of ``threading`` at start-up).
    """

    def __init__(self, port_file: str) -> None:
        self.port_file = port_file
        self._jobs: list[tuple[str, int, bytes, bool]] = []
        self._wake = None
        self._busy = False

    def submit(self, session: str, seq: int, output: bytes, overflowed: bool) -> None:
        """Queues one record; dropped when ``MAX_PENDING_RECORDS`` already wait."""
        if len(self._jobs) >= MAX_PENDING_RECORDS:
            return
        self._jobs.append((session, seq, output, overflowed))
        if self._wake is None:
            import _thread

            self._wake = _thread.allocate_lock()
            _thread.start_new_thread(self._work, ())
        else:
            try:
                self._wake.release()
            except RuntimeError:  # already released: the thread will look at the jobs anyway
                pass

    def wait(self, timeout: float) -> None:
        """Waits until the queued records are sent, for at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while (self._jobs or self._busy) and time.monotonic() < deadline:
            time.sleep(0.005)

    def _work(self) -> None:
        while True:
            while self._jobs:
                self._busy = True  # before the pop: `wait` sees the job queued or being sent
                try:
                    send_record(self.port_file, *self._jobs.pop(0))
                except Exception:  # a record lost must not stop the next ones
                    pass
                finally:
                    self._busy = False
            self._wake.acquire()


class Proxy:
    """The shell in its pty and the loop that copies bytes between it and the terminal.

    ``start`` either succeeds with the shell running or undoes everything it did and raises; ``run``
    then copies until the shell has exited and returns its exit status.
    """

    def __init__(self, shell: list[str], port_file: str) -> None:
        self.shell = shell
        self.sender = Sender(port_file)
        self.tap: MarkTap | None = MarkTap(self.sender.submit)
        self.pid = 0
        self.master = -1
        self.wake_r = self.wake_w = -1
        self.saved: list | None = None  # the terminal's attributes before raw mode
        self.raw = False
        self.status: int | None = None
        self.stdin_open = True
        self.to_shell = bytearray()
        self.held_since = 0.0

    # setting up

    def start(self) -> None:
        """Starts the shell in a new pty; on any error leaves the terminal as it was and raises."""
        slave = -1
        try:
            self.wake_r, self.wake_w = os.pipe()
            os.set_blocking(self.wake_r, False)
            os.set_blocking(self.wake_w, False)
            signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
            for sig in (signal.SIGCHLD, signal.SIGWINCH, signal.SIGHUP, signal.SIGTERM):
                signal.signal(sig, _on_signal)
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # raw mode: ^C is a byte for the shell
            self.saved = termios.tcgetattr(0)
            size = fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8)  # a resize from now on is caught
            self.master, slave = os.openpty()
            termios.tcsetattr(slave, termios.TCSANOW, self.saved)  # the shell's pty starts like ours
            fcntl.ioctl(slave, termios.TIOCSWINSZ, size)
            tty.setraw(0, termios.TCSANOW)
            self.raw = True
            env = dict(os.environ, WORKSCRIBE_PTY="1")
            sys.setswitchinterval(0.001)  # the sending thread yields to the proxy quickly
            pid = os.fork()
        except BaseException:
            if slave >= 0:
                os.close(slave)
            self.undo()
            raise
        if pid == 0:
            self._exec_child(slave, env)
        self.pid = pid
        os.close(slave)
        os.set_blocking(self.master, False)

    def _exec_child(self, slave: int, env: dict[str, str]) -> None:
        try:
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGCHLD, signal.SIGWINCH, signal.SIGHUP, signal.SIGTERM, signal.SIGINT,
                        signal.SIGPIPE, signal.SIGXFSZ):  # Python ignores the last two; a shell must not
                signal.signal(sig, signal.SIG_DFL)
            os.close(self.master)
            os.login_tty(slave)
            for argv in (self.shell, ["/bin/sh"]):
                try:
                    os.execvpe(argv[0], argv, env)
                except OSError as exc:
                    _warn(f"cannot run {argv[0]}: {exc.strerror}")
        finally:
            os._exit(127)

    def undo(self) -> None:
        """Puts the terminal, the signal handlers and the file descriptors back as they were."""
        if self.raw and self.saved is not None:
            try:
                termios.tcsetattr(0, termios.TCSADRAIN, self.saved)
            except (OSError, termios.error):  # the terminal is gone
                pass
            self.raw = False
        try:
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGCHLD, signal.SIGWINCH, signal.SIGHUP, signal.SIGTERM):
                signal.signal(sig, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
        except (OSError, ValueError):
            pass
        for fd in (self.master, self.wake_r, self.wake_w):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.master = self.wake_r = self.wake_w = -1

    # running

    def run(self) -> int:
        """Copies bytes until the shell has exited; returns its exit status for this process."""
        failures = 0
        try:
            while self.status is None:
                try:
                    self._loop()
                except Exception as exc:  # a bug here must not end the contributor's shell
                    failures += 1
                    self.tap = None
                    if failures >= 3:
                        _warn(f"shell proxy failed: {exc!r}")
                        self._hang_up()
            self._drain()
        finally:
            self.undo()
        self.sender.wait(EXIT_SEND_WAIT_S)
        return self.status if self.status is not None else 1

    def _loop(self) -> None:
        master = self.master
        while self.status is None:
            rl = [self.wake_r, master]
            if self.stdin_open and len(self.to_shell) < INPUT_BACKLOG_BYTES:
                rl.append(0)
            wl = [master] if self.to_shell else []
            timeout = None
            if self.tap is not None and self.tap.held:
                timeout = max(0.0, self.held_since + HOLD_S - time.monotonic())
            r, w, _ = select.select(rl, wl, [], timeout)
            if self.wake_r in r:
                self._signals()
                if self.status is not None:
                    return
            if master in r:
                try:
                    data = os.read(master, READ_BYTES)
                except BlockingIOError:
                    data = None
                except OSError:  # EIO: nothing holds the shell's side of the pty any more
                    data = b""
                if data == b"":
                    self._reap(block=True)
                    return
                if data:
                    self._to_terminal(self._filter(data))
            elif self.tap is not None and self.tap.held and time.monotonic() >= self.held_since + HOLD_S:
                self._to_terminal(self.tap.flush())
            if self.status is None and 0 in r:  # (a write above may have found the terminal gone)
                self._from_terminal()
            if self.status is None and self.to_shell and (master in w or 0 in r):
                self._to_shell()

    def _filter(self, data: bytes) -> bytes:
        tap = self.tap
        if tap is None:
            return data
        held = tap.held
        try:
            out = tap.feed(data)
        except Exception:  # capture is off from now on; the bytes still go through
            self.tap = None
            return held + data
        if tap.held:
            self.held_since = time.monotonic()
        return out

    def _to_terminal(self, data: bytes) -> None:
        view = memoryview(data)
        while view and self.stdin_open:
            try:
                n = os.write(1, view)
            except BlockingIOError:  # someone made the terminal non-blocking
                select.select([], [1], [], 1.0)
                continue
            except OSError:  # the terminal is gone
                self._hang_up()
                return
            view = view[n:]

    def _from_terminal(self) -> None:
        try:
            data = os.read(0, READ_BYTES)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._hang_up()
            return
        self.to_shell += data

    def _to_shell(self) -> None:
        try:
            n = os.write(self.master, self.to_shell)
        except BlockingIOError:
            return
        except OSError:  # the shell is gone; _loop sees it on the next read
            self.to_shell.clear()
            return
        del self.to_shell[:n]

    def _signals(self) -> None:
        try:
            got = os.read(self.wake_r, 256)
        except BlockingIOError:
            return
        if signal.SIGWINCH in got:
            try:
                fcntl.ioctl(self.master, termios.TIOCSWINSZ, fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))
            except OSError:
                pass
        if signal.SIGHUP in got or signal.SIGTERM in got:
            self._hang_up()
        elif signal.SIGCHLD in got:
            self._reap()

    def _reap(self, block: bool = False) -> None:
        try:
            pid, status = os.waitpid(self.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            self.status = 1 if self.status is None else self.status
            return
        if pid == self.pid:
            code = os.waitstatus_to_exitcode(status)
            self.status = code if code >= 0 else 128 - code

    def _hang_up(self) -> None:
        """The terminal went away (or we were told to stop): hang up the shell, as a terminal does."""
        if self.status is not None:
            return
        self.stdin_open = False
        if self.master >= 0:  # the kernel hangs up the shell's session
            os.close(self.master)
            self.master = -1
        try:
            os.kill(self.pid, signal.SIGHUP)
        except OSError:
            pass
        deadline = time.monotonic() + HANGUP_WAIT_S
        while self.status is None and time.monotonic() < deadline:
            self._reap()
            if self.status is None:
                time.sleep(0.01)
        if self.status is None:  # it did not exit: leave it, without a terminal
            self.status = 128 + signal.SIGHUP

    def _drain(self) -> None:
        """Copies what the shell printed last, for at most ``DRAIN_S``; then flushes held bytes."""
        deadline = time.monotonic() + DRAIN_S
        while self.stdin_open and self.master >= 0:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.master], [], [], min(left, 0.02))[0]:
                break
            try:
                data = os.read(self.master, READ_BYTES)
            except BlockingIOError:
                continue
            except OSError:
                break
            if not data:
                break
            self._to_terminal(self._filter(data))
        if self.tap is not None and self.tap.held:
            self._to_terminal(self.tap.flush())


def _on_signal(signum: int, frame: object) -> None:
    """Does nothing: the signal number reaches the loop through the wakeup fd."""


def _warn(message: str) -> None:
    try:
        os.write(2, f"workscribe: {message}\r\n".encode(errors="replace"))
    except OSError:
        pass


def _exec_shell(shell: list[str]) -> None:
    """Replaces this process with the shell, unproxied; with ``/bin/sh`` if the shell cannot run."""
    for argv in (shell, ["/bin/sh"]):
        try:
            os.execvp(argv[0], argv)
        except OSError as exc:
            _warn(f"cannot run {argv[0]}: {exc.strerror}")
    os._exit(127)


def parse_args(argv: list[str]) -> tuple[str | None, list[str], str | None]:
    """``(port_file, shell argv, problem)``; the shell is ``$SHELL`` (or ``/bin/sh``) when not given."""
    port_file = problem = None
    shell: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            shell = argv[i + 1:]
            break
        if arg == "--port-file" and i + 1 < len(argv):
            port_file, i = argv[i + 1], i + 2
            continue
        if arg.startswith("--port-file="):
            port_file, i = arg.partition("=")[2], i + 1
            continue
        problem = f"unknown argument {arg!r} (expected --port-file FILE -- SHELL [ARGS...])"
        shell = argv[i:] if not arg.startswith("-") else []
        port_file = None
        break
    if not shell:
        shell = [os.environ.get("SHELL") or "/bin/sh"]
    if port_file == "":
        port_file = None
    return port_file, shell, problem


def main(argv: list[str] | None = None) -> int:
    """Runs the shell behind the proxy (or directly); returns the shell's exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["-h"], ["--help"]):
        sys.stdout.write(USAGE)
        return 0
    port_file, shell, problem = parse_args(argv)
    if problem:
        _warn(problem)
    if port_file is None or not os.isatty(0):
        _exec_shell(shell)
    proxy = Proxy(shell, port_file)
    try:
        proxy.start()
    except Exception as exc:
        _warn(f"shell output capture is off: {exc}")
        _exec_shell(shell)
    return proxy.run()


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    os._exit(status)  # nothing to clean up: skips the interpreter's teardown (a few ms at every exit)
