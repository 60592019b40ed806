"""What happens to HEAD in granted git repositories: commits, checkouts, merges, rebases, resets.

**Start.** One ``head`` event per repository: the commit HEAD points at (None before the first
commit), the branch (None when detached) and ``dirty``: whether ``git status`` shows any change,
staged, unstaged or an untracked file that is not ignored.

**Watching.** Every move of HEAD appends one line to the reflog ``<git dir>/logs/HEAD`` (the git dir
comes from ``git rev-parse --absolute-git-dir``, so a linked worktree, whose ``.git`` is a file,
is followed through its own git dir). watchdog watches the git dir and its ``logs`` folder
(inotify: no polling); each time the reflog grows, the new complete lines are read from where the
last read ended, and each becomes one event. Nothing touches the network, and every git command
runs with optional locks off (``GIT_OPTIONAL_LOCKS=0``) and no fsmonitor, so the source never
takes the index lock nor starts a daemon. A reflog rewritten in place (``git reflog expire``) is
read on from its new end.

**Events** (source ``git``; t = when the line was read): every kind has ``repo`` (the granted path,
redacted: ``~/src/app``), ``branch`` (after the move, None when detached) and ``hash`` (HEAD after;
the reflog's ``new``, or its ``old`` where a branch rename logs the null hash).
The reflog's verb (the text before ``: ``) decides the kind:

- ``commit``, ``commit (amend)``, ``commit (initial)``, ``commit (merge)``, ``cherry-pick``,
  ``revert`` -> ``commit``: ``parents``, ``message`` (the full message from ``git show``),
  ``files`` ``[{path, added, removed}]`` (``git diff-tree --numstat -M`` against the first
  parent; None for binary files; a rename's path is its new one), ``insertions``, ``deletions``,
  ``amend``, ``op`` (the verb);
- ``checkout`` (``git checkout``, ``git switch``) -> ``checkout``: ``from`` and ``to`` (a branch, or
  a 7-character hash when detached), ``old``, ``new``;
- ``merge ...``, ``pull`` -> ``merge``; ``rebase ...``, ``pull --rebase ...`` -> ``rebase``;
  ``reset`` -> ``reset``; anything else (``branch: renamed ...``, ``clone``) -> ``other``: each with
  ``old``, ``new``, ``op`` (the verb, e.g. ``rebase (finish)``) and ``message`` (the whole reflog
  message).

A rebase gives one event per reflog line (start, each pick, finish). The branch after each line is
inferred from its message (a checkout's target when it is a branch; none while a rebase runs; the
branch a rebase returns to; a renamed branch's new name), as the lines of a rebase or a script come
in a burst and HEAD read then would give the state after the last; a verb not known here asks
``git symbolic-ref``.

**Privacy.** The reflog's author name and email are never read into an event (``git show`` is asked
only for parents and message); messages, paths, branch names and the repository path pass through
``redact_private``.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from workscribe.events import make_event, now_ns
from workscribe.redact.identity import redact_private
from workscribe.sources.base import Sink, SourceError

_SCRUBBED_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_COMMON_DIR",
                 "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE", "GIT_PREFIX")
"""Variables that would point git at another repository than the one asked about."""

_GIT_OPTIONS = ("-c", "core.fsmonitor=false", "-c", "core.quotePath=false", "-c", "log.showSignature=false",
                "--no-pager")

COMMIT_VERBS = ("commit", "commit (amend)", "commit (initial)", "commit (merge)", "cherry-pick", "revert")
"""Reflog verbs of a new commit the person made on the current branch."""

SHORT = 7  # characters of a short hash
NULL_HASH = "0" * 40
_HEX = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")


class GitError(RuntimeError):
    """A git command failed (its message is redacted)."""


def git_env() -> dict[str, str]:
    """The environment of every git command: no lock taken for optional work, no prompt."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env.update(GIT_OPTIONAL_LOCKS="0", GIT_TERMINAL_PROMPT="0")
    return env


