"""The git source on real repositories: HEAD at start, then one event per reflog line, read as git
writes it (commits with their files and diffstat, checkouts, merges, rebases, resets)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gitkit import AUTHOR, AUTHOR_EMAIL, Sink, child_processes, git, make_repo, started_sources, use_git_env
from workscribe.redact.identity import redact_private
from workscribe.sources.base import SourceError
from workscribe.sources.git import GitSource, reflog_kind

TOKEN = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    use_git_env(monkeypatch)
    return make_repo(tmp_path / "app", {"a.txt": "one\ntwo\nthree\n", "b.txt": "bee\n"})


@pytest.fixture
def watch() -> Iterator[Callable[..., tuple[GitSource, Sink]]]:
    """Starts a git source on the given repositories; every one started is stopped after the test."""
    with started_sources(lambda *repos: GitSource(list(repos), log=lambda m: None)) as start:
        yield start


def head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


def test_head_at_start_for_a_clean_a_dirty_and_an_empty_repository(repo: Path, tmp_path: Path, watch) -> None:
    dirty = make_repo(tmp_path / "dirty", {"x.txt": "x\n"})
    (dirty / "new.txt").write_text("untracked\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q", "-b", "trunk")
    git(repo, "checkout", "-q", "--detach")
    _, sink = watch(repo, dirty, empty)

    heads = [e["data"] for e in sink.of("head")]
    assert heads == [
        {"repo": redact_private(str(repo)), "hash": head(repo), "branch": None, "dirty": False},
        {"repo": redact_private(str(dirty)), "hash": head(dirty), "branch": "main", "dirty": True},
        {"repo": redact_private(str(empty)), "hash": None, "branch": "trunk", "dirty": False},
    ]


def test_a_commit_carries_its_files_diffstat_and_redacted_message_but_no_author(repo: Path, watch) -> None:
    parent = head(repo)
    _, sink = watch(repo)
    (repo / "a.txt").write_text("one\nTWO\nthree\nfour\n")
    (repo / "logo.png").write_bytes(b"\x89PNG\0\0binary")
    git(repo, "mv", "b.txt", "c.txt")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"Add four\n\nThe token was {TOKEN}.")
    [commit] = sink.wait(lambda e: e["kind"] == "commit")

    data = commit["data"]
    assert (data["hash"], data["parents"], data["branch"]) == (head(repo), [parent], "main")
    assert (data["amend"], data["op"]) == (False, "commit")
    assert data["message"] == "Add four\n\nThe token was <SECRET:github_token>."
    assert sorted(data["files"], key=lambda f: f["path"]) == [
        {"path": "a.txt", "added": 2, "removed": 1},
        {"path": "c.txt", "added": 0, "removed": 0},
        {"path": "logo.png", "added": None, "removed": None},
    ]
    assert (data["insertions"], data["deletions"]) == (2, 1)
    dumped = json.dumps(sink.events)
    assert AUTHOR not in dumped and AUTHOR_EMAIL not in dumped and TOKEN not in dumped

    git(repo, "commit", "-q", "--amend", "-m", "Add four (amended)")
    amended = sink.wait(lambda e: e["kind"] == "commit", count=2)[-1]["data"]
    assert (amended["amend"], amended["parents"]) == (True, [parent])
    assert amended["message"] == "Add four (amended)"
    assert amended["hash"] == head(repo) != data["hash"]


def test_the_first_commit_of_an_empty_repository_is_seen(tmp_path: Path, monkeypatch, watch) -> None:
    use_git_env(monkeypatch)
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q", "-b", "main")
    _, sink = watch(empty)
    (empty / "f.txt").write_text("first\n")
    git(empty, "add", "-A")
    git(empty, "commit", "-q", "-m", "first")  # creates .git/logs/ after the source started
    [commit] = sink.wait(lambda e: e["kind"] == "commit")
    assert commit["data"]["parents"] == [] and commit["data"]["files"] == [
        {"path": "f.txt", "added": 1, "removed": 0}]
    assert commit["data"]["op"] == "commit (initial)"


def test_checkout_switch_and_detach(repo: Path, watch) -> None:
    start = head(repo)
    _, sink = watch(repo)
    git(repo, "checkout", "-q", "-b", "feature")
    git(repo, "switch", "-q", "main")
    git(repo, "checkout", "-q", start)  # detached
    moves = [e["data"] for e in sink.wait(lambda e: e["kind"] == "checkout", count=3)]

    assert [(m["from"], m["to"], m["branch"]) for m in moves] == [
        ("main", "feature", "feature"), ("feature", "main", "main"),
        ("main", start[:7], None)]
    assert all(m["old"] == m["new"] == m["hash"] == start for m in moves)


def test_merge_rebase_and_reset(repo: Path, watch) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "f.txt").write_text("feature\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "feature work")
    git(repo, "checkout", "-q", "main")
    (repo / "m.txt").write_text("main\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "main work")
    _, sink = watch(repo)

    before = head(repo)
    git(repo, "merge", "-q", "--no-edit", "feature")
    [merge] = sink.wait(lambda e: e["kind"] == "merge")
    assert merge["data"]["op"] == "merge feature" and merge["data"]["old"] == before
    assert merge["data"]["new"] == merge["data"]["hash"] == head(repo) and merge["data"]["branch"] == "main"
    assert merge["data"]["message"].startswith("merge feature: Merge made by")

    git(repo, "reset", "-q", "--hard", "HEAD~1")
    [reset] = sink.wait(lambda e: e["kind"] == "reset")
    assert (reset["data"]["old"], reset["data"]["new"], reset["data"]["op"]) == (merge["data"]["new"], before,
                                                                                  "reset")

    git(repo, "checkout", "-q", "feature")
    git(repo, "rebase", "-q", "main")
    finish = sink.wait(lambda e: e["kind"] == "rebase" and e["data"]["op"] == "rebase (finish)")[0]["data"]
    ops = [e["data"]["op"] for e in sink.of("rebase")]
    assert ops[0] == "rebase (start)" and "rebase (pick)" in ops and ops[-1] == "rebase (finish)"
    assert finish["branch"] == "feature" and finish["hash"] == head(repo)
    assert all(e["data"]["branch"] is None for e in sink.of("rebase") if e["data"] is not finish)  # detached
    assert git(repo, "rev-parse", "HEAD~1").strip() == before  # really rebased onto main


def test_a_linked_worktree_whose_git_is_a_file(repo: Path, tmp_path: Path, watch) -> None:
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "side", str(wt))
    assert (wt / ".git").is_file()
    _, sink = watch(wt)
    assert sink.of("head")[0]["data"]["branch"] == "side"
    (wt / "w.txt").write_text("in the worktree\n")
    git(wt, "add", "-A")
    git(wt, "commit", "-q", "-m", "worktree commit")
    [commit] = sink.wait(lambda e: e["kind"] == "commit")
    assert commit["data"]["repo"] == redact_private(str(wt)) and commit["data"]["branch"] == "side"


def test_stop_leaves_no_thread_or_process_and_nothing_after(repo: Path) -> None:
    threads, children = set(threading.enumerate()), child_processes()
    sink = Sink()
    source = GitSource([repo], log=lambda m: None)
    source.start(sink)
    git(repo, "commit", "-q", "--allow-empty", "-m", "seen")
    sink.wait(lambda e: e["kind"] == "commit")
    source.stop()
    assert set(threading.enumerate()) == threads
    assert child_processes() == children
    seen = len(sink.events)
    git(repo, "commit", "-q", "--allow-empty", "-m", "after stop")
    time.sleep(0.2)  # not a wait on a condition: time for a late event to show up, were one to come
    assert len(sink.events) == seen


def test_no_repository_to_watch_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        GitSource([tmp_path], log=lambda m: None).start(Sink())


def test_reflog_verbs_map_to_kinds() -> None:
    assert [reflog_kind(v) for v in ("commit (amend)", "cherry-pick", "checkout", "merge origin/main",
                                     "pull", "pull --rebase (finish)", "rebase (pick)", "reset",
                                     "Branch: renamed refs/heads/a to refs/heads/b")] == [
        "commit", "commit", "checkout", "merge", "merge", "rebase", "rebase", "reset", "other"]
