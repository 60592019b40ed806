"""The files source on real git repositories: each saved change is one diff, and the diffs, applied
in order with ``git apply`` to a copy of the tree as it was at start, rebuild the tree at the end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from itertools import count
from pathlib import Path

import pytest

from gitkit import Sink, child_processes, git, make_repo, started_sources, use_git_env
from workscribe.redact.identity import redact_private
from workscribe.sources.files import FilesSource, unified_diff

SENTINEL = "zz-sentinel.txt"
_marks = count(1)

START_FILES = {
    "a.txt": "one\ntwo\nthree\n",
    "old.txt": "moving\nalong\n",
    "gone.txt": "bye\n",
    "src/main.py": "def main():\n    return 1\n",
    "src/util.py": "X = 1\n",
    ".gitignore": "*.log\n!keep.log\nbuild/\n",
    "src/.gitignore": "*.tmp\n",
}


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_git_env(monkeypatch)
    return make_repo(tmp_path / "app", START_FILES)


@pytest.fixture
def files(repo: Path) -> Iterator[Callable[..., tuple[FilesSource, Sink]]]:
    """Starts a files source on ``repo``; every source started is stopped after the test."""
    with started_sources(lambda **options: FilesSource([repo], log=lambda m: None, **options)) as start:
        yield start


def settle(repo: Path, sink: Sink) -> list[dict]:
    """Saves a sentinel file and waits for its edit: every change saved before it has been emitted
    (a path is looked at once it has been quiet for the debounce time, earlier paths first).
    Returns the edits so far, the sentinel's left out."""
    mark = f"mark {next(_marks)}"
    (repo / SENTINEL).write_text(mark + "\n")
    sink.wait(lambda e: e["data"]["path"] == SENTINEL and f"+{mark}\n" in e["data"]["diff"])
    return [e for e in sink.events if e["data"]["path"] != SENTINEL]


