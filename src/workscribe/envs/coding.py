"""A real interactive shell in a pseudo-terminal, and a scripted coding session run in it.

``InteractiveShell`` starts bash or zsh interactively in a pty with a given start-up file and types
lines at its prompt like a person. ``coding_session`` is the story the demo and the tests record: in
a fresh git repository, switch to a branch, edit a file (saved the way editors save: a temporary
file renamed over it), run a failing test, type a token on the command line, save and remove a
settings file holding a key, fix the bug, run the test again and commit. ``replay_swe`` checks an
exported ``swe`` record against the repository: its edits, and its net patch, applied to its base
commit must give the committed tree.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time
from pathlib import Path

PROMPT = "WS-PROMPT> "
GIT_ENV = {"GIT_AUTHOR_NAME": "Dev Eloper", "GIT_AUTHOR_EMAIL": "dev@corp.example",
           "GIT_COMMITTER_NAME": "Dev Eloper", "GIT_COMMITTER_EMAIL": "dev@corp.example",
           "GIT_CONFIG_NOSYSTEM": "1"}
"""The author of the scripted commits: neither name nor address may reach a spool."""
GITHUB_TOKEN = "ghp_" + "Zx8Kq2Lm9Np4Rt6Vw1Yb3Cd5Ef7Gh0Jk2Lm4"
AWS_KEY = "AKIA" + "Q7XK2M4N6P8R0T3V"
SECRETS = (GITHUB_TOKEN, AWS_KEY, "dev@corp.example", "Dev Eloper")
"""What the session types or saves that must never be stored."""

CALC_BUGGY = "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"
CALC_FIXED = CALC_BUGGY.replace("a - b", "a + b")
HEADER = '"""Arithmetic for the demo."""\n\n\n'
TEST = ("from calc import add, mul\n\nassert mul(2, 3) == 6\nassert add(2, 3) == 5, 'add is wrong'\n"
        "print('all tests passed')\n")
TASK = "Fix add(): it subtracts"


class InteractiveShell:
    """``shell`` (bash or zsh) started interactively in a pty, ``rc`` as its start-up file, in ``cwd``.

    ``run(line)`` types the line and Enter and returns what the terminal showed up to the next prompt.
    ``argv`` starts the shell another way (``["bash", "--norc", "-i"]``); ``rc`` is then only in the
    start-up file a shell reads by default, and the prompt comes from ``$PS1`` in the environment.
    """

    def __init__(self, shell: str, rc: str, home: Path, cwd: Path, env: dict[str, str] | None = None,
                 argv: list[str] | None = None) -> None:
        home.mkdir(parents=True, exist_ok=True)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "TERM": "xterm",
               "LANG": "C.UTF-8", **({"PS1": PROMPT} if argv else {}), **(env or {})}
        if shell == "bash":
            (home / ".bashrc").write_text(rc + f"\nPS1='{PROMPT}'\n")
            argv = argv or ["bash", "--rcfile", str(home / ".bashrc"), "-i"]
        else:
            (home / ".zshrc").write_text(rc + f"\nPS1='{PROMPT}'\nunsetopt zle\n")
            env["ZDOTDIR"] = str(home)
            argv = argv or ["zsh", "-i"]
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child becomes the shell
            os.chdir(cwd)
            os.execvpe(argv[0], argv, env)
        self.transcript = ""
        self.expect(PROMPT, 15)

    def read(self, timeout: float) -> str:
        out = b""
        r, _, _ = select.select([self.fd], [], [], timeout)
        while r:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            r, _, _ = select.select([self.fd], [], [], 0)
        text = out.decode("utf-8", "replace")
        self.transcript += text
        return text

    def expect(self, marker: str, timeout: float = 10.0) -> str:
        """Reads until ``marker`` appears in what comes from now on; returns that text."""
        start = len(self.transcript)
        deadline = time.monotonic() + timeout
        while marker not in self.transcript[start:]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {marker!r} within {timeout} s; got {self.transcript[start:]!r}")
            self.read(0.05)
        return self.transcript[start:]

    def run(self, line: str, timeout: float = 30.0) -> str:
        """Types ``line`` and Enter; returns what the terminal showed until the next prompt."""
        os.write(self.fd, line.encode() + b"\r")
        return self.expect(PROMPT, timeout)

    def close(self) -> None:
        """Exits the shell (killed if it does not exit within 5 s)."""
        try:
            os.write(self.fd, b"exit\r")
        except OSError:
            pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            done, _ = os.waitpid(self.pid, os.WNOHANG)
            if done:
                break
            self.read(0.05)
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


def git(repo: Path, *args: str) -> str:
    """Runs git in ``repo`` as the scripted author; returns its output."""
    env = {**os.environ, **GIT_ENV, "HOME": str(repo.parent)}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=env).stdout


def make_repo(repo: Path) -> str:
    """A fresh repository with a bug and its test, committed on ``main``; returns the commit."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / "calc.py").write_text(CALC_BUGGY)
    (repo / "test_calc.py").write_text(TEST)
    (repo / ".gitignore").write_text("__pycache__/\n*.log\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "Start")
    return git(repo, "rev-parse", "HEAD").strip()


def save(path: Path, text: str) -> None:
    """Saves like an editor: a temporary file beside it, renamed over it."""
    tmp = path.with_name(f".{path.name}.swp-{time.monotonic_ns()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def coding_session(repo: Path, sh: InteractiveShell, settle: float = 0.3) -> dict[str, str]:
    """The scripted session (see the module docstring) in ``repo`` through ``sh``; returns the terminal
    output of the failing and the passing test run and the commit made."""
    sh.run("git switch -c fix-add")
    save(repo / "calc.py", HEADER + CALC_BUGGY)
    time.sleep(settle)
    failing = sh.run("python3 test_calc.py")
    sh.run(f"export API_TOKEN={GITHUB_TOKEN}")
    save(repo / "settings.py", f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"\n')
    time.sleep(settle)
    (repo / "settings.py").unlink()  # not meant to be committed
    time.sleep(settle)
    save(repo / "calc.py", HEADER + CALC_FIXED)
    (repo / "debug.log").write_text("ignored by .gitignore\n")
    time.sleep(settle)
    passing = sh.run("python3 test_calc.py")
    sh.run("git add -A && git commit -qm 'Fix add: it subtracted'")
    return {"failing": failing, "passing": passing, "commit": git(repo, "rev-parse", "HEAD").strip()}


def tool_calls(record: dict) -> list[dict]:
    """The tool calls of an ``swe`` record's assistant turns, in order."""
    return [c for m in record["messages"] if m["role"] == "assistant" for c in m.get("tool_calls") or []]


def replay_swe(repo: Path, record: dict, commit: str, work: Path) -> dict[str, bool]:
    """Clones ``repo`` into ``work`` and applies to the record's base commit, with ``git apply``, first
    its edit calls in order, then its net ``patch``; for each, whether the tree is then ``commit``'s."""
    subprocess.run(["git", "clone", "-q", str(repo), str(work)], check=True, capture_output=True)

    def gives_commit(diffs: list[str]) -> bool:
        git(work, "checkout", "-q", "-f", record["base"]["hash"])
        git(work, "clean", "-qfd")
        for diff in diffs:
            applied = subprocess.run(["git", "-C", str(work), "apply", "-"], input=diff, text=True,
                                     capture_output=True)
            if applied.returncode != 0:
                return False
        git(work, "add", "-A")
        return git(work, "diff", "--cached", "--stat", commit) == ""

    edits = [json.loads(c["function"]["arguments"])["diff"] for c in tool_calls(record)
             if c["function"]["name"] == "edit"]
    return {"edits": gives_commit(edits), "patch": gives_commit([record["patch"]])}
