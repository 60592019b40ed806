"""The shell source: each command of a hooked interactive bash or zsh, with its exit code and times.

``workscribe shell-hook bash|zsh`` prints the hook (``hook_code``) that the contributor sources from
their rc file. It costs no process per prompt: bash's DEBUG trap and PROMPT_COMMAND (zsh's preexec
and precmd) note the start and end time (``$EPOCHREALTIME``), working directories and exit code in
shell variables, and after each command send one record over a fresh loopback TCP connection with
builtins only (bash ``/dev/tcp``, zsh ``ztcp``). The port and a random token are in
``$WORKSCRIBE_HOME/shell.port`` (owner-only), which exists only while a recorder with the ``shell``
source runs: with no recorder the hook tests that one file and stays silent. Nothing is written to
disk by the hook or by this source; the text is redacted by the recorder's redaction stage
(``redact.events.redact_shell_event``) before it is stored.

Record, one per connection (``<start>``/``<end>`` are ``$EPOCHREALTIME``, ``<flags>`` ``p`` when the
shell runs inside the output wrapper, else ``-``)::

    WS1 C <token> <shell> <session> <seq> <exit> <start> <end> <flags> <histcmd>\\n
    <cwd>\\0<cwd_after>\\0<first simple command>\\0<command text>

For bash the text is the output of ``history 1`` (the whole command line as the shell saved it);
its number tells a command the shell kept out of its history (``HISTCONTROL=ignorespace``: a
leading space) from one it saved, and such a command is not recorded either. zsh sends the line
itself and leaves out lines that ``HIST_IGNORE_SPACE`` keeps out of its history.

With the ``shell-output`` source the hook runs the shell inside ``sources.shell_pty``, a pty proxy
that sends the tail of each command's output as a second record (``WS1 O``); the two are joined by
(session, seq), waiting at most ``OUTPUT_WAIT_S`` for the output.

**How the wrapped shell gets the hook.** The hook replaces the shell that loaded it (``exec``: same
folder, same exported variables) with the proxy, which starts a new shell in its pty. That shell
loads the hook itself, however the first one got it (from ``~/.bashrc``, a ``--rcfile``, or typed
at the prompt): its start-up files are the fixed files ``install_init`` writes under
``$WORKSCRIBE_HOME/shell-init`` (the hook and the code to read the person's own start-up files,
no user data). bash runs as ``bash --rcfile shell-init/bashrc -i``, which reads the start-up file
that loaded the hook (``WORKSCRIBE_RC``: the outermost ``BASH_SOURCE``; ``~/.bashrc`` when typed),
or for a login shell ``/etc/profile`` and the first of ``~/.bash_profile``, ``~/.bash_login``,
``~/.profile`` (the shell is then not a login shell itself), then the hook. zsh runs with
``ZDOTDIR=shell-init/zsh``, whose ``.zshenv``, ``.zprofile`` and ``.zshrc`` read the person's own
files from their ``ZDOTDIR`` (``WORKSCRIBE_ZDOTDIR``; ``$HOME`` when unset) and put it back before
``.zshrc``, then the hook. Where the output cannot be captured the hook says so in one line on
stderr, and where no command can be recorded at all (bash before 5.0, zsh without ``zsh/net/tcp``).

Commands typed at secure prompts never reach the hook: a password typed to ``sudo`` or ``ssh`` is
read by that program, not run by the shell, and does not echo into the output either.
"""

from __future__ import annotations

import os
import re
import secrets
import select
import shlex
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workscribe.events import make_event, now_ns
from workscribe.sources.base import Sink, SourceError

PORT_FILE = "shell.port"
OUTPUT_WAIT_S = 1.5  # how long a command from a wrapped shell waits for its output record
MAX_RECORD = 1 << 20  # bytes read from one connection at most
MAX_TEXT = 20_000  # characters of a command line kept
_HISTORY = re.compile(r"\A\s*(\d+)\*?\s\s?(.*)\Z", re.S)