def by_path(edits: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for e in edits:
        out.setdefault(e["data"]["path"], []).append(e["data"])
    return out


def test_modify_create_delete_and_rename_are_one_edit_each(repo: Path, files) -> None:
    _, sink = files()
    (repo / "a.txt").write_text("one\nTWO\nthree\n")
    (repo / "src" / "new.py").write_text("x = 1\n")
    (repo / "gone.txt").unlink()
    os.rename(repo / "old.txt", repo / "renamed.txt")  # mv, then an edit of the moved file
    (repo / "renamed.txt").write_text("moving\nalong\nfurther\n")
    git(repo, "mv", "src/util.py", "src/helpers.py")
    edits = by_path(settle(repo, sink))

    assert {p: [e["op"] for e in es] for p, es in edits.items()} == {
        "a.txt": ["modify"], "src/new.py": ["create"], "gone.txt": ["delete"],
        "renamed.txt": ["rename"], "src/helpers.py": ["rename"]}
    modify = edits["a.txt"][0]
    assert modify["diff"] == ("diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n"
                              "@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n")
    assert (modify["added"], modify["removed"], modify["old_path"]) == (1, 1, None)
    assert modify["repo"] == redact_private(str(repo))
    create = edits["src/new.py"][0]
    assert "--- /dev/null\n+++ b/src/new.py\n@@ -0,0 +1 @@\n+x = 1\n" in create["diff"]
    delete = edits["gone.txt"][0]
    assert "deleted file mode 100644\n--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n" in delete["diff"]
    moved = edits["renamed.txt"][0]
    assert moved["old_path"] == "old.txt" and (moved["added"], moved["removed"]) == (1, 0)
    assert "rename from old.txt\nrename to renamed.txt\n" in moved["diff"] and "+further\n" in moved["diff"]
    assert edits["src/helpers.py"][0]["old_path"] == "src/util.py"


def test_atomic_saves_and_write_bursts_are_one_modify_of_the_target(repo: Path, files) -> None:
    _, sink = files()
    # VS Code / sed -i: a temporary file renamed over the target
    (repo / ".a.txt.tmp-4711").write_text("one\ntwo\nthree\nfour\n")
    os.replace(repo / ".a.txt.tmp-4711", repo / "a.txt")
    # vim (writebackup): probe file 4913, target moved to a backup, new file written, backup deleted
    (repo / "src" / "4913").write_text("")
    (repo / "src" / "4913").unlink()
    os.rename(repo / "src" / "main.py", repo / "src" / "main.py~")
    (repo / "src" / "main.py").write_text("def main():\n    return 2\n")
    (repo / "src" / "main.py~").unlink()
    # JetBrains: new text to ___jb_tmp___, target to ___jb_old___, tmp renamed over, old deleted
    (repo / "gone.txt___jb_tmp___").write_text("hello again\n")
    os.rename(repo / "gone.txt", repo / "gone.txt___jb_old___")
    os.rename(repo / "gone.txt___jb_tmp___", repo / "gone.txt")
    (repo / "gone.txt___jb_old___").unlink()
    # one save written in several chunks
    with open(repo / "old.txt", "w") as f:
        for chunk in ("moving\n", "along\n", "fast\n"):
            f.write(chunk)
            f.flush()
            time.sleep(0.01)  # not a wait: the save is written in chunks, apart in time, as tested
    edits = settle(repo, sink)

    assert sorted((e["data"]["path"], e["data"]["op"]) for e in edits) == [
        ("a.txt", "modify"), ("gone.txt", "modify"), ("old.txt", "modify"), ("src/main.py", "modify")]
    diffs = {e["data"]["path"]: e["data"]["diff"] for e in edits}
    assert diffs["src/main.py"].endswith("-    return 1\n+    return 2\n")
    assert diffs["old.txt"].endswith(" along\n+fast\n")


def test_ignored_binary_oversized_and_git_internal_files_are_skipped(repo: Path, files) -> None:
    source, sink = files(max_bytes=1000)
    (repo / "debug.log").write_text("ignored by *.log\n")
    (repo / "keep.log").write_text("kept by !keep.log\n")
    (repo / "src" / "scratch.tmp").write_text("ignored by src/.gitignore\n")
    (repo / "build" / "out").mkdir(parents=True)  # an ignored folder: never watched
    (repo / "build" / "out" / "x.txt").write_text("build output\n")
    (repo / "image.bin").write_bytes(b"PNG\0\1\2")
    (repo / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    (repo / "big.txt").write_text("x" * 2000)
    (repo / ".git" / "scratch").write_text("inside .git\n")
    (repo / "a.txt").write_bytes(b"now\0binary\n")
    edits = settle(repo, sink)

    assert [(e["data"]["path"], e["data"]["op"]) for e in edits] == [("keep.log", "create")]
    assert source.skipped["binary"] == 3  # image.bin, latin1.txt, a.txt
    assert source.skipped["too_large"] == 1
    assert source.skipped["ignored"] >= 3  # debug.log, scratch.tmp, build/
    assert not any(".git" in e["data"]["diff"] for e in edits)

    (repo / ".gitignore").write_text("*.log\n!keep.log\n")  # build/ is no longer ignored: its files appear
    edits = by_path(settle(repo, sink))
    assert [e["op"] for e in edits["build/out/x.txt"]] == ["create"]
    assert edits[".gitignore"][0]["diff"].endswith(" !keep.log\n-build/\n")


def test_past_the_memory_bound_a_diff_is_against_the_index(repo: Path, files) -> None:
    _, sink = files(memory_bytes=1)  # holds one file's text at a time
    (repo / "a.txt").write_text("one\nTWO\nthree\n")
    settle(repo, sink)  # the sentinel's text now pushes a.txt's out
    (repo / "a.txt").write_text("one\nTWO\nTHREE\n")
    edits = [e["data"] for e in settle(repo, sink) if e["data"]["path"] == "a.txt"]
    assert edits[0]["diff"].endswith("@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n")
    assert edits[1]["diff"].endswith("@@ -1,3 +1,3 @@\n one\n-two\n-three\n+TWO\n+THREE\n")  # vs the index


def test_files_in_brand_new_folders_are_seen(repo: Path, files) -> None:
    _, sink = files()
    subprocess.run("mkdir -p new/a/b && printf x > new/a/b/f", shell=True, cwd=repo, check=True)
    subprocess.run("mkdir -p burst/q && printf y > burst/q/gone && rm burst/q/gone "
                   "&& printf z > burst/q/kept", shell=True, cwd=repo, check=True)
    subprocess.run("mkdir -p many/deep && for i in $(seq 1 30); do printf $i > many/deep/f$i; done",
                   shell=True, cwd=repo, check=True)
    edits = by_path(settle(repo, sink))

    assert edits["new/a/b/f"] == [{
        "repo": redact_private(str(repo)), "path": "new/a/b/f", "op": "create", "old_path": None,
        "diff": ("diff --git a/new/a/b/f b/new/a/b/f\nnew file mode 100644\n--- /dev/null\n+++ b/new/a/b/f\n"
                 "@@ -0,0 +1 @@\n+x\n\\ No newline at end of file\n"),
        "added": 1, "removed": 0}]
    assert "burst/q/gone" not in edits  # created and deleted at once: no net change to describe
    assert [e["op"] for e in edits["burst/q/kept"]] == ["create"]
    assert sorted(p for p in edits if p.startswith("many/")) == sorted(
        f"many/deep/f{i}" for i in range(1, 31))

    shutil.move(repo / "many", repo / "moved")  # a folder moved within the repository: renames
    edits = by_path(settle(repo, sink))
    assert all(edits[f"moved/deep/f{i}"][-1]["old_path"] == f"many/deep/f{i}" for i in range(1, 31))


def test_a_saved_secret_never_leaves_the_source(repo: Path, files) -> None:
    _, sink = files()
    aws_id, aws_secret = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    token = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
    key_line = "MIIEpAIBAAKCAQEA1234567890abcdefghijABCDEFGHIJqwertyuiop"
    (repo / "settings.py").write_text(f'AWS_ACCESS_KEY_ID = "{aws_id}"\n'
                                      f'AWS_SECRET_ACCESS_KEY = "{aws_secret}"\n')
    (repo / "a.txt").write_text(f"one\ntwo\nthree\nGITHUB_TOKEN={token}\n")
    (repo / "id_rsa.txt").write_text(f"-----BEGIN RSA PRIVATE KEY-----\n{key_line}\n"
                                     "-----END RSA PRIVATE KEY-----\n")
    (repo / "notes-jane.doe@example.org.md").write_text("hello\n")
    settle(repo, sink)
    (repo / "a.txt").write_text(f"one\ntwo!\nthree\nGITHUB_TOKEN={token}\n")  # the secret as context
    edits = settle(repo, sink)

    dumped = json.dumps(sink.events)
    for secret in (aws_id, aws_secret, token, key_line, "jane.doe@example.org"):
        assert secret not in dumped
    diffs = {e["data"]["path"]: e["data"]["diff"] for e in edits}
    assert "<SECRET:" in diffs["settings.py"] and "<SECRET:" in diffs["id_rsa.txt"]
    assert any("<EMAIL>" in path for path in diffs)  # the file name is redacted too


def test_the_diffs_applied_in_order_rebuild_the_final_tree(repo: Path, files, tmp_path: Path) -> None:
    (repo / "a.txt").write_text("one\ntwo (dirty at start)\nthree\n")  # differs from the index
    (repo / "notes.md").write_text("untracked at start\n")
    replay = tmp_path / "replay"
    shutil.copytree(repo, replay, ignore=shutil.ignore_patterns(".git"))
    git(replay, "init", "-q")
    _, sink = files()

    (repo / "a.txt").write_text("zero\none\ntwo (dirty at start)\nthree\n")
    (repo / "notes.md").write_text("untracked at start\nand edited\n")
    (repo / "src" / "main.py").write_text("def main():\n    return 1\n\n\nmain()")  # no newline at end
    (repo / "crlf.txt").write_bytes(b"windows\r\nlines\r\n")
    (repo / "empty.txt").write_text("")
    (repo / "with space é.txt").write_text("unicode name\n")
    (repo / "gone.txt").unlink()
    os.rename(repo / "old.txt", repo / "renamed.txt")
    (repo / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(repo / "run.sh", 0o755)
    settle(repo, sink)
    (repo / "crlf.txt").write_bytes(b"windows\r\nmore\r\nlines\r\n")
    (repo / "empty.txt").unlink()
    (repo / "gone.txt").write_text("back again\n")
    (repo / ".tmp-save").write_text("one\n")
    os.replace(repo / ".tmp-save", repo / "renamed.txt")
    git(repo, "mv", "src/util.py", "src/helpers.py")
    subprocess.run("mkdir -p pkg/sub && printf 'a\\nb\\n' > pkg/sub/mod.py && mv src/main.py pkg/",
                   shell=True, cwd=repo, check=True)
    os.chmod(repo / "run.sh", 0o644)
    for i in range(5):
        (repo / "notes.md").write_text(f"line {i}\n" * (i + 1))
        settle(repo, sink)

    for i, event in enumerate(sink.events):
        patch = tmp_path / f"edit-{i}.patch"
        patch.write_text(event["data"]["diff"])
        done = subprocess.run(["git", "apply", str(patch)], cwd=replay, capture_output=True, text=True)
        assert done.returncode == 0, f"edit {i} {event['data']}: {done.stderr}"

    def tree(root: Path) -> dict[str, tuple[bytes, bool]]:
        names = git(root, "ls-files", "-co", "--exclude-standard", "-z").split("\0")
        return {n: ((root / n).read_bytes(), os.access(root / n, os.X_OK))
                for n in names if (root / n).is_file()}

    assert tree(replay) == tree(repo)


def test_stop_emits_what_waits_then_leaves_no_thread_or_process(repo: Path) -> None:
    threads, children = set(threading.enumerate()), child_processes()
    sink = Sink()
    source = FilesSource([repo], log=lambda m: None, debounce_s=5.0, max_delay_s=10.0)
    source.start(sink)
    (repo / "fresh.txt").write_text("untracked: check-ignore runs\n")
    (repo / "a.txt").write_text("changed just before stop\n")
    source.stop()  # the kernel queued their events as they were written; their 5 s debounce is not over

    assert sorted(e["data"]["path"] for e in sink.events) == ["a.txt", "fresh.txt"]
    assert set(threading.enumerate()) == threads
    assert child_processes() == children
    (repo / "a.txt").write_text("after stop\n")
    time.sleep(0.2)  # not a wait on a condition: time for a late event to show up, were one to come
    assert len(sink.events) == 2


def test_unified_diff_is_what_git_apply_takes(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q")
    cases = [("a\nb", "a\nb\n", "f1"), ("x\n", "", "f2"), (None, "", "f3"), ("", None, "f4"),
             ("q\n", "q\n", 'we"ird\tname'),
             ("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\nX\n4\n5\n6\n7\n8\nY\n", "f5")]
    for old, new, name in cases:
        if old is not None:
            (tmp_path / name).write_text(old)
        new_mode = "100755" if old == new else "100644"  # no change but the mode
        diff, added, removed = unified_diff(old, new, name, None, "100644", new_mode)
        (tmp_path / "p.patch").write_text(diff)
        done = subprocess.run(["git", "apply", "p.patch"], cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode == 0, (name, diff, done.stderr)
        assert (tmp_path / name).read_text() == new if new is not None else not (tmp_path / name).exists()
    diff, added, removed = unified_diff(*cases[-1][:2], "f5")
    assert diff.count("\n@@ ") == 1 and (added, removed) == (2, 2)  # changes 5 lines apart: one hunk
    assert unified_diff("a", "b", "f")[0].endswith("-a\n\\ No newline at end of file\n+b\n"
                                                   "\\ No newline at end of file\n")
