"""Saved changes to the files of granted git work trees, as unified diffs that ``git apply`` takes.

**What counts.** Every file git would show, tracked or untracked and not ignored, in each granted
work tree (the top folder of a repository, as the consent grants it). Left out, and counted in
``skipped``: ignored files (git itself decides, nested ``.gitignore`` files, ``info/exclude`` and
the global excludes file included: one long-lived ``git check-ignore --stdin`` per repository,
restarted whenever a ``.gitignore`` is saved, when the folders it no longer ignores are watched and
their files created at once), binary files (a NUL byte, or not UTF-8), files over ``max_bytes``,
symbolic links, names that are not UTF-8, and anything in ``.git`` or in a nested repository or
submodule (a folder holding its own ``.git``). Mode changes (``chmod +x``) are edits too. A file
that turns binary or too large is skipped from then on; once it is text again its diffs resume,
against its content then (counted as ``no_base``).

**Watching.** inotify (``sources.inotify``) on every folder git does not ignore: ``.git`` and
ignored trees such as ``.venv`` or ``node_modules`` cost no watch and send no event (a folder that
holds tracked files is watched even when ignored). A folder that appears (created, or moved in) is
watched at once and then listed, and every file found in it counts as touched, so
``mkdir -p new/a/b && printf x > new/a/b/f`` is seen even when ``f`` exists before ``new/a/b`` is
watched. The edit stream describes net changes only: a file that is there at the next look and was
not before is created, with the content it has then. So what cannot be seen is what left no net
change: a file created and deleted (or renamed away) before its brand-new folder was watched and
listed gives no edit, exactly as if the source had seen it come and go.

**Debounce and atomic saves.** Events only mark a path touched. Once no path has had an event for
``debounce_s``, the source compares every touched path, together, with the last saved state it
holds, and emits one edit for each that differs (while events keep coming, a path is looked at
alone once it has been quiet for ``debounce_s``, or ``max_delay_s`` after its first event).
Editors that write a temporary file and rename it over the target (VS Code, JetBrains, vim's
``writebackup``, ``sed -i``), or that move the target to a backup (``file~``) and write a new one,
or probe with ``4913``, thus give one ``modify`` of the target: the temporary and backup files
existed neither before nor after. A rename (``mv a b``, ``git mv``) is one ``rename`` edit when
the file that disappeared was known, the one that appeared was not, and either inotify paired them
(same cookie) or their (redacted) contents are equal, which also catches folders moved within the
repository.

**The saved state.** The diff of an edit is against the state the previous edit left, held in
memory. At start, ``git ls-files -s`` gives every tracked file's index blob and mode, and
``git status`` names the files whose content differs from the index, and the untracked ones: those,
and only those, are read at start (up to ``memory_bytes`` of text). A clean tracked file is read
from its blob (``git cat-file``, by the object id noted at start, so a later commit or checkout
does not change it) the first time it changes. So the diffs apply, in order, to a copy of the work
tree as it was at start. After an edit the source keeps the file's redacted text; when the texts
held pass ``memory_bytes``, the least recently edited are dropped and their next diff is against
the index blob of that moment (their chain may then not apply). Known limit: in a repository whose
checkout converts content (``core.autocrlf``, smudge filters such as Git LFS) files differ on disk
from their blobs; the first diff of such a file is against the blob.

**Events** (source ``files``, kind ``edit``): ``repo`` (redacted, ``~/src/app``), ``path`` (posix,
relative to the repository's top), ``op`` (``modify``, ``create``, ``delete`` or ``rename``),
``old_path`` (renames, else None), ``diff``, ``added``, ``removed``; t = the last event of the
path, never earlier than the previous edit's. The diff has git's headers (``diff --git``,
``new file mode``, ``deleted file mode``, ``old mode``/``new mode``, ``rename from``/``rename to``),
``--- a/PATH``/``+++ b/PATH`` (``/dev/null`` for a created or deleted file), 3 lines of context
and ``\\ No newline at end of file`` where due. Within one look, deletes and renames come first,
then modifications, then creations (a path a rename frees may be created again).

**Privacy.** File contents are redacted with ``redact_private`` as whole files, before diffing (a
multi-line private key is found as such, and every diff applies to the redacted tree); the diff,
the paths and the repository path are redacted again as they leave. Nothing is written to disk.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import partial
from pathlib import Path
from typing import Any

from workscribe.events import make_event, now_ns
from workscribe.patches import CONTEXT, Hunk, file_header, format_hunk, quote_path, split_lines
from workscribe.redact.identity import redact_private
from workscribe.sources import inotify as ino
from workscribe.sources.base import Sink, SourceError
from workscribe.sources.git import GitError, git_command, git_env, granted_work_trees, run_git

DEBOUNCE_S = 0.08
"""A path is looked at once it has had no event for this long (bursts of writes become one edit)."""

MAX_DELAY_S = 1.0
"""... or this long after its first event, whichever comes first (a file written without pause)."""

MEMORY_BYTES = 128_000_000
"""Characters of file text the source holds at most (start snapshot and states after edits)."""

_MASK = (ino.IN_MODIFY | ino.IN_ATTRIB | ino.IN_CLOSE_WRITE | ino.IN_MOVED_FROM | ino.IN_MOVED_TO
         | ino.IN_CREATE | ino.IN_DELETE | ino.IN_DELETE_SELF | ino.IN_MOVE_SELF | ino.IN_ONLYDIR
         | ino.IN_DONT_FOLLOW | ino.IN_EXCL_UNLINK)


# -- diffs ---------------------------------------------------------------------------------------
def unified_diff(old: str | None, new: str | None, path: str, old_path: str | None = None,
                 old_mode: str = "100644", new_mode: str = "100644") -> tuple[str, int, int]:
    """A git-style unified diff from ``old`` to ``new`` (None: the file does not exist), and the
    numbers of lines added and removed.

    ``old_path`` names the file before a rename. Paths are posix and relative to the repository's
    top; the diff applies with ``git apply`` there. Names are C-quoted as git does with
    ``core.quotePath`` off (non-ASCII characters as they are).
    """
    a_name, b_name = old_path or path, path
    head = [f"diff --git {_quote('a/', a_name)} {_quote('b/', b_name)}"]
    if old is None:
        head.append(f"new file mode {new_mode}")
    elif new is None:
        head.append(f"deleted file mode {old_mode}")
    else:
        if old_mode != new_mode:
            head += [f"old mode {old_mode}", f"new mode {new_mode}"]
        if a_name != b_name:
            head += [f"rename from {_quote('', a_name)}", f"rename to {_quote('', b_name)}"]
    a, b = split_lines(old or ""), split_lines(new or "")
    out = [line + "\n" for line in head]
    added = removed = 0
    if a != b:
        out.append(f"--- {_file_header('a/', None if old is None else a_name)}\n")
        out.append(f"+++ {_file_header('b/', None if new is None else b_name)}\n")
        for group in _grouped_opcodes(a, b):
            body: list[tuple[str, str]] = []
            for tag, k1, k2, l1, l2 in group:
                if tag == "equal":
                    body += [(" ", x) for x in a[k1:k2]]
                    continue
                body += [("-", x) for x in a[k1:k2]] + [("+", x) for x in b[l1:l2]]
                removed += k2 - k1
                added += l2 - l1
            i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
            old_start, new_start = i1 + 1 if i2 > i1 else i1, j1 + 1 if j2 > j1 else j1  # 1-based
            out.append(format_hunk(Hunk(old_start, i2 - i1, new_start, j2 - j1, tuple(body))))
    return "".join(out), added, removed


_quote = partial(quote_path, quote_non_ascii=False)
_file_header = partial(file_header, quote_non_ascii=False)


def _grouped_opcodes(a: list[str], b: list[str]) -> list[list[tuple[str, int, int, int, int]]]:
    """difflib's grouped opcodes, matched only between the first and the last differing line."""
    prefix = 0
    while prefix < min(len(a), len(b)) and a[prefix] == b[prefix]:
        prefix += 1
    suffix = 0
    while suffix < min(len(a), len(b)) - prefix and a[-1 - suffix] == b[-1 - suffix]:
        suffix += 1
    codes: list[tuple[str, int, int, int, int]] = [("equal", 0, prefix, 0, prefix)] if prefix else []
    matcher = SequenceMatcher(None, a[prefix:len(a) - suffix], b[prefix:len(b) - suffix], autojunk=False)
    codes += [(t, i1 + prefix, i2 + prefix, j1 + prefix, j2 + prefix)
              for t, i1, i2, j1, j2 in matcher.get_opcodes()]
    if suffix:
        codes.append(("equal", len(a) - suffix, len(a), len(b) - suffix, len(b)))
    # the grouping of difflib.SequenceMatcher.get_grouped_opcodes, on these opcodes
    if codes and codes[0][0] == "equal":
        t, i1, i2, j1, j2 = codes[0]
        codes[0] = t, max(i1, i2 - CONTEXT), i2, max(j1, j2 - CONTEXT), j2
    if codes and codes[-1][0] == "equal":
        t, i1, i2, j1, j2 = codes[-1]
        codes[-1] = t, i1, min(i2, i1 + CONTEXT), j1, min(j2, j1 + CONTEXT)
    groups, group = [], []
    for t, i1, i2, j1, j2 in codes:
        if t == "equal" and i2 - i1 > 2 * CONTEXT:
            group.append((t, i1, min(i2, i1 + CONTEXT), j1, min(j2, j1 + CONTEXT)))
            groups.append(group)
            group = []
            i1, j1 = max(i1, i2 - CONTEXT), max(j1, j2 - CONTEXT)
        group.append((t, i1, i2, j1, j2))
    if group and not (len(group) == 1 and group[0][0] == "equal"):
        groups.append(group)
    return [g for g in groups if any(c[0] != "equal" for c in g)]