def port_file(state: Path | None = None) -> Path:
    """Where a running recorder with the ``shell`` source publishes its port and token."""
    from workscribe import paths

    return (state or paths.home()) / PORT_FILE


class ShellSource:
    """Receives command records from hooked shells on a loopback port.

    Args:
        port_path: the port file to publish (owner-only; removed on ``stop``).
        output: keep output tails from wrapped shells (the ``shell-output`` source).
        log: where one-line messages go.
        publish_on_start: publish the port file in ``start``; when False, ``publish`` does it (a
            recorder publishes once every source is ready: the file tells shells and tools that
            the recorder is).
    """

    name = "shell"

    def __init__(self, port_path: Path, output: bool = False, log: Callable[[str], None] = print,
                 publish_on_start: bool = True) -> None:
        self.port_path = port_path
        self.output = output
        self.log = log
        self.publish_on_start = publish_on_start
        self.token = secrets.token_hex(16)
        self.port = 0
        self.received = 0  # command records accepted
        self.rejected = 0  # connections with a bad token or a malformed record
        self.unsaved = 0  # commands the shell kept out of its history: not recorded
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._sink: Sink | None = None
        self._history: dict[str, int] = {}  # bash session -> last history number seen
        self._waiting: dict[tuple[str, int], tuple[float, dict[str, Any]]] = {}  # commands awaiting output
        self._outputs: dict[tuple[str, int], tuple[float, str, bool]] = {}  # output awaiting its command

    def start(self, sink: Sink) -> None:
        """Listens on loopback and serves; publishes the port file unless ``publish_on_start`` is off."""
        self._sink = sink
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sock.listen(128)
        except OSError as exc:
            raise SourceError(f"shell source: cannot listen on loopback: {exc}") from None
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="shell-source", daemon=True)
        self._thread.start()
        if self.publish_on_start:
            self.publish()

    def publish(self) -> None:
        """Writes the port file (atomically): from now on hooked shells send their commands."""
        tmp = self.port_path.with_name(f".{self.port_path.name}.{os.getpid()}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(f"{self.port} {self.token}\n")
            os.replace(tmp, self.port_path)
        except OSError as exc:
            raise SourceError(f"shell source: cannot write {self.port_path}: {exc.strerror or exc}") from None

    def stop(self) -> None:
        self._stop.set()
        try:  # only our own file: a newer recorder may have replaced it
            if self.port_path.read_text().split()[1:2] == [self.token]:
                self.port_path.unlink()
        except (OSError, IndexError):
            pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
        for _, command in list(self._waiting.values()):
            self._emit(command)  # its output did not come in time
        self._waiting.clear()
        self._sink = None

    # -- serving ----------------------------------------------------------------------------------
    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._sock], [], [], 0.1)
            except (OSError, ValueError):
                return
            if ready:
                try:
                    conn, _ = self._sock.accept()
                except OSError:
                    continue
                try:
                    self._handle(self._read(conn))
                except Exception as exc:  # noqa: BLE001 - a bad record must not stop the source
                    self.rejected += 1
                    self.log(f"shell source: record dropped ({type(exc).__name__})")
            self._expire()

    @staticmethod
    def _read(conn: socket.socket) -> bytes:
        conn.settimeout(1.0)
        chunks, size = [], 0
        try:
            while size < MAX_RECORD:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except OSError:
            pass
        finally:
            conn.close()
        return b"".join(chunks)[:MAX_RECORD]

    def _handle(self, record: bytes) -> None:
        head, _, body = record.partition(b"\n")
        fields = head.decode("ascii", "replace").split(" ")
        if len(fields) < 3 or fields[0] != "WS1" or not secrets.compare_digest(fields[2], self.token):
            self.rejected += 1
            return
        if fields[1] == "C" and len(fields) >= 10:
            command = self._command(fields, body)
            if command is not None:
                self._add_command(command, wrapped="p" in fields[9])
        elif fields[1] == "O" and len(fields) >= 6 and self.output:
            key = (fields[3], int(fields[4]))
            tail = body.decode("utf-8", "replace")
            waiting = self._waiting.pop(key, None)
            if waiting is not None:
                self._emit({**waiting[1], "output": tail, "output_truncated": fields[5] == "1"})
            else:
                self._outputs[key] = (time.monotonic(), tail, fields[5] == "1")
        else:
            self.rejected += 1

    def _command(self, fields: list[str], body: bytes) -> dict[str, Any] | None:
        _, _, _, shell, session, seq, exit_code, start, end, _flags, *rest = fields
        parts = body.decode("utf-8", "replace").split("\0", 3)
        if len(parts) < 4 or shell not in ("bash", "zsh"):
            self.rejected += 1
            return None
        cwd, cwd_after, first, text = parts
        if shell == "bash":
            text = self._bash_text(session, text, first, rest[0] if rest else "")
            if text is None:
                self.unsaved += 1
                return None
        text = text.rstrip("\n")
        if not text.strip():
            return None
        offset = time.time_ns() - now_ns()  # wall clock -> recording clock
        t0, t1 = _epoch_ns(start) - offset, _epoch_ns(end) - offset
        t1 = min(max(t1, t0), now_ns())
        self.received += 1
        return {"shell": shell, "session": session, "seq": int(seq), "text": text[:MAX_TEXT], "cwd": cwd,
                "cwd_after": cwd_after, "exit_code": int(exit_code), "start": min(t0, t1), "end": t1,
                "output": None, "output_truncated": False}

    def _bash_text(self, session: str, history: str, first: str, histcmd: str) -> str | None:
        """The command line from ``history 1``, or None when the shell did not save it (so neither
        do we); the first simple command stands in when history is off."""
        match = _HISTORY.match(history)
        if match is None:  # history disabled (set +o history): the first simple command is all we know
            return first
        number, text = int(match.group(1)), match.group(2)
        last = self._history.get(session)
        self._history[session] = number
        if histcmd.isdigit() and number < int(histcmd):
            return None  # the line being run would have been number histcmd: it was not saved
        if last is not None and number == last and first and first.split(" ", 1)[0] not in text:
            return None  # no new entry, and the old one is another command
        return text

    def _add_command(self, command: dict[str, Any], wrapped: bool) -> None:
        key = (command["session"], command["seq"])
        if not (wrapped and self.output):
            self._emit(command)
            return
        got = self._outputs.pop(key, None)
        if got is not None:
            self._emit({**command, "output": got[1], "output_truncated": got[2]})
        else:
            self._waiting[key] = (time.monotonic(), command)

    def _expire(self) -> None:
        now = time.monotonic()
        for key, (since, command) in list(self._waiting.items()):
            if now - since > OUTPUT_WAIT_S:
                del self._waiting[key]
                self._emit(command)
        for key, (since, _, _) in list(self._outputs.items()):
            if now - since > OUTPUT_WAIT_S:
                del self._outputs[key]

    def _emit(self, command: dict[str, Any]) -> None:
        sink = self._sink
        if sink is not None:
            sink(make_event("shell", "command", command, t=command["end"]))


