"""The shell-output proxy: real bash behind the real wrapper in a real pty, a loopback listener as recorder.

The pure parts (taking marks out of the stream, rendering a command's output as text) are tested on
hand-written bytes first. Then the wrapper runs in a pty this test holds the terminal side of,
around ``bash --norc --noprofile -i`` whose test-only hook (``HOOK``) writes the marks the way the
real hook does, and a thread listening on loopback stands in for the recorder.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import wait_for
from workscribe.sources.shell_pty import (
    BUFFER_BYTES,
    TAIL_CHARS,
    TAIL_LINES,
    MarkTap,
    Proxy,
    parse_args,
    parse_mark,
    render_tail,
)

SESSION = "0a1b2c3d"
TOKEN = "t0k3n-abc"
PROMPT = b"ws-test$ "
WRAPPER = [sys.executable, "-m", "workscribe.sources.shell_pty"]

# A minimal stand-in for the real hook: C before the first command of a line (DEBUG trap), D with
# the exit status before the next prompt (PROMPT_COMMAND), only when the wrapper asked for marks.
HOOK = r"""
__ws_seq=0
__ws_armed=
__ws_pre() {
  [ -n "$__ws_armed" ] || return 0
  [ "$BASH_COMMAND" = __ws_post ] && return 0
  __ws_armed=
  __ws_seq=$((__ws_seq + 1))
  [ "$WORKSCRIBE_PTY" = 1 ] && printf '\033]133;C;ws=%s:%d\007' "$WS_TEST_SESSION" "$__ws_seq"
  return 0
}
__ws_post() {
  local e=$?
  if [ "$__ws_seq" -gt 0 ] && [ -z "$__ws_armed" ] && [ "$WORKSCRIBE_PTY" = 1 ]; then
    printf '\033]133;D;%d;ws=%s:%d\007' "$e" "$WS_TEST_SESSION" "$__ws_seq"
  fi
  __ws_armed=1
}
PROMPT_COMMAND=__ws_post
trap __ws_pre DEBUG
__ws_armed=1
"""


def c_mark(seq: int, session: str = SESSION) -> bytes:
    return b"\x1b]133;C;ws=%s:%d\x07" % (session.encode(), seq)


def d_mark(seq: int, code: int = 0, session: str = SESSION) -> bytes:
    return b"\x1b]133;D;%d;ws=%s:%d\x07" % (code, session.encode(), seq)


def alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    wait_for(lambda: not alive(pid), timeout=timeout, interval=0.01, what=f"process {pid} to end")
    return True


# -- pure parts ---------------------------------------------------------------------------------


def test_parse_mark_accepts_only_workscribe_marks() -> None:
    assert parse_mark(b"C;ws=0a1b2c3d:12") == ("C", "0a1b2c3d", 12)
    assert parse_mark(b"D;130;ws=0A1B2C3D:3") == ("D", "0A1B2C3D", 3)
    assert parse_mark(b"D;-1;ws=0a1b2c3d:3") == ("D", "0a1b2c3d", 3)
    for body in (b"A", b"C", b"D;0", b"C;ws=0a1b2c3:1", b"C;ws=0a1b2c3g:1", b"C;ws=0a1b2c3d:",
                 b"C;ws=0a1b2c3d:x", b"D;x;ws=0a1b2c3d:1", b"C;aid=1", b"C;ws=0a1b2c3d"):
        assert parse_mark(body) is None, body


def test_mark_tap_removes_marks_wherever_reads_cut_them() -> None:
    shown = (b"$ ls\r\n\x1b]0;title\x07out \x1b[31mred\x1b[0m\r\n", b"\x1b]133;A\x07$ ", b"x\x1b]133;")
    stream = shown[0][:6] + c_mark(7) + shown[0][6:] + d_mark(7, 2) + shown[1] + c_mark(8) + shown[2]
    for size in range(1, len(stream) + 1):
        got: list[tuple] = []
        tap = MarkTap(lambda *a, got=got: got.append(a))
        out = b"".join(tap.feed(stream[i:i + size]) for i in range(0, len(stream), size)) + tap.flush()
        assert out == b"".join(shown), size
        assert got == [(SESSION, 7, shown[0][6:], False)], size


def test_mark_tap_passes_foreign_and_broken_sequences_unchanged() -> None:
    stream = (b"\x1b]133;A\x07\x1b]133;C\x07\x1b]133;D;0;ws=nothex!!:1\x07"
              b"\x1b]133;C;ws=" + b"9" * 200 + b"\x07\x1b]133;B\x1b\\" + c_mark(1)[:-1] + b"\x1b\\tail\x1b")
    got: list[tuple] = []
    tap = MarkTap(lambda *a: got.append(a))
    out = tap.feed(stream)
    assert tap.held == b"\x1b"  # a lone ESC at the end may begin a mark
    assert out + tap.flush() == stream
    assert got == []


def test_mark_tap_keeps_the_last_bytes_of_long_output() -> None:
    got: list[tuple] = []
    tap = MarkTap(lambda *a: got.append(a))
    body = bytes(range(256)).replace(b"\x1b", b"") * 1000
    tap.feed(c_mark(1))
    for i in range(0, len(body), 4096):
        tap.feed(body[i:i + 4096])
    tap.feed(d_mark(1) + c_mark(2) + b"small" + d_mark(2))
    assert [(s, q, len(o), f) for s, q, o, f in got] == [(SESSION, 1, BUFFER_BYTES, True),
                                                         (SESSION, 2, 5, False)]
    assert got[0][2] == body[-BUFFER_BYTES:]


def test_mark_tap_matches_d_to_c_per_session() -> None:
    got: list[tuple] = []
    tap = MarkTap(lambda *a: got.append(a[:3]))
    tap.feed(c_mark(1) + b"outer " + c_mark(1, session="ffffffff") + b"inner" + d_mark(1, session="ffffffff")
             + b" back" + d_mark(2) + c_mark(3) + b"x" + d_mark(3))
    assert got == [("ffffffff", 1, b"inner"), (SESSION, 3, b"x")]  # D of seq 2 does not end seq 1


@pytest.mark.parametrize("raw, text", [
    (b"a\r\nb\r\n", "a\nb"),
    (b"\r\n\r\n\x1b[1;31mred\x1b[0m \x1b[38;5;208mplain\x1b[m\r\n\r\n", "red plain"),
    (b"get 10%\rget 55%\rget 100%\r\n", "get 100%"),
    (b"downloading...\r\x1b[Kdone\r\n", "done"),
    (b"downloading...\r\x1b[2Kok\r\n", "ok"),
    (b"a 10%\r\nb 10%\r\n\x1b[2Aa 100%\r\nb 100%\r\n", "a 100%\nb 100%"),
    (b"_\bx abc\b\bX", "x aXc"),
    (b"before\r\n\x1b[?1049h\x1b[Hfull screen\r\nstuff\x1b[?1049lafter\r\n", "before\nafter"),
    (b"\x1b]0;title\x07\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\ \x1b(Bok\x07", "link ok"),
    (b"caf\xc3\xa9 \xff!", "caf\u00e9 \ufffd!"),
    (b"col\tumn\x1b[10Gx", "col\tumn  x"),
    (b"old\x1b[H\x1b[2J\x1b[3Jnew", "new"),
])
def test_render_tail_reads_like_a_terminal(raw: bytes, text: str) -> None:
    assert render_tail(raw) == (text, False)


def test_render_tail_truncates_lines_and_characters() -> None:
    raw = b"".join(b"%d\r\n" % i for i in range(1, 101))
    assert render_tail(raw) == ("\n".join(str(i) for i in range(61, 101)), True)
    assert render_tail(b"".join(b"%d\r\n" % i for i in range(TAIL_LINES)))[1] is False
    text, truncated = render_tail(b"y" * 9000 + b"\r\n")
    assert (text, truncated) == ("y" * TAIL_CHARS, True)
    text, truncated = render_tail((b"z" * 199 + b"\r\n") * 30)  # 30 lines but 6000 characters
    assert truncated and len(text) <= TAIL_CHARS and text.split("\n") == ["z" * 199] * 20
    assert render_tail(b"rt of a line\r\nwhole\r\n", overflowed=True) == ("whole", True)


def test_capture_error_turns_capture_off_and_keeps_the_bytes() -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("capture bug")

    proxy = Proxy(["bash"], "/nonexistent/port")
    proxy.tap = MarkTap(broken)
    data = c_mark(1) + b"out" + d_mark(1)
    assert proxy._filter(data) == data
    assert proxy.tap is None and proxy._filter(b"next") == b"next"


def test_parse_args() -> None:
    assert parse_args(["--port-file", "/p", "--", "zsh", "-l"]) == ("/p", ["zsh", "-l"], None)
    assert parse_args(["--port-file=/p", "--", "bash"]) == ("/p", ["bash"], None)
    port_file, shell, problem = parse_args(["--bogus", "--", "bash"])
    assert port_file is None and problem and shell


# -- real processes -----------------------------------------------------------------------------


class Listener:
    """Stands in for the recorder: accepts records on loopback, named by a port file."""

    def __init__(self, port_file: Path) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.05)
        port_file.write_text(f"{self.server.getsockname()[1]} {TOKEN}\n")
        self.records: dict[int, dict] = {}
        self.raw: list[bytes] = []
        self.bad: list[bytes] = []  # connections that did not carry a whole record
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                chunks = []
                while chunk := conn.recv(65536):
                    chunks.append(chunk)
            data = b"".join(chunks)
            head, nl, body = data.partition(b"\n")
            fields = head.decode(errors="replace").split(" ")
            if not nl or len(fields) != 6:
                self.bad.append(data)
                continue
            self.raw.append(data)
            magic, kind, token, session, seq, truncated = fields
            self.records[int(seq)] = {"magic": magic, "kind": kind, "token": token, "session": session,
                                      "truncated": truncated, "text": body.decode(errors="replace")}

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(5)
        self.server.close()


class Term:
    """The wrapper around an interactive bash, on a pty whose terminal side this test holds."""

    def __init__(self, tmp_path: Path, port_file: Path, rows: int = 24, cols: int = 80,
                 shell: list[str] | None = None) -> None:
        hook = tmp_path / "hook.bash"
        hook.write_text(HOOK)
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "TERM": "xterm-256color", "LANG": "C.UTF-8",
               "PS1": PROMPT.decode(), "PROMPT_COMMAND": f". {hook}", "WS_TEST_SESSION": SESSION,
               "INPUTRC": "/dev/null", "HISTFILE": ""}
        shell = shell or ["bash", "--norc", "--noprofile", "-i"]
        argv = [*WRAPPER, "--port-file", str(port_file), "--", *shell]
        size = struct.pack("HHHH", rows, cols, 0, 0)
        pid, fd = pty.fork()
        if pid == 0:  # the terminal's size is set before the wrapper starts, as a terminal does
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, size)
                os.execve(sys.executable, argv, env)
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.out = bytearray()  # everything the terminal was shown
        self.seen = 0  # how much of it `expect` consumed
        self.status: int | None = None
        self.shell_pid = 0  # set by the `term` fixture

    def _read(self, timeout: float) -> bool:
        if self.fd < 0 or not select.select([self.fd], [], [], timeout)[0]:
            return self.fd >= 0
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            data = b""
        self.out += data
        return bool(data)

    def expect(self, needle: bytes, timeout: float = 5.0) -> bytes:
        """Reads until ``needle`` is shown; returns what was shown before it."""
        deadline = time.monotonic() + timeout
        while (i := self.out.find(needle, self.seen)) < 0:
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(min(left, 0.1)):
                raise AssertionError(f"{needle!r} not shown; last output: {bytes(self.out[-400:])!r}")
        before = bytes(self.out[self.seen:i])
        self.seen = i + len(needle)
        return before

    def run(self, command: str, timeout: float = 5.0) -> bytes:
        """Types a command line and returns what was shown until the next prompt (echo included)."""
        os.write(self.fd, command.encode() + b"\r")
        return self.expect(PROMPT, timeout)

    def wait_exit(self, timeout: float = 5.0) -> int:
        """Reads the terminal until the wrapper exits; its exit status."""
        deadline = time.monotonic() + timeout
        while self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
            elif time.monotonic() > deadline:
                raise AssertionError(f"wrapper still running; last output: {bytes(self.out[-400:])!r}")
            elif not self._read(0.02):
                time.sleep(0.01)
        return self.status

    def close(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            self.status = -9
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@pytest.fixture
def port_file(tmp_path: Path) -> Path:
    return tmp_path / "shell-output.port"


@pytest.fixture
def listener(port_file: Path) -> Iterator[Listener]:
    lst = Listener(port_file)
    yield lst
    lst.close()
    assert lst.bad == []


@pytest.fixture
def term(tmp_path: Path) -> Iterator:
    started: list[Term] = []
    pids: list[int] = []

    def start(port_file: Path, **kw: object) -> Term:
        t = Term(tmp_path, port_file, **kw)
        started.append(t)
        t.expect(PROMPT, timeout=10)
        t.shell_pid = int(t.run("echo pid=$$").split(b"pid=")[-1].split(b"\r")[0])
        pids.append(t.shell_pid)
        return t

    yield start
    for t in started:
        t.close()
    for pid in pids:  # a shell the test did not end is ended here, and never left running
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def wait_record(listener: Listener, seq: int, timeout: float = 5.0) -> dict:
    wait_for(lambda: seq in listener.records, timeout=timeout, interval=0.01,
             what=f"record {seq} (got {sorted(listener.records)})")
    return listener.records[seq]


def test_commands_are_recorded_and_marks_never_shown(term, listener: Listener, port_file: Path) -> None:
    t = term(port_file)  # command 1 was `echo pid=$$`
    shown = t.run(r"printf 'a\nb\n'; false")
    assert b"a\r\nb\r\n" in shown
    rec = wait_record(listener, 2)
    assert rec == {"magic": "WS1", "kind": "O", "token": TOKEN, "session": SESSION, "truncated": "0",
                   "text": "a\nb"}
    assert listener.raw[-1] == f"WS1 O {TOKEN} {SESSION} 2 0\na\nb".encode()

    t.run(r"printf '\033[1;31mred\033[0m plain\n'; printf 'get 10%%\rget 55%%\rget 100%%\n';"
          r" printf 'downloading\r\033[Kdone\n'")
    assert wait_record(listener, 3)["text"] == "red plain\nget 100%\ndone"

    t.run("seq 1 3000")
    rec = wait_record(listener, 4)
    assert rec["truncated"] == "1"
    assert rec["text"] == "\n".join(str(i) for i in range(3001 - TAIL_LINES, 3001))

    t.run("cd /")
    assert wait_record(listener, 5)["text"] == ""
    shown = t.run('echo "[$WORKSCRIBE_PTY] caf\u00e9"')
    assert "[1] caf\u00e9\r\n".encode() in shown
    assert wait_record(listener, 6)["text"] == "[1] caf\u00e9"

    os.write(t.fd, b"printf 'held\\033'; read -r x\r")  # a lone ESC may begin a mark: held, then shown
    t.expect(b"held\x1b")  # while the command still runs
    t.run("")
    assert wait_record(listener, 7)["text"] == "held"

    assert b"\x1b]133" not in t.out and b"ws=" not in t.out
    os.write(t.fd, b"exit\r")
    assert t.wait_exit() == 0


def test_window_size_reaches_the_shell(term, listener: Listener, port_file: Path) -> None:
    t = term(port_file, rows=37, cols=101)
    assert b"\r37 101\r\n" in t.run("stty size")
    fcntl.ioctl(t.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 132, 0, 0))  # the window was resized
    # A person types after resizing; a test that types at once may be read before the wrapper handles
    # SIGWINCH, so it asks again until the new size has arrived (bash redraws its prompt: no `run`).
    deadline = time.monotonic() + 5
    while True:
        os.write(t.fd, b"stty size; echo $LINES $COLUMNS\r")
        try:
            t.expect(b"\r50 132\r\n50 132\r\n", timeout=0.5)
            break
        except AssertionError:
            assert time.monotonic() < deadline, bytes(t.out[-400:])


def test_exit_status_is_the_shells_and_nothing_is_left(term, listener: Listener, port_file: Path) -> None:
    t = term(port_file)
    os.write(t.fd, b"exit 7\r")
    assert t.wait_exit() == 7
    assert wait_gone(t.shell_pid)


def test_closing_the_terminal_hangs_up_the_shell_and_its_jobs(term, port_file: Path) -> None:
    t = term(port_file)
    job = int(t.run("sleep 300 & echo job=$!").split(b"job=")[-1].split(b"\r")[0])
    assert alive(job)
    os.close(t.fd)  # the terminal window is closed
    t.fd = -1
    assert t.wait_exit() == 128 + signal.SIGHUP  # bash's status: it was hung up
    assert wait_gone(t.shell_pid) and wait_gone(job)


def test_without_port_file_the_shell_works(term, tmp_path: Path) -> None:
    t = term(tmp_path / "no-recorder.port")
    assert b"\rhi-42\r\n" in t.run("echo hi-$((6*7)); false")
    assert b"\x1b]133" not in t.out
    os.write(t.fd, b"exit 3\r")
    assert t.wait_exit() == 3
    assert wait_gone(t.shell_pid)


def test_a_shell_that_cannot_run_falls_back_to_sh(tmp_path: Path, port_file: Path) -> None:
    t = Term(tmp_path, port_file, shell=["/nonexistent/shell"])
    try:
        t.expect(b"cannot run /nonexistent/shell")
        os.write(t.fd, b"echo fallback-$((1+1)); exit 4\r")
        t.expect(b"fallback-2")
        assert t.wait_exit() == 4
    finally:
        t.close()


def test_without_a_terminal_the_shell_is_exec_d_directly(port_file: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WORKSCRIBE_PTY"}
    proc = subprocess.Popen([*WRAPPER, "--port-file", str(port_file), "--", "bash", "-c",
                             'echo "$$ [${WORKSCRIBE_PTY-unset}]"; exit 5'],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env)
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 5
    assert out.decode() == f"{proc.pid} [unset]\n"  # same process: exec'd, no pty, no marks asked for

    r = subprocess.run([*WRAPPER, "--port-file", str(port_file), "--", "/nonexistent/shell"],
                       input=b"echo ok-$((2+2))\n", capture_output=True, env=env, timeout=10)
    assert r.stdout == b"ok-4\n" and b"cannot run /nonexistent/shell" in r.stderr