# -- reading files -------------------------------------------------------------------------------
@dataclass
class _Base:
    """The last saved state of a file that exists, as far as the source knows it."""

    kind: str  # "blob": value is the index object id (read at first use); "raw": the text read at
    # start, not redacted yet; "text": redacted text; "skip": binary or too large; "lost": dropped
    value: str | None
    mode: str  # "100644" or "100755"


def _read(path: Path, max_bytes: int) -> tuple[str, str | None, str]:
    """``(kind, text, mode)`` of a file on disk: kind ``text``, ``binary``, ``too_large``,
    ``symlink`` or ``absent`` (also for a folder); text only for ``text``."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return "absent", None, ""
    if stat.S_ISLNK(st.st_mode):
        return "symlink", None, "120000"
    if not stat.S_ISREG(st.st_mode):
        return "absent", None, ""
    mode = "100755" if st.st_mode & stat.S_IXUSR else "100644"
    if st.st_size > max_bytes:
        return "too_large", None, mode
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return "absent", None, ""
    except OSError:
        return "binary", None, mode  # unreadable: nothing to show
    if len(data) > max_bytes:
        return "too_large", None, mode
    kind, text = _decode(data)
    return kind, text, mode


def _decode(data: bytes) -> tuple[str, str | None]:
    if b"\0" in data:
        return "binary", None
    try:
        return "text", data.decode("utf-8")
    except UnicodeDecodeError:
        return "binary", None


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- git check-ignore ----------------------------------------------------------------------------
class _IgnoreChecker:
    """Answers "is this path ignored?" with one long-lived ``git check-ignore --stdin`` process.

    Folders are asked with a trailing ``/``. Tracked files are never ignored (git's rule). When the
    process fails, paths count as ignored: ignored files (``.env``) are where secrets live.
    """

    def __init__(self, root: Path, log: Callable[[str], None]) -> None:
        self.root, self.log = root, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.cache: dict[str, bool] = {}
        self._buf = b""

    def ignored(self, paths: Iterable[str]) -> dict[str, bool]:
        paths = list(paths)
        if len(self.cache) > 100_000:
            self.cache.clear()
        for path in paths:
            if path not in self.cache:
                try:
                    self.cache[path] = self._ask(path)
                except (OSError, ValueError) as exc:
                    self.log(f"files source: git check-ignore failed ({type(exc).__name__}); "
                             "treating the paths as ignored")
                    self.close()
                    return {p: self.cache.get(p, True) for p in paths}
        return {p: self.cache[p] for p in paths}

    def _ask(self, path: str) -> bool:
        """One question, one answer (asking one path at a time, no pipe can fill up: 30 µs each)."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(git_command("check-ignore", "--stdin", "-z", "-v", "-n"),
                                         cwd=self.root, env=git_env(), stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            self._buf = b""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(path.encode() + b"\0")
        self.proc.stdin.flush()
        fields: list[bytes] = []
        while len(fields) < 4:
            if b"\0" not in self._buf:
                chunk = self.proc.stdout.read1(65536)
                if not chunk:
                    raise ValueError("check-ignore exited")
                self._buf += chunk
                continue
            field_, _, self._buf = self._buf.partition(b"\0")
            fields.append(field_)
        # source, line number, pattern, path; a negated pattern (!x) that matched means kept
        return bool(fields[2]) and not fields[2].startswith(b"!")

    def restart(self) -> None:
        """Rules changed (a ``.gitignore`` was saved): forget every answer."""
        self.close()
        self.cache.clear()

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


# -- one repository ------------------------------------------------------------------------------
@dataclass(eq=False)
class _Repo:
    root: Path
    label: str  # the repository path, redacted
    ignore: _IgnoreChecker
    base: dict[str, _Base] = field(default_factory=dict)  # rel path -> last saved state
    tracked_dirs: set[str] = field(default_factory=set)  # folders holding tracked files at start
    wds: dict[str, int] = field(default_factory=dict)  # watched folder -> watch descriptor
    unwatched: set[str] = field(default_factory=set)  # ignored folders left unwatched
    renames: dict[str, str] = field(default_factory=dict)  # new path -> old path, paired by inotify


class FilesSource:
    """Emits ``files/edit`` for every saved change to a file git would show in the granted repositories.

    Attributes:
        skipped: how many changes were left out, by reason: ``ignored``, ``binary``, ``too_large``,
            ``symlink``, ``name`` (not UTF-8), ``no_base`` (no earlier text to diff against).
    """

    name = "files"

    def __init__(self, repos: list[Path], log: Callable[[str], None] = print, max_bytes: int = 1_000_000,
                 debounce_s: float = DEBOUNCE_S, max_delay_s: float = MAX_DELAY_S,
                 memory_bytes: int = MEMORY_BYTES) -> None:
        self.repos = [Path(r) for r in repos]
        self.log = log
        self.max_bytes = max_bytes  # larger files are skipped (counted as too_large)
        self.debounce_s = debounce_s  # quiet time before a touched path is looked at
        self.max_delay_s = max_delay_s  # longest wait after a path's first event
        self.memory_bytes = memory_bytes  # characters of file text held at most
        self.skipped: Counter[str] = Counter()
        self._repos: list[_Repo] = []
        self._sink: Sink | None = None
        self._inotify: ino.Inotify | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wd: dict[int, tuple[_Repo, str]] = {}
        self._pending: dict[tuple[_Repo, str], list[int]] = {}  # (repo, path) -> [first, last] event ns
        self._moves: dict[int, tuple[_Repo, str, int]] = {}  # inotify cookie -> moved-from path
        self._held: OrderedDict[tuple[_Repo, str], int] = OrderedDict()  # texts held, oldest edit first
        self._held_chars = 0
        self._last_t = 0  # t of the last edit emitted
        self._last_touch = 0  # t of the last event of any path
        self._warned_watches = False

    # -- life cycle ------------------------------------------------------------------------------
    def start(self, sink: Sink) -> None:
        """Watches every granted repository, notes its saved state, then emits from a thread."""
        if self._inotify is not None or self._stopping.is_set():
            raise SourceError("files source: a source starts once (make a new one)")
        self._inotify = ino.Inotify()
        try:
            for root, _ in granted_work_trees(self.repos, "files", self.log):
                repo = _Repo(root, redact_private(str(root)), _IgnoreChecker(root, self.log))
                self._repos.append(repo)
                tracked = self._note_index(repo)  # the folders holding tracked files are watched
                self._watch_tree(repo, "", scan=False)  # watch first: a change while reading is seen
                self._note_worktree(repo, tracked)
        except BaseException:
            self._close()
            raise
        self._sink = sink
        self._thread = threading.Thread(target=self._run, name="files-source", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Emits the edits still waiting for their debounce, then stops; nothing is emitted after."""
        if self._thread is None:
            return
        self._stopping.set()
        assert self._inotify is not None
        self._inotify.wake()
        self._thread.join()
        self._thread = None
        self._sink = None
        self._close()

    def _close(self) -> None:
        for repo in self._repos:
            repo.ignore.close()
        if self._inotify is not None:
            self._inotify.close()
            self._inotify = None

    def _run(self) -> None:
        assert self._inotify is not None
        while True:
            stopping = self._stopping.is_set()
            try:
                events = self._inotify.read(0 if stopping else self._next_due())
                self._handle(events)
                self._flush(force=stopping)
            except Exception as exc:  # keep watching: one bad file must not stop the recording
                self.log(f"files source: {type(exc).__name__}: {redact_private(str(exc))}")
            if stopping:
                return

    # -- the saved state at start ------------------------------------------------------------------
    def _note_index(self, repo: _Repo) -> set[str]:
        """Notes every tracked file's index blob and mode; returns the tracked paths."""
        tracked: set[str] = set()
        for entry in run_git(repo.root, "ls-files", "-s", "-z").split(b"\0"):
            if not entry:
                continue
            info, _, raw_path = entry.partition(b"\t")
            mode, sha, stage = info.decode().split()
            try:
                path = raw_path.decode("utf-8")
            except UnicodeDecodeError:
                self.skipped["name"] += 1
                continue
            tracked.add(path)
            repo.tracked_dirs.update(_parents(path))
            if stage != "0" or mode == "160000":  # unmerged (read from disk below); submodule
                continue
            repo.base[path] = _Base("skip", None, mode) if mode == "120000" else _Base("blob", sha, mode)
        return tracked

    def _note_worktree(self, repo: _Repo, tracked: set[str]) -> None:
        """Reads the files whose content is not their index blob's: changed, unmerged, untracked."""
        out = run_git(repo.root, "status", "--porcelain=v1", "-z", "-uall", "--no-renames",
                      "--ignore-submodules=all")
        for entry in out.split(b"\0"):
            if len(entry) < 4 or entry.endswith(b"/"):  # a nested repository: not ours
                continue
            xy, path = entry[:2].decode(), entry[3:].decode("utf-8", "surrogateescape")
            if xy[1] == " " and xy[0] != "U" or not _utf8(path):
                continue  # the work tree holds the index blob (perhaps staged); a name not UTF-8
            kind, text, mode = _read(repo.root / path, self.max_bytes)
            if kind == "absent":
                repo.base.pop(path, None)
            elif kind != "text":
                repo.base[path] = _Base("skip", None, mode)
            elif self._held_chars + len(text or "") > self.memory_bytes:
                repo.base[path] = _Base("lost", None, mode)
            else:
                self._set_text(repo, path, _Base("raw", text, mode))

    # -- watching --------------------------------------------------------------------------------
    def _watch_tree(self, repo: _Repo, top: str, scan: bool) -> None:
        """Watches ``top`` and every wanted folder below it; with ``scan``, every file there is touched."""
        assert self._inotify is not None
        stack = [top]
        while stack:
            folder = stack.pop()
            if folder and not self._wanted(repo, folder):
                continue
            path = repo.root / folder if folder else repo.root
            try:
                wd = self._inotify.add_watch(str(path), _MASK)
            except OSError as exc:
                if exc.errno == errno.ENOSPC and not self._warned_watches:
                    self._warned_watches = True
                    self.log("files source: out of inotify watches (fs.inotify.max_user_watches); "
                             "some folders are not watched")
                continue  # gone already, or not a folder any more
            self._wd[wd] = (repo, folder)
            repo.wds[folder] = wd
            repo.unwatched.discard(folder)
            try:
                entries = list(os.scandir(path))
            except OSError:
                continue
            for entry in entries:
                if entry.name == ".git":
                    continue
                rel = _join(folder, entry.name)
                if not _utf8(entry.name):
                    self.skipped["name"] += 1
                elif entry.is_dir(follow_symlinks=False):
                    stack.append(rel)
                elif scan:
                    self._touch(repo, rel)

    def _wanted(self, repo: _Repo, folder: str) -> bool:
        """Whether a folder is watched: not ignored (unless it holds tracked files), not a nested repo."""
        if os.path.lexists(repo.root / folder / ".git"):
            return False
        if folder in repo.tracked_dirs or not repo.ignore.ignored([folder + "/"])[folder + "/"]:
            return True
        repo.unwatched.add(folder)
        self.skipped["ignored"] += 1
        return False

    def _forget_tree(self, repo: _Repo, top: str) -> None:
        """A folder went away (deleted or moved): its watches go, and every file known in it is touched."""
        assert self._inotify is not None
        prefix = top + "/"
        for folder, wd in list(repo.wds.items()):
            if folder == top or folder.startswith(prefix):
                del repo.wds[folder]
                if self._wd.pop(wd, None) is not None:
                    self._inotify.rm_watch(wd)
        repo.unwatched = {f for f in repo.unwatched if not (f == top or f.startswith(prefix))}
        for path in [p for p in repo.base if p.startswith(prefix)]:
            self._touch(repo, path)

    def _touch(self, repo: _Repo, path: str, t: int | None = None) -> None:
        t = now_ns() if t is None else t
        self._last_touch = max(self._last_touch, t)
        times = self._pending.get((repo, path))
        if times is None:
            self._pending[(repo, path)] = [t, t]
        else:
            times[1] = t

    def _handle(self, events: list[ino.InotifyEvent]) -> None:
        t = now_ns()
        for ev in events:
            if ev.mask & ino.IN_Q_OVERFLOW:
                self._overflow()
                continue
            where = self._wd.get(ev.wd)
            if where is None:
                continue
            repo, folder = where
            if ev.mask & ino.IN_IGNORED:  # the folder went away: its watch is gone
                del self._wd[ev.wd]
                if repo.wds.get(folder) == ev.wd:
                    del repo.wds[folder]
                continue
            if not ev.name:
                if folder == "" and ev.mask & (ino.IN_DELETE_SELF | ino.IN_MOVE_SELF):
                    self.log(f"files source: {repo.label} was moved or deleted; it is no longer watched")
                continue
            try:
                name = ev.name.decode("utf-8")
            except UnicodeDecodeError:
                self.skipped["name"] += 1
                continue
            if name == ".git":
                continue
            path = _join(folder, name)
            if ev.mask & ino.IN_ISDIR:
                if ev.mask & (ino.IN_CREATE | ino.IN_MOVED_TO):
                    self._watch_tree(repo, path, scan=True)
                elif ev.mask & (ino.IN_MOVED_FROM | ino.IN_DELETE):
                    self._forget_tree(repo, path)
                continue
            self._touch(repo, path, t)
            if ev.mask & ino.IN_MOVED_FROM:
                self._moves[ev.cookie] = (repo, path, t)
            elif ev.mask & ino.IN_MOVED_TO and ev.cookie in self._moves:
                src_repo, src, _ = self._moves.pop(ev.cookie)
                if src_repo is repo:
                    repo.renames[path] = src

    def _overflow(self) -> None:
        """The kernel dropped events: every folder is listed again and every known file touched."""
        self.log("files source: inotify queue overflowed; looking at every file again")
        for repo in self._repos:
            self._watch_tree(repo, "", scan=True)
            for path in list(repo.base):
                self._touch(repo, path)

    def _next_due(self) -> float | None:
        if not self._pending:
            return None
        oldest = min(first for first, _ in self._pending.values())
        due = min(self._last_touch + self.debounce_s * 1e9, oldest + self.max_delay_s * 1e9)
        return max(0.0, (due - now_ns()) / 1e9)

    # -- turning touched paths into edits ------------------------------------------------------------
    def _flush(self, force: bool = False) -> None:
        now = now_ns()
        debounce, max_delay = self.debounce_s * 1e9, self.max_delay_s * 1e9
        if force or now - self._last_touch >= debounce:  # all quiet: every touched path, together
            due = set(self._pending)
        elif self._pending and now - min(first for first, _ in self._pending.values()) >= max_delay:
            due = {key for key, (first, last) in self._pending.items()  # busy: paths quiet for a while,
                   if now - last >= debounce or now - first >= max_delay}  # and those waiting too long
        else:
            return
        for repo in self._repos:  # both ends of a rename are looked at together
            for new, old in repo.renames.items():
                if ((repo, new) in due) != ((repo, old) in due):
                    due.update(k for k in ((repo, new), (repo, old)) if k in self._pending)
        if not due:
            return
        times = {key: self._pending.pop(key)[1] for key in due}
        self._moves = {c: m for c, m in self._moves.items() if now - m[2] < max_delay}
        for repo in self._repos:
            paths = {path: t for (r, path), t in times.items() if r is repo}
            if paths:
                self._reconcile(repo, paths)

    def _reconcile(self, repo: _Repo, times: dict[str, int]) -> None:
        """Compares each touched path with its saved state and emits the edits."""
        if any(p.rpartition("/")[2] == ".gitignore" for p in times):
            repo.ignore.restart()  # new rules: judge these paths and the unwatched folders by them
            waiting = set(self._pending)
            for folder in sorted(repo.unwatched):
                if os.path.isdir(repo.root / folder):
                    self._watch_tree(repo, folder, scan=True)
            for key in [k for k in self._pending if k not in waiting]:  # files there now count: look now
                times[key[1]] = self._pending.pop(key)[1]
        unknown = [p for p in times if p not in repo.base]
        ignored = repo.ignore.ignored(unknown) if unknown else {}
        creates: dict[str, tuple[str, str]] = {}  # path -> (text, mode)
        deletes: dict[str, tuple[str, str]] = {}
        modifies: dict[str, tuple[str, str, str, str]] = {}  # path -> (old text, old mode, text, mode)
        for path in sorted(times):
            if ignored.get(path):
                if os.path.lexists(repo.root / path):
                    self.skipped["ignored"] += 1
                continue
            old = repo.base.get(path)
            kind, raw, mode = _read(repo.root / path, self.max_bytes)
            if kind == "absent":
                if old is None:
                    continue
                old_text = self._text_of(repo, path, old)
                self._drop(repo, path)
                if old_text is not None:
                    deletes[path] = (old_text, old.mode)
                continue
            if kind != "text":
                self.skipped[kind] += 1
                self._drop(repo, path)
                repo.base[path] = _Base("skip", None, mode)
                continue
            text = redact_private(raw or "")
            if old is None:
                creates[path] = (text, mode)
                continue
            old_text = self._text_of(repo, path, old)
            if old_text is None:
                self.skipped["no_base"] += 1
                self._set_text(repo, path, _Base("text", text, mode))
            elif old_text != text or old.mode != mode:
                modifies[path] = (old_text, old.mode, text, mode)
            elif old.kind == "raw":
                self._set_text(repo, path, _Base("text", text, mode))  # unchanged; now held redacted
        renames = self._pair_renames(repo, deletes, creates)
        for path in times:
            repo.renames.pop(path, None)
        edits: list[tuple[int, dict[str, Any]]] = []
        for path, (old_text, old_mode) in deletes.items():
            edits.append((times[path], self._edit(repo, "delete", path, None, old_text, None, old_mode, "")))
        for path, (src, old_text, old_mode, text, mode) in renames.items():
            self._drop(repo, src)
            self._set_text(repo, path, _Base("text", text, mode))
            t = max(times[path], times.get(src, 0))
            edits.append((t, self._edit(repo, "rename", path, src, old_text, text, old_mode, mode)))
        for path, (old_text, old_mode, text, mode) in modifies.items():
            self._set_text(repo, path, _Base("text", text, mode))
            edit = self._edit(repo, "modify", path, None, old_text, text, old_mode, mode)
            edits.append((times[path], edit))
        for path, (text, mode) in creates.items():
            self._set_text(repo, path, _Base("text", text, mode))
            edits.append((times[path], self._edit(repo, "create", path, None, None, text, "", mode)))
        for t, data in edits:  # deletes and renames first: a path they free may be created
            self._last_t = max(self._last_t, t)
            if self._sink is not None:
                self._sink(make_event("files", "edit", data, t=self._last_t))

    def _pair_renames(self, repo: _Repo, deletes: dict[str, tuple[str, str]],
                      creates: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str, str, str, str]]:
        """Moves ``deletes`` + ``creates`` pairs into renames: path -> (old path, old text, old mode,
        text, mode); paired by inotify's cookie, else by equal non-empty content."""
        renames = {}
        for path in list(creates):
            src = repo.renames.get(path)
            if src is not None and src in deletes:
                renames[path] = (src, *deletes.pop(src), *creates.pop(path))
        by_text: dict[str, str] = {}
        for src, (text, _) in deletes.items():
            if text:
                by_text.setdefault(text, src)
        for path, (text, _) in list(creates.items()):
            src = by_text.pop(text, None) if text else None
            if src is not None:
                renames[path] = (src, *deletes.pop(src), *creates.pop(path))
        return renames

    def _edit(self, repo: _Repo, op: str, path: str, old_path: str | None, old: str | None, new: str | None,
              old_mode: str, new_mode: str) -> dict[str, Any]:
        shown, shown_old = redact_private(path), redact_private(old_path) if old_path else None
        diff, added, removed = unified_diff(old, new, shown, shown_old, old_mode or "100644",
                                            new_mode or "100644")
        return {"repo": repo.label, "path": shown, "op": op, "old_path": shown_old,
                "diff": redact_private(diff), "added": added, "removed": removed}

    # -- the saved texts -------------------------------------------------------------------------------
    def _text_of(self, repo: _Repo, path: str, base: _Base) -> str | None:
        """The redacted text of a saved state, reading its blob if need be; None if there is none."""
        if base.kind == "text":
            return base.value
        if base.kind == "raw":
            return redact_private(base.value or "")
        if base.kind == "skip":
            return None
        sha = base.value
        try:
            if base.kind == "lost":  # dropped to save memory: the index blob of now stands in
                line = run_git(repo.root, "ls-files", "-s", "-z", "--", f":(literal){path}").split(b"\0")[0]
                sha = line.split()[1].decode() if line.count(b" ") >= 2 else None
            if not sha:
                return None
            kind, text = _decode(run_git(repo.root, "cat-file", "blob", sha))
        except GitError as exc:  # the blob is gone (gc after a reset, say)
            self.log(f"files source: {repo.label}: {exc}")
            return None
        return redact_private(text) if kind == "text" and text is not None else None

    def _set_text(self, repo: _Repo, path: str, base: _Base) -> None:
        """Holds a file's state, dropping the least recently edited texts beyond ``memory_bytes``."""
        self._drop(repo, path)
        repo.base[path] = base
        size = len(base.value or "")
        self._held[(repo, path)] = size
        self._held_chars += size
        while self._held_chars > self.memory_bytes and len(self._held) > 1:
            (old_repo, old_path), old_size = self._held.popitem(last=False)
            self._held_chars -= old_size
            mode = old_repo.base[old_path].mode
            old_repo.base[old_path] = _Base("lost", None, mode)

    def _drop(self, repo: _Repo, path: str) -> None:
        """Forgets a file's state (it was deleted, or its state is about to be replaced)."""
        repo.base.pop(path, None)
        size = self._held.pop((repo, path), None)
        if size is not None:
            self._held_chars -= size


def _parents(path: str) -> list[str]:
    """The folders a path lies in, the top one ("") included."""
    parts = path.split("/")[:-1]
    return [""] + ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]