def _epoch_ns(value: str) -> int:
    """``$EPOCHREALTIME`` (``1700000000.123456``, or with a comma in some locales) in ns."""
    sec, _, frac = value.replace(",", ".").partition(".")
    return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])


# -- the hook ---------------------------------------------------------------------------------------

_BASH = r"""# workscribe shell hook (bash): records each command while a workscribe recorder with the
# shell source runs; silent otherwise. Remove this line from your rc file to stop it.
if [[ $- == *i* && -z ${__ws_hooked-} ]] && ((BASH_VERSINFO[0] < 5)); then
  printf 'workscribe: commands are not recorded: the hook needs bash 5 or newer (this is %s)\n' \
    "$BASH_VERSION" >&2
elif [[ $- == *i* && -z ${__ws_hooked-} ]]; then
__WRAP__
__ws_hooked=1
__ws_file=__FILE__
printf -v __ws_session '%04x%04x' "$RANDOM" "$RANDOM"
__ws_seq=0 __ws_armed= __ws_start= __ws_first= __ws_cwd= __ws_hist=
__ws_preexec() {
  [[ -n $__ws_armed ]] || return 0
  __ws_armed=
  [[ $BASH_COMMAND == __ws_precmd* ]] && return 0
  __ws_start=$EPOCHREALTIME __ws_first=$BASH_COMMAND __ws_cwd=$PWD __ws_hist=$HISTCMD
  ((__ws_seq++))
  [[ -z ${WORKSCRIBE_PTY-} ]] || printf '\e]133;C;ws=%s:%s\a' "$__ws_session" "$__ws_seq"
}
__ws_precmd() {
  local __ws_ret=$? __ws_end=$EPOCHREALTIME __ws_port __ws_token
  if [[ -n $__ws_start ]]; then
    [[ -z ${WORKSCRIBE_PTY-} ]] || printf '\e]133;D;%s;ws=%s:%s\a' "$__ws_ret" "$__ws_session" "$__ws_seq"
    if [[ -r $__ws_file ]] && { read -r __ws_port __ws_token <"$__ws_file"; } 2>/dev/null; then
      { printf 'WS1 C %s bash %s %s %s %s %s %s %s\n%s\0%s\0%s\0' "$__ws_token" "$__ws_session" \
          "$__ws_seq" "$__ws_ret" "$__ws_start" "$__ws_end" "${WORKSCRIBE_PTY:+p}-" "$__ws_hist" \
          "$__ws_cwd" "$PWD" "$__ws_first"
        HISTTIMEFORMAT= builtin history 1; } 2>/dev/null >"/dev/tcp/127.0.0.1/$__ws_port"
    fi
    __ws_start=
  fi
  return $__ws_ret
}
__ws_arm() { __ws_armed=1; }
__ws_trap=$(trap -p DEBUG)
__ws_trap=${__ws_trap#trap -- \'}
__ws_trap=${__ws_trap%\' DEBUG}
trap "__ws_preexec${__ws_trap:+; $__ws_trap}" DEBUG
unset __ws_trap
if [[ ${PROMPT_COMMAND@a} == *a* ]]; then
  PROMPT_COMMAND=(__ws_precmd "${PROMPT_COMMAND[@]}" __ws_arm)
else
  PROMPT_COMMAND="__ws_precmd${PROMPT_COMMAND:+; $PROMPT_COMMAND}; __ws_arm"
fi
fi
"""

