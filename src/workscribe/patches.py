"""Unified diffs of an editing episode: parse them, apply them, compose them into one net patch.

The ``files`` source emits one diff per saved change of a file, against the previous saved state, with 3
lines of context, ``--- a/PATH`` / ``+++ b/PATH`` headers and ``/dev/null`` for a created or deleted file.
Nobody keeps the whole files: all that is known of a file is what its diffs show.

- ``parse(diff)`` reads a diff (git's extended headers included: ``rename from/to``, ``new file mode``,
  ``deleted file mode``; ``\\ No newline at end of file``; C-quoted names) into ``FileDiff`` objects.
- ``apply_diff(before, diff)`` applies a one-file diff to a text, strictly: every hunk at the line its
  header names, every context and removed line equal; otherwise ``ValueError`` naming the hunk and line.
- ``compose(diffs)`` turns the episode's diffs, in order, into its NET diff per file, which applies with
  ``git apply`` to the tree as it was when the episode began. It works without the original files:
  ``PartialTree`` keeps each file as a list of lines, each either an original line (by its number,
  its text known once some hunk showed it as context or removed) or a line the episode wrote, followed by
  the original lines not yet reached (the file's length is learnt only from a hunk that ends at its
  end). A hunk is placed by its header; the lines it shows reveal the original text they stand for.
  The net diff aligns the original lines that survive with the final list; within each changed block
  the removed and added lines are matched again (``difflib``), so an edit that is undone leaves no
  trace, and each hunk gets up to 3 lines of context, only lines whose text is known.
- ``split_lines``, ``quote_path``, ``file_header`` and ``format_hunk`` are the pieces of a diff's text;
  ``sources.files.unified_diff``, the writer of the ``files`` source's diffs, is made of them too.

Lines keep their line ending (``"\\n"``; none on a last line without one), so ``"".join`` gives the text
back; only ``"\\n"`` ends a line (a ``"\\r"`` stays part of it).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

CONTEXT = 3
"""Lines of context around each change, in the ``files`` source's diffs and in ``compose``'s."""
NO_NEWLINE = "\\ No newline at end of file"
DEV_NULL = "/dev/null"
NEW_FILE_MODE = "100644"  # the mode written for a created or deleted file (the real one is not recorded)

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")
_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", '"': '"', "\\": "\\"}
_QUOTES = {c: "\\" + e for e, c in _ESCAPES.items()}  # a character -> its escape in a C-quoted name


@dataclass(frozen=True)
class Hunk:
    """One ``@@`` block: ``lines`` are ``(tag, text)`` with tag ``" "``, ``"-"`` or ``"+"``."""

    old_start: int  # 1-based first old line; when old_len is 0, the line after which the new lines go
    old_len: int
    new_start: int
    new_len: int
    lines: tuple[tuple[str, str], ...]

    @property
    def old_lines(self) -> list[str]:
        """The lines the hunk expects (context and removed), with their endings."""
        return [text for tag, text in self.lines if tag != "+"]

    @property
    def new_lines(self) -> list[str]:
        """The lines the hunk leaves (context and added)."""
        return [text for tag, text in self.lines if tag != "-"]

    @property
    def index(self) -> int:
        """0-based index of the first old line (where the new lines go when there is none)."""
        return self.old_start - 1 if self.old_len else self.old_start

    @property
    def header(self) -> str:
        return f"@@ -{_range(self.old_start, self.old_len)} +{_range(self.new_start, self.new_len)} @@"


@dataclass(frozen=True)
class FileDiff:
    """The diff of one file: ``old_path`` None for a created file, ``new_path`` None for a deleted one."""

    old_path: str | None
    new_path: str | None
    hunks: tuple[Hunk, ...]

    @property
    def op(self) -> str:
        """``create``, ``delete``, ``rename`` or ``modify``."""
        if self.old_path is None:
            return "create"
        if self.new_path is None:
            return "delete"
        return "rename" if self.old_path != self.new_path else "modify"

    @property
    def path(self) -> str:
        """The file's path after the change (before it, for a deletion)."""
        return self.new_path if self.new_path is not None else str(self.old_path)

    @property
    def added(self) -> int:
        return sum(tag == "+" for h in self.hunks for tag, _ in h.lines)

    @property
    def removed(self) -> int:
        return sum(tag == "-" for h in self.hunks for tag, _ in h.lines)