def git_command(*args: str) -> list[str]:
    """The argument list that runs ``git args`` the way this package always runs it."""
    return ["git", *_GIT_OPTIONS, *args]


def run_git(cwd: Path, *args: str, check: bool = True, timeout: float = 30.0) -> bytes:
    """Runs ``git args`` in ``cwd`` and returns its standard output; ``GitError`` if it fails."""
    try:
        done = subprocess.run(git_command(*args), cwd=cwd, env=git_env(), capture_output=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"git {args[0]}: {redact_private(str(exc))}") from None
    if check and done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]}: {redact_private(err[-1] if err else f'exit {done.returncode}')}")
    return done.stdout


def git_ok(cwd: Path, *args: str) -> bool:
    """True when ``git args`` succeeds in ``cwd``."""
    try:
        run_git(cwd, *args)
    except GitError:
        return False
    return True


def work_tree(path: Path) -> tuple[Path, Path]:
    """The top folder and the (absolute) git dir of the work tree whose top folder is ``path``.

    Raises ``GitError`` when ``path`` is not the top folder of a git work tree.
    """
    path = Path(path).expanduser().resolve()
    if not path.is_dir():
        raise GitError(f"{redact_private(str(path))} is not a folder")
    out = run_git(path, "rev-parse", "--show-toplevel", "--absolute-git-dir").decode().splitlines()
    if len(out) != 2 or Path(out[0]).resolve() != path:
        raise GitError(f"{redact_private(str(path))} is not the top folder of a git work tree")
    return path, Path(out[1])


def granted_work_trees(repos: list[Path], source: str, log: Callable[[str], None]) -> list[tuple[Path, Path]]:
    """``work_tree`` of each granted path; one that is not a work tree is logged and skipped.

    Raises ``SourceError`` when none is left.
    """
    trees = []
    for path in repos:
        try:
            trees.append(work_tree(path))
        except GitError as exc:
            log(f"{source} source: skipping {redact_private(str(path))}: {exc}")
    if not trees:
        raise SourceError(f"{source} source: none of the granted repositories is a git work tree")
    return trees


def head_state(root: Path) -> dict[str, Any]:
    """``hash`` (None before the first commit), ``branch`` (None when detached) and ``dirty``."""
    head = run_git(root, "rev-parse", "-q", "--verify", "HEAD^{commit}", check=False).decode().strip()
    status = run_git(root, "status", "--porcelain", "-z")
    return {"hash": head or None, "branch": current_branch(root), "dirty": bool(status)}


def current_branch(root: Path) -> str | None:
    """The branch HEAD is on, or None when detached."""
    out = run_git(root, "symbolic-ref", "-q", "--short", "HEAD", check=False).decode().strip()
    return out or None


def commit_details(root: Path, commit: str) -> dict[str, Any]:
    """``parents``, ``message``, ``files``, ``insertions``, ``deletions`` of a commit (redacted)."""
    out = run_git(root, "show", "-s", "--format=%P%x00%B", commit).decode("utf-8", "replace")
    parents_text, _, message = out.partition("\0")
    parents = parents_text.split()
    base = [parents[0], commit] if parents else ["--root", commit]
    numstat = run_git(root, "diff-tree", "-r", "-z", "--numstat", "-M", "--no-commit-id", *base)
    files = parse_numstat(numstat)
    return {"parents": parents, "message": redact_private(message.rstrip("\n")), "files": files,
            "insertions": sum(f["added"] or 0 for f in files),
            "deletions": sum(f["removed"] or 0 for f in files)}


def parse_numstat(out: bytes) -> list[dict[str, Any]]:
    """``git diff-tree -z --numstat`` output as ``[{path, added, removed}]`` (None for binary files)."""
    fields = out.decode("utf-8", "replace").split("\0")
    files, i = [], 0
    while i < len(fields) and fields[i]:
        added, removed, path = fields[i].split("\t", 2)
        if not path:  # a rename: the old and the new path follow, each on its own
            path = fields[i + 2]
            i += 2
        i += 1
        files.append({"path": redact_private(path), "added": None if added == "-" else int(added),
                      "removed": None if removed == "-" else int(removed)})
    return files