_ZSH = r"""# workscribe shell hook (zsh): records each command while a workscribe recorder with the
# shell source runs; silent otherwise. Remove this line from your rc file to stop it.
if [[ -o interactive && -z ${__ws_hooked-} ]]; then
__WRAP__
typeset -g __ws_hooked=1 __ws_file=__FILE__ __ws_seq=0 __ws_start= __ws_cmd= __ws_cwd= __ws_session
zmodload zsh/datetime 2>/dev/null
zmodload zsh/net/tcp 2>/dev/null \
  || print -ru2 'workscribe: commands are not recorded: this zsh has no zsh/net/tcp module'
printf -v __ws_session '%04x%04x' $RANDOM $RANDOM
__ws_preexec() {
  __ws_start=
  [[ $1 == ' '* && -o HIST_IGNORE_SPACE ]] && return 0
  __ws_cmd=$1 __ws_start=$EPOCHREALTIME __ws_cwd=$PWD
  (( __ws_seq++ ))
  [[ -z ${WORKSCRIBE_PTY-} ]] || printf '\e]133;C;ws=%s:%s\a' $__ws_session $__ws_seq
}
__ws_precmd() {
  local __ws_ret=$? __ws_end=$EPOCHREALTIME __ws_port __ws_token __ws_fd
  if [[ -n $__ws_start ]]; then
    [[ -z ${WORKSCRIBE_PTY-} ]] || printf '\e]133;D;%s;ws=%s:%s\a' $__ws_ret $__ws_session $__ws_seq
    if [[ -r $__ws_file ]] && read -r __ws_port __ws_token <$__ws_file 2>/dev/null \
        && ztcp 127.0.0.1 $__ws_port 2>/dev/null; then
      __ws_fd=$REPLY
      printf 'WS1 C %s zsh %s %s %s %s %s %s -\n%s\0%s\0\0%s' $__ws_token $__ws_session $__ws_seq \
        $__ws_ret $__ws_start $__ws_end "${WORKSCRIBE_PTY:+p}-" "$__ws_cwd" "$PWD" "$__ws_cmd" \
        >&$__ws_fd 2>/dev/null
      ztcp -c $__ws_fd 2>/dev/null
    fi
    __ws_start=
  fi
  return $__ws_ret
}
typeset -ga preexec_functions precmd_functions
preexec_functions=(__ws_preexec $preexec_functions)
precmd_functions=(__ws_precmd $precmd_functions)
fi
"""