# ----- lines


def split_lines(text: str) -> list[str]:
    """``"a\\nb"`` -> ``["a\\n", "b"]``: lines with their endings, split at ``"\\n"`` only."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _range(start: int, length: int) -> str:
    return str(start) if length == 1 else f"{start},{length}"


def _body(tag: str, text: str) -> str:
    """One hunk line as a diff shows it (with the no-newline marker after a last line without one)."""
    return f"{tag}{text}" if text.endswith("\n") else f"{tag}{text}\n{NO_NEWLINE}\n"


# ----- parse


def parse(diff: str) -> list[FileDiff]:
    """Reads a unified diff of one or more files.

    Lines outside a file's headers and hunks (a commit message, ``index`` lines) are skipped.

    Raises:
        ValueError: a hunk cut short or with bad counts, a ``---`` without ``+++``, a binary diff.
    """
    lines = diff.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    files: list[FileDiff] = []
    i = 0
    section: dict | None = None  # the file being read: names from the headers seen so far

    def finish() -> None:
        if section is not None:
            files.append(_file_of(section))

    while i < len(lines):
        line = lines[i]
        if line.startswith("diff --git "):
            finish()
            section = {"git": _git_names(line[len("diff --git "):]), "hunks": []}
        elif line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            old, new = _name(line[4:]), _name(lines[i + 1][4:])
            if section is None or section["hunks"] or "old" in section or not _same_file(section, old, new):
                finish()
                section = {"hunks": []}
            section["old"], section["new"] = old, new
            i += 1
        elif line.startswith("--- "):
            raise ValueError(f"diff line {i + 1}: '---' header without a '+++' line after it")
        elif line.startswith("@@ "):
            if section is None or ("old" not in section and "git" not in section):
                raise ValueError(f"diff line {i + 1}: hunk before any file header")
            hunk, i = _parse_hunk(lines, i, len(section["hunks"]) + 1)
            section["hunks"].append(hunk)
            continue
        elif section is not None and not section["hunks"]:
            for key in ("rename from ", "rename to "):
                if line.startswith(key):
                    section[key.strip()] = _name(line[len(key):], prefixed=False)
            for key in ("new file mode", "deleted file mode"):
                if line.startswith(key):
                    section[key] = True
            if line.startswith("Binary files ") or line == "GIT binary patch":
                raise ValueError(f"diff line {i + 1}: a binary diff cannot be applied as text")
        i += 1
    finish()
    return files


def _same_file(section: dict, old: str | None, new: str | None) -> bool:
    """Whether ``---``/``+++`` names fit the ``diff --git`` header read before them."""
    git = section.get("git") or (None, None)
    names = (section.get("rename from", git[0]), section.get("rename to", git[1]))
    pairs = zip((old, new), names, strict=True)
    return all(name is None or seen is None or name == seen for name, seen in pairs)


def _file_of(section: dict) -> FileDiff:
    git = section.get("git") or (None, None)
    old = section.get("rename from", section.get("old", git[0]))
    new = section.get("rename to", section.get("new", git[1]))
    if section.get("new file mode"):
        old = None
    if section.get("deleted file mode"):
        new = None
    if old is None and new is None:
        raise ValueError("diff has a file section with no name (both sides /dev/null)")
    return FileDiff(old, new, tuple(section["hunks"]))


def _parse_hunk(lines: list[str], i: int, n: int) -> tuple[Hunk, int]:
    m = _HUNK.match(lines[i])
    if not m:
        raise ValueError(f"diff line {i + 1}: cannot read hunk header")
    old_start, new_start = int(m.group(1)), int(m.group(3))
    old_len = int(m.group(2)) if m.group(2) is not None else 1
    new_len = int(m.group(4)) if m.group(4) is not None else 1
    want_old, want_new = old_len, new_len
    body: list[tuple[str, str]] = []
    header = lines[i].split(" @@", 1)[0] + " @@"
    i += 1
    while want_old > 0 or want_new > 0 or (i < len(lines) and lines[i].startswith("\\")):
        if i >= len(lines):
            raise ValueError(f"hunk {n} ({header}) is cut short: {want_old} old and {want_new} new lines "
                             "missing")
        line = lines[i]
        tag = line[:1] or " "  # an empty line: a blank context line whose space was stripped
        if tag == "\\":
            if not body:
                raise ValueError(f"diff line {i + 1}: '\\' marker before any line")
            last_tag, last = body[-1]
            body[-1] = (last_tag, last[:-1] if last.endswith("\n") else last)
        elif tag in " -+":
            if (tag != "+" and want_old == 0) or (tag != "-" and want_new == 0):
                raise ValueError(f"diff line {i + 1}: hunk {n} has more lines than its header says")
            body.append((tag, line[1:] + "\n"))
            want_old -= tag != "+"
            want_new -= tag != "-"
        else:
            raise ValueError(f"diff line {i + 1}: hunk {n} ({header}) is cut short: {want_old} old and "
                             f"{want_new} new lines missing")
        i += 1
    return Hunk(old_start, old_len, new_start, new_len, tuple(body)), i


def _name(text: str, prefixed: bool = True) -> str | None:
    """A file name from a ``---``/``+++`` line (after the marker): None for /dev/null, a/ or b/ dropped."""
    if text.startswith('"'):
        name, _ = _unquote(text)
    else:
        name = text.split("\t", 1)[0]
        if "\t" not in text:
            name = name.rstrip("\r")
    if name == DEV_NULL:
        return None
    return _unprefix(name) if prefixed else name


def _git_names(text: str) -> tuple[str | None, str | None]:
    """The two names of a ``diff --git`` line; (None, None) when they cannot be told apart."""
    if text.startswith('"'):
        a, rest = _unquote(text)
        rest = rest.lstrip(" ")
        b = _unquote(rest)[0] if rest.startswith('"') else rest
        return _unprefix(a), _unprefix(b)
    half = (len(text) - 1) // 2
    if len(text) % 2 == 1 and text[half] == " " and text[2:half] == text[half + 3:]:
        return text[2:half], text[half + 3:]
    if ' "' in text:
        a, _, b = text.partition(' "')
        return _name(a), _name(f'"{b}')
    parts = text.split(" ")
    if len(parts) == 2:
        return _name(parts[0]), _name(parts[1])
    return None, None


def _unprefix(name: str) -> str:
    return name[2:] if name[:2] in ("a/", "b/") else name


def _unquote(text: str) -> tuple[str, str]:
    """Reads a C-quoted name at the start of ``text``: ``(name, rest after the closing quote)``."""
    out = bytearray()
    i = 1
    while i < len(text):
        c = text[i]
        if c == '"':
            return out.decode("utf-8", errors="surrogateescape"), text[i + 1:]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in "01234567":
                out.append(int(text[i + 1:i + 4], 8))
                i += 4
                continue
            out.extend(_ESCAPES.get(nxt, nxt).encode())
            i += 2
            continue
        out.extend(c.encode("utf-8", errors="surrogateescape"))
        i += 1
    raise ValueError(f"unterminated quoted file name {text!r}")


# ----- apply


def apply_diff(before: str, diff: str) -> str:
    """Applies a one-file diff to the text ``before`` and returns the text after.

    Strict: each hunk must match at the line its header names, context and removed lines equal (no fuzz,
    no offsets). A create needs an empty ``before``; a delete returns ``""``.

    Raises:
        ValueError: the diff is not one file's, or a hunk does not apply (naming the hunk and the line).
    """
    files = parse(diff)
    if len(files) != 1:
        raise ValueError(f"expected a diff of one file, found {len(files)}")
    return "".join(apply_file_diff(split_lines(before), files[0]))


def apply_file_diff(lines: list[str], fd: FileDiff) -> list[str]:
    """``apply_diff`` on lines: the lines after ``fd``."""
    if fd.op == "create" and lines:
        raise ValueError(f"{fd.path}: the diff creates the file, but it already has {len(lines)} lines")
    out: list[str] = []
    pos = 0
    for n, h in enumerate(fd.hunks, 1):
        start = h.index
        if start < pos:
            raise ValueError(f"{fd.path}: hunk {n} ({h.header}) overlaps the hunk before it")
        old = h.old_lines
        if start + len(old) > len(lines):
            raise ValueError(f"{fd.path}: hunk {n} ({h.header}) does not apply: the file has only "
                             f"{len(lines)} lines")
        for k, text in enumerate(old):
            if lines[start + k] != text:
                raise ValueError(f"{fd.path}: hunk {n} ({h.header}) does not apply: line {start + k + 1} "
                                 "differs from the diff")
        out.extend(lines[pos:start])
        out.extend(h.new_lines)
        pos = start + len(old)
    out.extend(lines[pos:])
    if fd.op == "delete" and out:
        raise ValueError(f"{fd.path}: the diff deletes the file but leaves {len(out)} of its lines")
    return out


# ----- write


def quote_path(prefix: str, path: str, quote_non_ascii: bool = True) -> str:
    """``prefix + path`` as git writes it in headers: C-quoted when the path holds a quote, a backslash, a
    control character or, with ``quote_non_ascii`` (git's ``core.quotePath``), a non-ASCII character."""
    out = []
    for c in path:
        if c in _QUOTES:
            out.append(_QUOTES[c])
        elif ord(c) < 0x20 or ord(c) == 0x7F or (ord(c) > 0x7F and quote_non_ascii):
            out.extend(f"\\{byte:03o}" for byte in c.encode("utf-8", errors="surrogateescape"))
        else:
            out.append(c)
    raw = "".join(out)
    return f'"{prefix}{raw}"' if raw != path else f"{prefix}{path}"


def file_header(prefix: str, path: str | None, quote_non_ascii: bool = True) -> str:
    """The name on a ``---``/``+++`` line: ``/dev/null`` for None, else ``quote_path``'s, followed by a tab
    when it holds a space (so that git sees where the name ends)."""
    if path is None:
        return DEV_NULL
    name = quote_path(prefix, path, quote_non_ascii)
    return name + "\t" if " " in name and not name.startswith('"') else name


def format_hunk(h: Hunk) -> str:
    """A hunk as diff text: its header and its lines, each ending with a newline."""
    return h.header + "\n" + "".join(_body(tag, text) for tag, text in h.lines)


def format_file_diff(fd: FileDiff, git: bool = True) -> str:
    """A ``FileDiff`` as diff text; ``git`` adds the ``diff --git`` header and, for a created or deleted
    file, its mode line, and writes a rename with ``rename from/to`` (what ``git apply`` needs)."""
    old, new = fd.old_path, fd.new_path
    out = ""
    if git:
        a, b = old if old is not None else new, new if new is not None else old
        out = f"diff --git {quote_path('a/', str(a))} {quote_path('b/', str(b))}\n"
        if fd.op == "create":
            out += f"new file mode {NEW_FILE_MODE}\n"
        elif fd.op == "delete":
            out += f"deleted file mode {NEW_FILE_MODE}\n"
        elif fd.op == "rename":
            out += (("" if fd.hunks else "similarity index 100%\n")
                    + f"rename from {quote_path('', str(old))}\nrename to {quote_path('', str(new))}\n")
        if not fd.hunks:
            return out
    return (out + f"--- {file_header('a/', old)}\n+++ {file_header('b/', new)}\n"
            + "".join(format_hunk(h) for h in fd.hunks))


# ----- compose


class _File:
    """What is known of one file: see the module docstring."""

    def __init__(self, orig_path: str | None) -> None:
        self.orig_path = orig_path  # path when the episode began; None: the file did not exist
        self.path: str | None = orig_path  # path now; None once deleted
        self.known: dict[int, str] = {}  # original line index -> its text
        self.lines: list[int | str] = []  # the file now: original line index, or the text of a new line
        self.tail = 0  # original lines tail, tail + 1, ... follow ``lines``
        self.orig_len: int | None = None if orig_path is not None else 0  # once known

    def text_at(self, entry: int | str) -> str | None:
        return self.known.get(entry) if isinstance(entry, int) else entry

    def materialize(self, n: int, what: str) -> None:
        """Makes ``lines`` at least ``n`` long by taking original lines from the tail."""
        need = n - len(self.lines)
        if need <= 0:
            return
        if self.orig_len is not None and self.tail + need > self.orig_len:
            raise ValueError(f"{what} reaches past the end of the file")
        self.lines.extend(range(self.tail, self.tail + need))
        self.tail += need

    def ends_at(self, n: int, what: str) -> None:
        """The file now has exactly ``n`` lines."""
        self.materialize(n, what)
        if len(self.lines) > n or (self.orig_len is not None and self.tail < self.orig_len):
            raise ValueError(f"{what} says the file ends at line {n}, but it is longer")
        self.orig_len = self.tail

    def apply(self, fd: FileDiff, context: int, what: str) -> None:
        last = -1
        for n, h in enumerate(fd.hunks, 1):
            if h.index < last:
                raise ValueError(f"{what}: hunk {n} ({h.header}) overlaps the hunk before it")
            last = h.index + h.old_len
        for n, h in reversed(list(enumerate(fd.hunks, 1))):  # from the end: earlier indexes stay valid
            where = f"{what}: hunk {n} ({h.header})"
            self.materialize(h.index + h.old_len, where)
            trailing = len(h.lines) - len(_rstrip_context(h.lines))
            no_newline = h.old_len > 0 and not h.old_lines[-1].endswith("\n")
            if n == len(fd.hunks) and (trailing < context or no_newline):
                self.ends_at(h.index + h.old_len, where)  # the file before this diff ends with this hunk
            replaced: list[int | str] = []
            entries = iter(self.lines[h.index:h.index + h.old_len])
            k = h.index
            for tag, text in h.lines:
                if tag == "+":
                    replaced.append(text)
                    continue
                entry = next(entries)
                k += 1
                self._reveal(entry, text, where, k)
                if tag == " ":
                    replaced.append(entry)
            self.lines[h.index:h.index + h.old_len] = replaced
        if fd.op == "delete":
            self.ends_at(0, what)

    def _reveal(self, entry: int | str, text: str, where: str, line: int) -> None:
        if isinstance(entry, int):
            seen = self.known.setdefault(entry, text)
        else:
            seen = entry
        if seen != text:
            raise ValueError(f"{where} does not apply: line {line} differs from what an earlier diff showed")

    def ops(self) -> list[tuple[str, int | None, str | None]]:
        """The net change as ``(tag, original index, text)``: ``=`` kept, ``-`` removed, ``+`` added, then
        the tail; a last ``?`` op stands for the unknown lines that may follow.

        Kept lines whose text is unknown are anchors (no edit came near them), and so are the kept lines
        next to them, which the hunks that changed things nearby showed as context. Between two anchors
        every line is known on both sides and ``difflib`` aligns the texts, so an edit that was undone
        leaves no change, whatever lines the edits removed and wrote back; and no change ends up next to
        a line whose text is unknown, which would leave its hunk without context.
        """
        unknown = [isinstance(e, int) and e not in self.known for e in self.lines]
        tail_unknown = (self.orig_len is None or self.tail < self.orig_len) and self.tail not in self.known
        unknown.append(tail_unknown)
        out: list[tuple[str, int | None, str | None]] = []
        orig_from = 0
        final: list[str] = []
        for i, entry in enumerate([*self.lines, None]):  # None: the end of the materialized lines
            anchor = entry is None or (isinstance(entry, int) and (unknown[i] or unknown[i + 1]
                                                                   or (i > 0 and unknown[i - 1])))
            if not anchor:
                final.append(str(self.text_at(entry)))
                continue
            orig_to = self.tail if entry is None else int(entry)
            out.extend(self._aligned(orig_from, orig_to, final))
            final = []
            if entry is not None:
                out.append(("=", entry, self.known.get(int(entry))))
                orig_from = int(entry) + 1
        end = self.orig_len if self.orig_len is not None else self.tail
        out.extend(("=", i, self.known.get(i)) for i in range(self.tail, end))
        if self.orig_len is None:
            i = self.tail
            while i in self.known:
                out.append(("=", i, self.known[i]))
                i += 1
            out.append(("?", i, None))
        return out

    def _aligned(self, orig_from: int, orig_to: int,
                 final: list[str]) -> list[tuple[str, int | None, str | None]]:
        """Original lines ``orig_from`` to ``orig_to`` (all known) aligned with the ``final`` texts."""
        texts = []
        for r in range(orig_from, orig_to):
            if r not in self.known:  # cannot happen: a hunk showed every line it removed
                raise ValueError(f"{self.path}: line {r + 1} was removed but its text is not known")
            texts.append(self.known[r])
        out: list[tuple[str, int | None, str | None]] = []
        matcher = difflib.SequenceMatcher(None, texts, final, autojunk=False)
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op == "equal":
                out.extend(("=", orig_from + i, texts[i]) for i in range(i1, i2))
                continue
            out.extend(("-", orig_from + i, texts[i]) for i in range(i1, i2))
            out.extend(("+", None, t) for t in final[j1:j2])
        return out

    def net(self, context: int) -> FileDiff | None:
        """This file's net diff, or None when nothing changed."""
        if self.orig_path is None and self.path is None:
            return None
        ops = self.ops()
        hunks = _hunks(ops, context, str(self.path or self.orig_path))
        if not hunks and self.orig_path == self.path and self.orig_path is not None:
            return None
        return FileDiff(self.orig_path, self.path, tuple(hunks))


def _rstrip_context(lines: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    end = len(lines)
    while end and lines[end - 1][0] == " ":
        end -= 1
    return lines[:end]


def _hunks(ops: list[tuple[str, int | None, str | None]], context: int, path: str) -> list[Hunk]:
    """Groups ops into hunks with up to ``context`` known lines of context (as ``difflib`` groups)."""
    changes = [i for i, op in enumerate(ops) if op[0] in "+-"]
    if not changes:
        return []
    groups: list[list[int]] = [[changes[0], changes[0]]]
    for i in changes[1:]:
        between = ops[groups[-1][1] + 1:i]
        if len(between) <= 2 * context and all(op[0] == "=" and op[2] is not None for op in between):
            groups[-1][1] = i
        else:
            groups.append([i, i])
    # line numbers: old (1-based) of each op that has one, and how many old/new lines come before each op
    old_before, new_before = [], []
    o = n = 0
    for tag, _, _ in ops:
        old_before.append(o)
        new_before.append(n)
        o += tag in "=-?"
        n += tag in "=+"
    def known(i: int) -> bool:
        return 0 <= i < len(ops) and ops[i][0] == "=" and ops[i][2] is not None

    hunks = []
    for first, last in groups:
        start = first
        while first - start < context and known(start - 1):
            start -= 1
        end = last + 1
        while end - last - 1 < context and known(end):
            end += 1
        if end == last + 1 and end < len(ops):
            raise ValueError(f"cannot write a net diff of {path}: the line after line {old_before[end] + 1} "
                             "of the original is not known")
        body = tuple((" " if tag == "=" else tag, str(text)) for tag, _, text in ops[start:end])
        old_len = sum(tag != "+" for tag, _ in body)
        new_len = sum(tag != "-" for tag, _ in body)
        old_start = old_before[start] + (1 if old_len else 0)
        new_start = new_before[start] + (1 if new_len else 0)
        hunks.append(Hunk(old_start, old_len, new_start, new_len, body))
    return hunks


class PartialTree:
    """The files of one repository as far as an episode's edit diffs show them (module docstring).

    Apply the diffs in the order they were recorded; ``diff()`` is then the net diff from the tree as it
    was when the episode began. ``lines`` shows what is known of a file now.
    """

    def __init__(self, context: int = CONTEXT) -> None:
        self.context = context
        self._files: list[_File] = []
        self._live: dict[str, _File] = {}  # current path -> file
        self._deleted: dict[str, _File] = {}  # path when deleted -> file

    def apply(self, diff: str, what: str = "diff") -> list[FileDiff]:
        """Applies one recorded diff (one or more files) and returns what it held.

        Raises:
            ValueError: the diff does not fit what earlier diffs showed (naming ``what`` and the hunk);
                the tree is then left as it was before the file that failed.
        """
        fds = parse(diff)
        for fd in fds:
            self.apply_file(fd, what)
        return fds

    def apply_file(self, fd: FileDiff, what: str = "diff") -> None:
        """Applies one file's diff (see ``apply``)."""
        f = self._target(fd, what)
        backup = (list(f.lines), f.tail, f.orig_len, dict(f.known))
        try:
            f.apply(fd, self.context, f"{what} of {fd.path}")
        except ValueError:
            f.lines, f.tail, f.orig_len, f.known = backup
            raise
        if f not in self._files:
            self._files.append(f)
        if fd.op == "create":
            self._deleted.pop(str(fd.new_path), None)
        else:
            self._live.pop(str(fd.old_path), None)
        f.path = fd.new_path
        if fd.new_path is None:
            self._deleted[str(fd.old_path)] = f
        else:
            self._live[fd.new_path] = f

    def _target(self, fd: FileDiff, what: str) -> _File:
        """The file a diff changes (registered by ``apply_file`` once the diff applies)."""
        if fd.op == "create":
            path = str(fd.new_path)
            if path in self._live:
                raise ValueError(f"{what} creates {path}, which an earlier diff showed to exist")
            return self._deleted.get(path) or _File(None)
        path = str(fd.old_path)
        if fd.op == "rename" and fd.new_path in self._live:
            raise ValueError(f"{what} renames {path} to {fd.new_path}, which an earlier diff showed to exist")
        if path in self._deleted and path not in self._live:
            raise ValueError(f"{what} changes {path} after an earlier diff deleted it")
        return self._live.get(path) or _File(path)  # first seen: it existed when the episode began

    def exists(self, path: str) -> bool:
        """Whether an applied diff left ``path`` in place (False for a path no diff touched)."""
        return path in self._live

    def lines(self, path: str, start: int, stop: int) -> list[str | None]:
        """The lines ``start`` to ``stop`` (0-based, end excluded) of ``path`` as it is now: each line's text,
        or None where it is not known; cut at the file's end when that is known.
        """
        f = self._live.get(path)
        if f is None:
            return [None] * max(0, stop - start)
        out: list[str | None] = []
        for i in range(max(0, start), stop):
            if i < len(f.lines):
                out.append(f.text_at(f.lines[i]))
                continue
            orig = f.tail + i - len(f.lines)
            if f.orig_len is not None and orig >= f.orig_len:
                break
            out.append(f.known.get(orig))
        return out

    def length(self, path: str) -> int | None:
        """How many lines ``path`` has now, when known."""
        f = self._live.get(path)
        if f is None or f.orig_len is None:
            return None
        return len(f.lines) + f.orig_len - f.tail

    def file_diffs(self) -> list[FileDiff]:
        """The net diff of each file that changed: deletions first, then by path."""
        nets = [fd for f in self._files if (fd := f.net(self.context)) is not None]
        return sorted(nets, key=lambda fd: (fd.op != "delete", fd.path))

    def diff(self) -> str:
        """The net diff (git's format), ``""`` when the episode changed nothing."""
        return "".join(format_file_diff(fd) for fd in self.file_diffs())


def compose(diffs: Iterable[str], context: int = CONTEXT) -> str:
    """The net diff of a sequence of per-file edit diffs, each against the previous state of its file.

    Returns:
        A diff in git's format that ``git apply`` applies to the tree as it was before the first diff;
        ``""`` when the changes cancel out.

    Raises:
        ValueError: a diff does not fit what the earlier ones showed (one line, naming the diff's index).
    """
    tree = PartialTree(context)
    for n, diff in enumerate(diffs, 1):
        tree.apply(diff, what=f"diff {n}")
    return tree.diff()


__all__ = ["CONTEXT", "FileDiff", "Hunk", "PartialTree", "apply_diff", "apply_file_diff", "compose",
           "file_header", "format_file_diff", "format_hunk", "parse", "quote_path", "split_lines"]