def _short(name: str) -> str:
    return name[:SHORT] if _HEX.fullmatch(name) else name


def reflog_kind(verb: str) -> str:
    """The event kind of a reflog verb (``commit (amend)`` -> ``commit``)."""
    if verb in COMMIT_VERBS:
        return "commit"
    first = verb.split(" ", 1)[0]
    if first == "checkout":
        return "checkout"
    if first == "rebase" or verb.startswith("pull --rebase"):
        return "rebase"
    if first in ("merge", "pull"):
        return "merge"
    if first == "reset":
        return "reset"
    return "other"


@dataclass
class _Repo:
    root: Path
    git_dir: Path
    label: str  # the repository path, redacted
    branch: str | None = None  # as of the last reflog line read
    offset: int = 0  # bytes of logs/HEAD read so far
    inode: int | None = None  # of logs/HEAD when last read; None before it exists

    @property
    def reflog(self) -> Path:
        return self.git_dir / "logs" / "HEAD"


class GitSource:
    """Emits ``git/head`` at start, then one event per new reflog line of each repository."""

    name = "git"

    def __init__(self, repos: list[Path], log: Callable[[str], None] = print) -> None:
        self.repos = [Path(r) for r in repos]
        self.log = log
        self._sink: Sink | None = None
        self._lock = threading.Lock()  # one reader at a time; stop() waits for it
        self._observer: Any = None
        self._watched: set[Path] = set()
        self._repos: list[_Repo] = []

    def start(self, sink: Sink) -> None:
        """Emits one ``head`` per repository (from this thread), then watches their reflogs."""
        if self._repos:
            raise SourceError("git source: a source starts once (make a new one)")
        for root, git_dir in granted_work_trees(self.repos, "git", self.log):
            self._repos.append(_Repo(root, git_dir, redact_private(str(root))))
        self._observer = Observer()
        with self._lock:  # a reflog line written while starting is read once, after the heads
            for repo in self._repos:
                self._watch(repo.git_dir, repo)
                self._watch(repo.git_dir / "logs", repo)
            self._observer.start()
            self._sink = sink
            for repo in self._repos:
                try:
                    stat = repo.reflog.stat()
                    repo.offset, repo.inode = stat.st_size, stat.st_ino
                except FileNotFoundError:
                    pass
                try:
                    state = head_state(repo.root)
                except GitError as exc:
                    self.log(f"git source: {repo.label}: {exc}")
                    continue
                repo.branch = state["branch"]
                state["branch"] = _redacted(state["branch"])
                self._emit("head", {"repo": repo.label, **state})

    def stop(self) -> None:
        """Stops watching; no event reaches the sink after this returns."""
        with self._lock:
            self._sink = None
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None

    # -- watching ---------------------------------------------------------------------------------
    def _watch(self, folder: Path, repo: _Repo) -> None:
        if folder in self._watched or not folder.is_dir():
            return
        self._observer.schedule(_Handler(self, repo), str(folder), recursive=False)
        self._watched.add(folder)

    def _on_fs_event(self, repo: _Repo, event: FileSystemEvent) -> None:
        paths = {os.fsdecode(event.src_path), os.fsdecode(getattr(event, "dest_path", "") or "")}
        logs = repo.git_dir / "logs"
        with self._lock:
            if self._sink is None:
                return
            if str(logs) in paths and logs not in self._watched:  # the first commit made logs/
                self._watch(logs, repo)
            if str(logs) in paths or str(repo.reflog) in paths:
                try:
                    self._read(repo)
                except OSError as exc:
                    self.log(f"git source: {repo.label}: {type(exc).__name__}: {redact_private(str(exc))}")

    def _read(self, repo: _Repo) -> None:
        """Emits the reflog lines appended since the last read (call with the lock held)."""
        try:
            with open(repo.reflog, "rb") as f:
                stat = os.fstat(f.fileno())
                if repo.inode is not None and (stat.st_ino != repo.inode or stat.st_size < repo.offset):
                    repo.offset = stat.st_size  # rewritten (reflog expire): nothing new in it
                repo.inode = stat.st_ino
                f.seek(repo.offset)
                data = f.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1  # a line still being written waits for the next read
        repo.offset += end
        lines = [line for line in data[:end].decode("utf-8", "replace").split("\n") if "\t" in line]
        # When git wrote the lines, on the recording clock: the notification comes some ms later, after
        # the command that made them has often ended, and an episode is cut where the commit was made.
        written = now_ns() - max(0, time.time_ns() - stat.st_mtime_ns)
        for n, line in enumerate(lines):
            try:
                self._entry(repo, line, written - len(lines) + 1 + n)
            except (GitError, ValueError) as exc:  # one line git could not explain: go on with the next
                self.log(f"git source: {repo.label}: {type(exc).__name__}: {redact_private(str(exc))}")

    def _entry(self, repo: _Repo, line: str, t: int) -> None:
        head, _, message = line.partition("\t")  # old new name <email> time zone \t message
        old, new = head.split(" ", 2)[:2]
        verb = message.partition(": ")[0]
        kind = reflog_kind(verb)
        before = repo.branch
        repo.branch = self._branch_after(repo, kind, verb, message)
        after = old if new == NULL_HASH else new  # a branch rename logs old -> 0, then 0 -> new
        data: dict[str, Any] = {"repo": repo.label, "branch": _redacted(repo.branch), "hash": after}
        if kind == "commit":
            data.update(commit_details(repo.root, new))
            data.update(amend=verb == "commit (amend)", op=verb)
        elif kind == "checkout":
            moving = re.match(r"moving from (.+) to (.+)$", message.partition(": ")[2])
            source = moving.group(1) if moving else before or old
            data.update({"from": redact_private(_short(source)),
                         "to": redact_private(repo.branch or new[:SHORT]), "old": old, "new": new})
        else:
            data.update(old=old, new=new, op=redact_private(verb), message=redact_private(message))
        self._emit(kind, data, t)

    @staticmethod
    def _branch_after(repo: _Repo, kind: str, verb: str, message: str) -> str | None:
        """The branch after a reflog line, from its message (the lines of a rebase come in a burst,
        and reading HEAD then would give the state after the last)."""
        rest = message.partition(": ")[2]
        if kind == "checkout":
            target = rest.rpartition(" to ")[2]
            return target if git_ok(repo.root, "show-ref", "--verify", "-q", f"refs/heads/{target}") else None
        if kind == "rebase":  # detached while it runs; "(finish)"/"(abort)": returning to the branch
            returning = re.search(r"returning to refs/heads/(.+)$", rest)
            return returning.group(1) if returning else None
        renamed = re.fullmatch(r"renamed refs/heads/(.+) to refs/heads/(.+)", rest)
        if verb == "Branch" and renamed:
            return renamed.group(2) if repo.branch == renamed.group(1) else repo.branch
        if kind == "other":
            return current_branch(repo.root)  # a verb not known here: ask git
        return repo.branch  # commits, merges and resets move the branch, not HEAD off it

    def _emit(self, kind: str, data: dict[str, Any], t: int | None = None) -> None:
        if self._sink is not None:
            self._sink(make_event("git", kind, data, t))


def _redacted(text: str | None) -> str | None:
    return None if text is None else redact_private(text)


class _Handler(FileSystemEventHandler):
    def __init__(self, source: GitSource, repo: _Repo) -> None:
        self.source, self.repo = source, repo

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        self.source._on_fs_event(self.repo, event)