_WRAP = {  # re-run the interactive shell inside the output wrapper, once, on a terminal
    "bash": """if [[ -z ${WORKSCRIBE_PTY-} && -t 0 && -t 1 && -r __PTY__ && -x __PY__ ]]; then
  if [[ -r __INIT__ ]]; then
    __ws_rc=; ((${#BASH_SOURCE[@]})) && __ws_rc=${BASH_SOURCE[${#BASH_SOURCE[@]}-1]}
    shopt -q login_shell && __ws_rc=-l
    WORKSCRIBE_RC=$__ws_rc exec __PY__ -I -S __PTY__ --port-file __FILE__ -- "$BASH" --rcfile __INIT__ -i
  else
    printf 'workscribe: command output is not recorded: %s is missing (run: workscribe shell-hook bash)\\n' \\
      __INIT__ >&2
  fi
fi""",
    "zsh": """if [[ -z ${WORKSCRIBE_PTY-} && -t 0 && -t 1 && -r __PTY__ && -x __PY__ ]]; then
  if [[ -r __INIT__/.zshenv && -r __INIT__/.zshrc ]]; then
    if (( ${+ZDOTDIR} )); then export WORKSCRIBE_ZDOTDIR=$ZDOTDIR; else unset WORKSCRIBE_ZDOTDIR; fi
    if [[ -o login ]]; then ZDOTDIR=__INIT__ exec __PY__ -I -S __PTY__ --port-file __FILE__ -- zsh -l -i
    else ZDOTDIR=__INIT__ exec __PY__ -I -S __PTY__ --port-file __FILE__ -- zsh -i; fi
  else
    print -ru2 "workscribe: command output is not recorded: "__INIT__" is missing" \
      "(run: workscribe shell-hook zsh)"
  fi
fi""",
}
"""Run by path with ``-I -S`` (the wrapper needs only the standard library): 30 ms less per new
terminal than ``-m``. When the file is gone (workscribe uninstalled), the shell starts unwrapped."""

INIT_DIR = "shell-init"
"""Beside the port file (in ``$WORKSCRIBE_HOME``): the start-up files of a shell the wrapper starts."""

_BASH_INIT = r"""# workscribe: the start-up file of a bash that the output wrapper started in place of the
# shell that loaded the workscribe hook: the start-up files that shell read, then the hook.
# Written by `workscribe shell-hook bash`; holds no user data.
__ws_rc=${WORKSCRIBE_RC-}
unset WORKSCRIBE_RC
if [[ $__ws_rc == -l ]]; then
  if [[ -r /etc/profile ]]; then . /etc/profile; fi
  if [[ -r ~/.bash_profile ]]; then . ~/.bash_profile
  elif [[ -r ~/.bash_login ]]; then . ~/.bash_login
  elif [[ -r ~/.profile ]]; then . ~/.profile
  fi
elif [[ -n $__ws_rc && -r $__ws_rc ]]; then . "$__ws_rc"
elif [[ -r ~/.bashrc ]]; then . ~/.bashrc
fi
unset __ws_rc
"""

