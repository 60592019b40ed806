"""Unified diffs: parse, strict apply, and the net diff of an edit sequence, checked against real git."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from editkit import apply_tree, edit_diff, edit_text, episode, git, git_repo, real_text, tree_of
from workscribe.patches import PartialTree, apply_diff, compose, parse, split_lines


@pytest.mark.parametrize("seed", range(60))
def test_compose_equals_sequential_application(seed: int) -> None:
    base, diffs, final = episode(seed)
    files = dict(base)
    for diff in diffs:  # the recorded diffs apply one by one, strictly
        files = apply_tree(files, diff)
    assert files == final
    net = compose(diffs)
    assert apply_tree(base, net) == final


@pytest.mark.parametrize("seed", range(0, 60, 4))
def test_net_diff_applies_with_git_apply(tmp_path: Path, seed: int) -> None:
    base, diffs, final = episode(seed)
    repo = git_repo(tmp_path, base)
    net = compose(diffs)
    check = git(repo, "apply", "--check", "-v", input=net)
    assert check.returncode == 0, check.stderr + net
    assert git(repo, "apply", input=net).returncode == 0
    assert tree_of(repo) == final


def test_many_edits_of_one_file_and_an_undo_leave_only_the_net_change(tmp_path: Path) -> None:
    rng = random.Random(7)
    text = real_text(rng, 120)
    states = [text]
    for _ in range(40):
        states.append(edit_text(rng, states[-1], []))
    diffs = [edit_diff(a, b, "src/app.py") for a, b in itertools.pairwise(states) if a != b]
    net = compose(diffs)
    assert apply_diff(text, net) == states[-1]
    # the net diff is no bigger than a fresh diff of the two texts
    fresh = edit_diff(text, states[-1], "src/app.py")
    changed = [ln for ln in net.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    fresh_changed = [ln for ln in fresh.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    assert len(changed) <= len(fresh_changed) + 2
    # edit then undo: nothing
    undo = edit_diff(states[-1], text, "src/app.py")
    assert compose([*diffs, undo]) == ""


def test_created_then_deleted_file_leaves_nothing_and_rename_chain_is_one_rename(tmp_path: Path) -> None:
    a = "one\ntwo\nthree\nfour\nfive\nsix\nseven\n"
    diffs = [edit_diff(None, "tmp\n", "scratch.txt"), edit_diff("tmp\n", None, "scratch.txt"),
             edit_diff(a, a, "b.txt", old_path="a.txt"),
             edit_diff(a, a.replace("four", "FOUR"), "c.txt", old_path="b.txt")]
    net = compose(diffs)
    assert "scratch" not in net
    assert "rename from a.txt\nrename to c.txt\n" in net
    repo = git_repo(tmp_path, {"a.txt": a})
    r = git(repo, "apply", input=net)
    assert r.returncode == 0, r.stderr
    assert tree_of(repo) == {"c.txt": a.replace("four", "FOUR")}


def test_delete_of_a_partly_edited_file_reconstructs_its_whole_original(tmp_path: Path) -> None:
    original = real_text(random.Random(3), 50)
    edited = original.replace("\n", "\n", 1)
    lines = split_lines(original)
    lines[20] = "changed\n"
    edited = "".join(lines)
    diffs = [edit_diff(original, edited, "m.py"), edit_diff(edited, None, "m.py")]
    net = compose(diffs)
    assert net.startswith("diff --git a/m.py b/m.py\ndeleted file mode 100644\n--- a/m.py\n+++ /dev/null\n")
    assert f"@@ -1,{len(lines)} +0,0 @@" in net
    repo = git_repo(tmp_path, {"m.py": original, "keep.txt": "k\n"})
    r = git(repo, "apply", input=net)
    assert r.returncode == 0, r.stderr
    assert tree_of(repo) == {"keep.txt": "k\n"}


def test_delete_then_rename_onto_the_same_path(tmp_path: Path) -> None:
    base = {"a.py": "a1\na2\na3\n", "b.py": "b1\nb2\n"}
    diffs = [edit_diff(base["b.py"], None, "b.py"), edit_diff(base["a.py"], base["a.py"], "b.py", "a.py")]
    net = compose(diffs)
    repo = git_repo(tmp_path, base)
    r = git(repo, "apply", input=net)
    assert r.returncode == 0, r.stderr + net
    assert tree_of(repo) == {"b.py": "a1\na2\na3\n"}


def test_partial_tree_knows_only_what_hunks_showed() -> None:
    text = "".join(f"line {i}\n" for i in range(1, 41))
    after = text.replace("line 20\n", "line twenty\n")
    tree = PartialTree()
    tree.apply(edit_diff(text, after, "f.txt"))
    assert tree.lines("f.txt", 15, 25) == [None, "line 17\n", "line 18\n", "line 19\n", "line twenty\n",
                                           "line 21\n", "line 22\n", "line 23\n", None, None]
    assert tree.length("f.txt") is None  # the end was never shown
    tree.apply(edit_diff(after, after + "line 41\n", "f.txt"))
    assert tree.length("f.txt") == 41
    assert tree.lines("f.txt", 39, 50) == ["line 40\n", "line 41\n"]


# ----- parse and apply


def test_parse_git_headers_quoted_names_and_no_newline_markers() -> None:
    diff = (
        'diff --git "a/\\303\\274.txt" "b/\\303\\274.txt"\n'
        'new file mode 100644\n--- /dev/null\n+++ "b/\\303\\274.txt"\n@@ -0,0 +1,2 @@\n+x\n+y\n'
        "\\ No newline at end of file\n"
        "diff --git a/old name.py b/new name.py\nsimilarity index 100%\nrename from old name.py\n"
        "rename to new name.py\n"
        "--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n"
    )
    created, renamed, deleted = parse(diff)
    assert (created.op, created.path, created.hunks[0].new_lines) == ("create", "ü.txt", ["x\n", "y"])
    assert (renamed.op, renamed.old_path, renamed.new_path, renamed.hunks) == (
        "rename", "old name.py", "new name.py", ())
    assert (deleted.op, deleted.old_path, deleted.removed) == ("delete", "gone.txt", 1)


def test_edit_diffs_round_trip_through_git_apply(tmp_path: Path) -> None:
    before = {"a b.txt": "1\n2\n3\n", "ü.txt": "x", "d.txt": "gone\n"}
    repo = git_repo(tmp_path, before)
    diff = (edit_diff(before["a b.txt"], "1\nTWO\n3\n", "a b.txt") + edit_diff("x", "x\ny\n", "ü.txt")
            + edit_diff(before["d.txt"], None, "d.txt") + edit_diff(None, "new\n", "n.txt"))
    r = git(repo, "apply", input=diff)
    assert r.returncode == 0, r.stderr + diff
    assert tree_of(repo) == {"a b.txt": "1\nTWO\n3\n", "ü.txt": "x\ny\n", "n.txt": "new\n"}
    # and git's own diff reads back to the same changes
    git(repo, "add", "-A")
    for fd in parse(git(repo, "diff", "--cached", "-M", "HEAD").stdout):
        assert fd.path in {"a b.txt", "ü.txt", "d.txt", "n.txt"}


def test_apply_diff_is_strict_and_says_where() -> None:
    before = "a\nb\nc\nd\n"
    diff = edit_diff(before, "a\nB\nc\nd\n", "f.txt")
    assert apply_diff(before, diff) == "a\nB\nc\nd\n"
    with pytest.raises(ValueError, match=r"f.txt: hunk 1 \(@@ -1,4 \+1,4 @@\) does not apply: line 3 "):
        apply_diff("a\nb\nC\nd\n", diff)
    with pytest.raises(ValueError, match="has only 2 lines"):
        apply_diff("a\nb\n", diff)
    with pytest.raises(ValueError, match="already has 1 lines"):
        apply_diff("x\n", edit_diff(None, "y\n", "f.txt"))
    with pytest.raises(ValueError, match="cut short"):
        apply_diff(before, diff.replace(" d\n", ""))
    with pytest.raises(ValueError, match="expected a diff of one file, found 2"):
        apply_diff(before, diff + edit_diff(None, "y\n", "g.txt"))


def test_compose_rejects_a_diff_that_contradicts_an_earlier_one() -> None:
    text = "".join(f"{i}\n" for i in range(20))
    first = edit_diff(text, text.replace("10\n", "ten\n"), "f.txt")
    wrong = edit_diff(text, text.replace("11\n", "eleven\n"), "f.txt")  # still expects "10"
    with pytest.raises(ValueError, match=r"diff 2 of f.txt: hunk 1 .* line 11 differs"):
        compose([first, wrong])
    with pytest.raises(ValueError, match="diff 2 creates f.txt"):
        compose([first, edit_diff(None, "x\n", "f.txt")])
