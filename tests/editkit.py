"""Random but realistic edit sequences for the diff and coding-export tests: real text (standard-library
sources), diffs written as the ``files`` source writes them, creates, deletes, renames, undos and missing
final newlines."""

from __future__ import annotations

import difflib
import inspect
import json
import random
import subprocess
import textwrap
from pathlib import Path

from workscribe import patches
from workscribe.patches import parse, split_lines
from workscribe.sources.files import unified_diff

# real text: the sources of a few standard-library modules, cut into files of a few hundred lines
SOURCES = [inspect.getsource(m) for m in (difflib, json.decoder, textwrap, random)]


def edit_diff(before: str | None, after: str | None, path: str, old_path: str | None = None) -> str:
    """The diff of an edit as the ``files`` source records it (None: no file); ``""`` when nothing changed."""
    if before == after and old_path in (None, path):
        return ""
    return unified_diff(before, after, path, old_path)[0]


def real_text(rng: random.Random, lines: int | None = None) -> str:
    src = split_lines(rng.choice(SOURCES))
    n = lines if lines is not None else rng.randint(1, 160)
    start = rng.randrange(max(1, len(src) - n))
    return "".join(src[start:start + n])


def git(repo: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], input=input, capture_output=True, text=True,
                          check=False)


def git_repo(tmp_path: Path, files: dict[str, str]) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    assert git(repo, "init", "-q").returncode == 0
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_bytes(text.encode())
    git(repo, "add", "-A")
    r = git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "base",
            "--allow-empty")
    assert r.returncode == 0, r.stderr
    return repo


def tree_of(repo: Path) -> dict[str, str]:
    listed = git(repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard").stdout.split("\0")
    return {p: (repo / p).read_bytes().decode() for p in listed if p and (repo / p).exists()}


def apply_tree(files: dict[str, str], diff: str) -> dict[str, str]:
    """Applies a multi-file diff to {path: text} strictly, with ``apply_diff``'s rules; like ``git apply``,
    every file's diff reads the files as they were before the patch (a rename may free a path another
    file is renamed to)."""
    fds = parse(diff)
    results = [(fd, "".join(patches.apply_file_diff(split_lines(files[fd.old_path] if fd.old_path else ""),
                                                    fd))) for fd in fds]
    out = {p: t for p, t in files.items() if p not in {fd.old_path for fd in fds}}
    for fd, after in results:
        if fd.new_path is not None:
            assert fd.new_path not in out, f"{fd.new_path} written twice"
            out[fd.new_path] = after
    return out


def edit_text(rng: random.Random, text: str, history: list[str]) -> str:
    """One realistic change: replace, insert, delete or move lines; sometimes undo an earlier state."""
    lines = split_lines(text)
    if history and rng.random() < 0.12:
        return rng.choice(history)
    kind = rng.choice(["replace", "insert", "delete", "duplicate", "newline", "tweak"])
    if not lines:
        return real_text(rng, rng.randint(1, 5))
    i = rng.randrange(len(lines))
    j = min(len(lines), i + rng.randint(1, 4))
    if kind == "replace":
        lines[i:j] = split_lines(real_text(rng, rng.randint(1, 4)))
    elif kind == "insert":
        lines[i:i] = split_lines(real_text(rng, rng.randint(1, 6)))
    elif kind == "delete":
        del lines[i:j]
    elif kind == "duplicate":
        lines[j:j] = lines[i:j]
    elif kind == "newline":  # drop or restore the last newline
        last = lines[-1]
        lines[-1] = last[:-1] if last.endswith("\n") else last + "\n"
    else:
        line = lines[i]
        cut = rng.randrange(len(line) + 1)
        lines[i] = line[:cut] + rng.choice(["x", "  ", "# note", "()", ""]) + line[cut:]
        if not lines[i].endswith("\n") and i < len(lines) - 1:
            lines[i] += "\n"
    # an inserted block ending without a newline inside the file would join two lines
    lines = [ln if ln.endswith("\n") or k == len(lines) - 1 else ln + "\n" for k, ln in enumerate(lines)]
    return "".join(lines)


PATHS = ["src/app.py", "src/util.py", "README.md", "docs/read me.md", "src/ünï.py", "lib/x.txt", "tests/t.py"]


def episode(seed: int, steps: int = 30) -> tuple[dict[str, str], list[str], dict[str, str]]:
    """(base files, the diffs of one random episode in order, the final files)."""
    rng = random.Random(seed)
    base = {p: real_text(rng) for p in rng.sample(PATHS, rng.randint(1, 4))}
    if rng.random() < 0.2:
        base["empty.txt"] = ""
    files = dict(base)
    history: dict[str, list[str]] = {p: [t] for p, t in files.items()}
    diffs = []
    for _ in range(steps):
        op = rng.choices(["modify", "create", "delete", "rename"], weights=[12, 2, 1, 2])[0]
        free = [p for p in PATHS + ["new/a.py", "new/b.py"] if p not in files]
        if op == "create" and free:
            path = rng.choice(free)
            files[path] = "" if rng.random() < 0.1 else real_text(rng)
            diff = edit_diff(None, files[path], path)
            history[path] = [files[path]]
        elif op == "delete" and files:
            path = rng.choice(sorted(files))
            diff = edit_diff(files.pop(path), None, path)
        elif op == "rename" and files and free:
            old, new = rng.choice(sorted(files)), rng.choice(free)
            text = files.pop(old)
            after = edit_text(rng, text, history.get(old, [])) if rng.random() < 0.5 else text
            files[new] = after
            history[new] = history.pop(old, []) + [after]
            diff = edit_diff(text, after, new, old_path=old)
        elif files:
            path = rng.choice(sorted(files))
            after = edit_text(rng, files[path], history[path])
            if after == files[path]:
                continue
            diff = edit_diff(files[path], after, path)
            files[path] = after
            history[path].append(after)
        else:
            continue
        diffs.append(diff)
    return base, diffs, files