_ZSH_HEAD = """# workscribe: read by a zsh that the output wrapper started in place of the shell that loaded
# the workscribe hook, with ZDOTDIR pointing here; reads the person's own file from their ZDOTDIR.
# Written by `workscribe shell-hook zsh`; holds no user data.
"""
_ZSH_THEIRS = """if (( $#__ws_theirs )); then ZDOTDIR=$__ws_theirs[1]; else unset ZDOTDIR; fi
if [[ -r ${ZDOTDIR:-$HOME}/__NAME__ ]]; then builtin source ${ZDOTDIR:-$HOME}/__NAME__; fi
"""
_ZSH_OURS = """__ws_theirs=(${ZDOTDIR+"$ZDOTDIR"})
ZDOTDIR=$__ws_ours
"""
_ZSH_INIT = {
    ".zshenv": _ZSH_HEAD + """typeset -g __ws_ours=$ZDOTDIR
typeset -ga __ws_theirs=(${WORKSCRIBE_ZDOTDIR+"$WORKSCRIBE_ZDOTDIR"})
unset WORKSCRIBE_ZDOTDIR
""" + _ZSH_THEIRS.replace("__NAME__", ".zshenv") + _ZSH_OURS,
    ".zprofile": _ZSH_HEAD + _ZSH_THEIRS.replace("__NAME__", ".zprofile") + _ZSH_OURS,
    ".zshrc": _ZSH_HEAD + "unset __ws_ours\n" + _ZSH_THEIRS.replace("__NAME__", ".zshrc")
    + "unset __ws_theirs\n",
}

SHELLS = ("bash", "zsh")


def hook_code(shell: str, port_path: Path, wrap_output: bool = False, python: str | None = None) -> str:
    """The hook for ``shell`` (``bash`` or ``zsh``) that sends to the recorder publishing ``port_path``;
    with ``wrap_output`` it first re-runs the shell inside the output wrapper (``shell-output``),
    which starts it with the start-up files that ``install_init`` writes beside ``port_path``."""
    if shell not in SHELLS:
        raise ValueError(f"unknown shell {shell!r}; use bash or zsh")
    code = _BASH if shell == "bash" else _ZSH
    wrap = ":"
    if wrap_output:
        wrap = (_WRAP[shell].replace("__PY__", shlex.quote(python or sys.executable))
                .replace("__PTY__", shlex.quote(str(Path(__file__).resolve().with_name("shell_pty.py"))))
                .replace("__INIT__", shlex.quote(str(init_path(shell, port_path)))))
    return code.replace("__WRAP__", wrap).replace("__FILE__", shlex.quote(str(port_path)))


def init_path(shell: str, port_path: Path) -> Path:
    """What the output wrapper starts ``shell`` with: bash's ``--rcfile``, zsh's ``ZDOTDIR``."""
    folder = port_path.parent / INIT_DIR
    return folder / "bashrc" if shell == "bash" else folder / "zsh"


def init_files(shell: str, port_path: Path) -> dict[Path, str]:
    """The start-up files of a shell that the output wrapper starts, by path: they read the person's
    own start-up files, then the hook (see the module docstring)."""
    hook = hook_code(shell, port_path)
    target = init_path(shell, port_path)
    if shell == "bash":
        return {target: _BASH_INIT + hook}
    return {target / name: text + (hook if name == ".zshrc" else "") for name, text in _ZSH_INIT.items()}


def install_init(shell: str, port_path: Path) -> Path:
    """Writes ``init_files`` (owner-only; only those that changed, each replaced atomically) and
    returns ``init_path``.

    Raises:
        OSError: they cannot be written.
    """
    for path, text in init_files(shell, port_path).items():
        try:
            if path.read_text() == text:
                continue
        except (OSError, UnicodeDecodeError):
            pass
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    return init_path(shell, port_path)
