"""Coding exports (swe, next-edit, next-command) from hand-made episodes whose diffs difflib made from real
file texts; the swe record replays to the same tree through its tool calls and through `git apply`."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from editkit import apply_tree, edit_diff
from editkit import episode as random_episode
from workscribe.export.coding import CURSOR, REGION_END, REGION_START, START_OF_FILE
from workscribe.export.formats import CODING_FORMATS, ExportError, ExportOptions, make_writer
from workscribe.patches import FileDiff, apply_file_diff, parse, split_lines

CORE = '''"""Small arithmetic helpers used by the calculator CLI."""

from __future__ import annotations


def add(a: float, b: float) -> float:
    """The sum of a and b."""
    return a + b


def subtract(a: float, b: float) -> float:
    """a minus b."""
    return a - b


def multiply(a: float, b: float) -> float:
    """The product of a and b."""
    return a * b


def divide(a: float, b: float) -> float:
    """a divided by b."""
    return a / b


def mean(values: list[float]) -> float:
    """The arithmetic mean of values."""
    return sum(values) / len(values)
'''
CORE_2 = CORE.replace(
    '''    """a divided by b."""
    return a / b''',
    '''    """a divided by b; ValueError when b is 0."""
    if b == 0:
        raise ValueError("cannot divide by zero")
    return a / b''',
)
CORE_3 = CORE_2.replace(
    '''    """The arithmetic mean of values."""
    return sum(values) / len(values)''',
    '''    """The arithmetic mean of values; ValueError when there are none."""
    if not values:
        raise ValueError("mean of no values")
    return divide(sum(values), len(values))''',
)
TESTS = """from calc.core import add, divide


def test_add() -> None:
    assert add(2, 3) == 5


def test_divide() -> None:
    assert divide(6, 3) == 2
"""
TESTS_2 = (
    TESTS.replace("from calc.core import add, divide", "import pytest\n\nfrom calc.core import add, divide")
    + """

def test_divide_by_zero() -> None:
    with pytest.raises(ValueError, match="zero"):
        divide(1, 0)
"""
)
README = "# calc\n\nA tiny calculator.\n\n## Usage\n\n    calc 1 + 2\n"
README_2 = README + "\n## Errors\n\nDividing by zero is an error.\n"
NOTES = "Division by zero now raises ValueError (CALC-12).\n"
SCRATCH = "print('debug')\n"

BASE = {"src/calc/core.py": CORE, "tests/test_core.py": TESTS, "README.md": README, "scratch.py": SCRATCH}
FINAL = {
    "src/calc/core.py": CORE_3,
    "tests/test_core.py": TESTS_2,
    "README.rst": README_2,
    "docs/notes.md": NOTES,
}


def step(n: int, kind: str, **fields: Any) -> dict[str, Any]:
    out = {
        "episode_id": "",
        "step": n,
        "t": n * 4.5,
        "duration_s": 1.0,
        "type": kind,
        "text": None,
        "cwd": None,
        "exit_code": None,
        "output": None,
        "path": None,
        "diff": None,
        "detail": None,
        "app": None,
        "window": None,
    }
    out.update(fields)
    return out


def command(
    n: int,
    text: str,
    exit_code: int = 0,
    output: str | None = "",
    cwd: str = "~/src/calc",
    truncated: bool = False,
) -> dict[str, Any]:
    return step(
        n,
        "command",
        text=text,
        cwd=cwd,
        exit_code=exit_code,
        output=output,
        app="xterm",
        detail={"cwd_after": cwd, "shell": "bash", "session": "0a1b2c3d", "output_truncated": truncated},
    )


def edit(
    n: int, path: str, before: str | None, after: str | None, old_path: str | None = None
) -> dict[str, Any]:
    diff = edit_diff(before, after, path, old_path=old_path)
    op = "create" if before is None else "delete" if after is None else "rename" if old_path else "modify"
    fd = parse(diff)[0] if diff else None
    return step(
        n,
        "edit",
        path=path,
        diff=diff,
        app="code",
        detail={
            "repo": "~/src/calc",
            "op": op,
            "old_path": old_path,
            "added": fd.added if fd else 0,
            "removed": fd.removed if fd else 0,
        },
    )


def episode(index: int, steps: list[dict[str, Any]], **meta: Any) -> dict[str, Any]:
    eid = f"5e55a0b1-{index:04d}"
    ep = {
        "episode_id": eid,
        "session": "5e55a0b1",
        "recording_id": "5e55a0b1-0000-4000-8000-000000000000",
        "contributor": "c-7f3a",
        "index": index,
        "task": None,
        "ticket": None,
        "outcome": None,
        "cut": "idle",
        "apps": ["xterm", "code"],
        "start": "2025-05-01T09:00:00.000+00:00",
        "duration_s": 120.0,
        "versions": {"recorder": "0.9.0", "redaction": {"text": "r3"}, "policy": "1"},
        "repo": "~/src/calc",
        "base": {"hash": "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d", "branch": "main", "dirty": False},
        "commit": None,
        "steps": steps,
    }
    ep.update(meta)
    for s in steps:
        s["episode_id"] = eid
    return ep


def fix_episode() -> dict[str, Any]:
    """A bug fix: tests fail, edits to code and tests, tests pass, commit; a browser click in between."""
    return episode(
        0,
        [
            command(0, "git status", output="On branch main\nnothing to commit, working tree clean\n"),
            command(
                1,
                "python -m pytest -x -q",
                exit_code=1,
                output="F\nE   ZeroDivisionError: division by zero\n1 failed in 0.03s\n",
                truncated=True,
            ),
            step(2, "click", x=640, y=300, app="firefox", window="Python docs"),
            edit(3, "src/calc/core.py", CORE, CORE_2),
            edit(4, "tests/test_core.py", TESTS, TESTS_2),
            command(5, "python -m pytest -x -q", output="...\n3 passed in 0.02s\n"),
            edit(6, "src/calc/core.py", CORE_2, CORE_3),
            edit(7, "docs/notes.md", None, NOTES),
            edit(8, "README.rst", README, README_2, old_path="README.md"),
            edit(9, "scratch.py", SCRATCH, None),
            command(10, "git commit -am 'Raise ValueError on division by zero'", output=None),
            step(
                11,
                "git",
                text="Raise ValueError on division by zero",
                detail={
                    "kind": "commit",
                    "repo": "~/src/calc",
                    "hash": "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432",
                    "branch": "main",
                    "parents": ["1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"],
                },
            ),
        ],
        task="Fix division by zero in calc.divide",
        ticket="CALC-12",
        outcome="done",
        cut="commit",
        commit="9f8e7d6c5b4a39281706f5e4d3c2b1a098765432",
    )


def shell_episode() -> dict[str, Any]:
    """Commands only, no task: looking around and running the tests."""
    return episode(
        1,
        [
            command(0, "cd src/calc", cwd="~/src/calc"),
            command(1, "ls -la", cwd="~/src/calc/src/calc", output="core.py\n__init__.py\n"),
            command(2, "cd ../..", cwd="~/src/calc/src/calc"),
            command(3, 'grep -rn "divide" src', output="src/calc/core.py:21:def divide(a, b):\n"),
            command(
                4, "python -m pytest -q tests/test_core.py::test_divide", exit_code=0, output="1 passed\n"
            ),
        ],
        base=None,
        repo=None,
    )


def gui_episode() -> dict[str, Any]:
    return episode(
        2,
        [step(0, "click", x=1, y=2, app="firefox"), step(1, "type", text="hello", app="firefox")],
        repo=None,
        base=None,
    )


def export(tmp_path: Path, fmt: str, episodes: list[tuple[dict[str, Any], str]], **options: Any) -> Path:
    out = tmp_path / fmt
    out.mkdir()
    writer = make_writer(out, ExportOptions(format=fmt, **options))
    for ep, split in episodes:
        writer.add(ep, split, None)
    report = writer.close()
    (out / "report.json").write_text(json.dumps(report, sort_keys=True))
    return out


def rows(out: Path, split: str = "train") -> list[dict[str, Any]]:
    file = out / "data" / f"{split}.jsonl"
    return [json.loads(line) for line in file.read_text().splitlines()] if file.exists() else []


def git(repo: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-C", str(repo), *args], input=input, capture_output=True, text=True, check=False
    )


def write_tree(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def read_tree(repo: Path) -> dict[str, str]:
    listed = git(repo, "ls-files", "-z", "--cached", "--others", "--exclude-standard").stdout.split("\0")
    return {p: (repo / p).read_text() for p in listed if p and (repo / p).exists()}


def replay(files: dict[str, str], messages: list[dict[str, Any]]) -> dict[str, str]:
    """Runs the edit tool calls of a chat on {path: text}: edit(diff), str_replace_editor, and the bash
    mv/rm calls that stand for renames and deletions (other commands change no file here)."""
    files = dict(files)
    for message in messages:
        for call in message.get("tool_calls") or []:
            name, args = call["function"]["name"], json.loads(call["function"]["arguments"])
            if name == "edit":
                for fd in parse(args["diff"]):
                    before = files.pop(fd.old_path) if fd.old_path else ""
                    after = "".join(apply_file_diff(split_lines(before), fd))
                    if fd.new_path:
                        files[fd.new_path] = after
            elif name == "str_replace_editor":
                path = args["path"]
                if args["command"] == "create":
                    assert path not in files
                    files[path] = args["file_text"]
                elif args["command"] == "str_replace":
                    assert files[path].count(args["old_str"]) == 1, "old_str must occur exactly once"
                    files[path] = files[path].replace(args["old_str"], args["new_str"])
                else:
                    lines = split_lines(files[path])
                    files[path] = (
                        "".join(lines[: args["insert_line"]])
                        + args["new_str"]
                        + "".join(lines[args["insert_line"] :])
                    )
            elif name == "bash" and args["command"].startswith(("mv ", "rm ")):
                words = shlex.split(args["command"])
                if words[0] == "mv":
                    files[words[2]] = files.pop(words[1])
                else:
                    del files[words[1]]
    return files


# ----- swe


@pytest.mark.parametrize("edit_tool", ["diff", "str_replace"])
def test_swe_record_replays_to_the_final_tree_by_tool_calls_and_by_patch(
    tmp_path: Path, edit_tool: str
) -> None:
    out = export(tmp_path, "swe", [(fix_episode(), "train")], edit_tool=edit_tool)
    (record,) = rows(out)
    assert replay(BASE, record["messages"]) == FINAL
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    write_tree(repo, BASE)
    git(repo, "add", "-A")
    assert (
        git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "base").returncode
        == 0
    )
    applied = git(repo, "apply", input=record["patch"])
    assert applied.returncode == 0, applied.stderr + record["patch"]
    assert read_tree(repo) == FINAL
    assert record["patch_error"] == ""


def test_swe_record_shape(tmp_path: Path) -> None:
    out = export(
        tmp_path, "swe", [(fix_episode(), "train"), (gui_episode(), "train"), (shell_episode(), "validation")]
    )
    (record,) = rows(out)
    msgs = record["messages"]
    assert [m["role"] for m in msgs[:2]] == ["system", "user"]
    assert msgs[1]["content"] == (
        "Task: Fix division by zero in calc.divide\nTicket: CALC-12\nRepository: ~/src/calc\n"
        "Branch: main at 1a2b3c4d5e6f"
    )
    calls = [m["tool_calls"][0] for m in msgs if m["role"] == "assistant"]
    names = [c["function"]["name"] for c in calls]
    assert names == [
        "bash",
        "bash",
        "edit",
        "edit",
        "bash",
        "edit",
        "edit",
        "edit",
        "edit",
        "bash",
    ]  # no click, no git
    assert json.loads(calls[0]["function"]["arguments"]) == {"command": "git status"}
    assert json.loads(calls[2]["function"]["arguments"]) == {
        "path": "src/calc/core.py",
        "diff": edit_diff(CORE, CORE_2, "src/calc/core.py"),
    }
    tools = [m for m in msgs if m["role"] == "tool"]
    assert [t["tool_call_id"] for t in tools] == [c["id"] for c in calls]
    assert tools[1]["content"].startswith("exit code: 1\n(the end of the output)\nF\n")
    assert tools[2]["content"] == "Edited src/calc/core.py (+3 -1)."
    assert tools[-1]["content"] == "exit code: 0\n(output not recorded)"
    assert {t["content"] for t in tools[6:9]} == {
        "Created docs/notes.md (+1 -0).",
        "Renamed README.md to README.rst (+4 -0).",
        "Deleted scratch.py.",
    }
    assert [t["function"]["name"] for t in json.loads(record["tools"])] == ["bash", "edit"]
    assert json.loads(record["git"]) == [
        {
            "step": 11,
            "t": 49.5,
            "kind": "commit",
            "hash": "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432",
            "branch": "main",
            "message": "Raise ValueError on division by zero",
        }
    ]
    assert record["note"] == "Left out 1 GUI step (in firefox)."
    assert record["base"] == {
        "hash": "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d",
        "branch": "main",
        "dirty": False,
    }
    assert (record["commit"], record["cut"], record["outcome"]) == (
        "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432",
        "commit",
        "done",
    )
    (val,) = rows(out, "validation")
    assert val["messages"][1]["content"] == "Task: (not stated)\nRepository: (unknown)"
    assert (val["ticket"], val["base"], val["patch"], val["git"]) == (
        "",
        {"hash": "", "branch": "", "dirty": False},
        "",
        "[]",
    )
    report = json.loads((out / "report.json").read_text())
    assert report["rows"] == {"train": 1, "validation": 1}
    assert report["not_written"] == {"episodes_without_coding_steps": 1}


def test_swe_str_replace_calls(tmp_path: Path) -> None:
    out = export(tmp_path, "swe", [(fix_episode(), "train")], edit_tool="str_replace")
    (record,) = rows(out)
    calls = [c for m in record["messages"] if m["role"] == "assistant" for c in m["tool_calls"]]
    args = [json.loads(c["function"]["arguments"]) for c in calls]
    first = args[2]
    assert first["command"] == "str_replace" and first["path"] == "src/calc/core.py"
    assert (
        "    return a / b\n" in first["old_str"]
        and 'raise ValueError("cannot divide by zero")' in first["new_str"]
    )
    assert {"command": "create", "path": "docs/notes.md", "file_text": NOTES} in args
    assert {"command": "mv README.md README.rst"} in args and {"command": "rm scratch.py"} in args
    assert [t["function"]["name"] for t in json.loads(record["tools"])] == ["bash", "str_replace_editor"]


def test_swe_patch_error_when_diffs_do_not_fit(tmp_path: Path) -> None:
    broken = fix_episode()
    broken["steps"][6] = edit(6, "src/calc/core.py", CORE, CORE_3)  # made against the file before step 3
    out = export(tmp_path, "swe", [(broken, "train")])
    (record,) = rows(out)
    assert record["patch"] == ""
    assert "step 6" in record["patch_error"] and "does not apply" in record["patch_error"]


def test_unknown_edit_tool_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="unknown --edit-tool 'ed'"):
        ExportOptions(format="swe", edit_tool="ed")


# ----- next-edit


def region(text: str) -> str:
    return text.split(REGION_START + "\n", 1)[1].split(REGION_END, 1)[0]


def test_next_edit_examples_match_the_real_files(tmp_path: Path) -> None:
    out = export(tmp_path, "next-edit", [(fix_episode(), "train"), (shell_episode(), "train")])
    examples = rows(out)
    # edits at steps 3 4 6 7 8 9: the first has no earlier edit; 7 creates, 9 deletes a file
    assert [e["step"] for e in examples] == [4, 6, 8]
    report = json.loads((out / "report.json").read_text())
    assert report["not_written"] == {"file_creations_and_deletions": 2, "first_edits_of_episode": 1}
    texts = {4: (TESTS, TESTS_2), 6: (CORE_2, CORE_3), 8: (README, README_2)}
    for ex in examples:
        before, after = texts[ex["step"]]
        start = ex["editable_start"] - 1
        got_before = region(ex["input"]).replace(CURSOR, "")
        assert got_before == "".join(split_lines(before)[start : start + ex["editable_lines"]])
        got_after = region(ex["output"])
        assert CURSOR not in ex["output"]
        lines = split_lines(before)
        spliced = "".join(lines[:start]) + got_after + "".join(lines[start + ex["editable_lines"] :])
        if ex["step"] == 4:  # two hunks with unknown lines between: only the first (no cursor in this file)
            assert got_after.startswith("import pytest\n\nfrom calc.core import add, divide\n")
            assert after.startswith(got_after) and "test_divide_by_zero" not in spliced
        else:  # splicing the expected region into the file before the edit gives the file after it
            assert spliced == after
        assert ex["input"].startswith(f"```{ex['path']}\n") and ex["input"].endswith("```")
    by_step = {e["step"]: e for e in examples}
    # step 4: the previous edit was in another file: cursor at the region's start; the event shows it
    assert by_step[4]["cursor"] == "region_start"
    assert by_step[4]["events"].startswith('User edited "src/calc/core.py":\n```diff\n@@ -19,7 +19,9 @@\n')
    assert by_step[4]["events"].endswith("\n\n```")
    assert region(by_step[4]["input"]).startswith(CURSOR)
    assert by_step[4]["input"].startswith(f"```tests/test_core.py\n{START_OF_FILE}\n{REGION_START}\n")
    # step 6: two edits before; the cursor is where step 3's edit of core.py ended (after its last added line)
    assert by_step[6]["previous_edits"] == 2 and by_step[6]["events"].count("User edited") == 2
    assert by_step[6]["cursor"] == "previous_edit"
    assert "    return a / b\n" in region(by_step[6]["input"])
    assert 'raise ValueError("cannot divide by zero")' + CURSOR + "\n" in by_step[6]["input"]
    # step 8 renamed README.md: its event says so; the example is for the new path
    assert by_step[8]["path"] == "README.rst"
    assert (
        "User created" not in by_step[8]["events"] and 'User edited "docs/notes.md"' in by_step[8]["events"]
    )


def test_next_edit_keeps_the_hunks_around_the_cursor_when_a_save_spans_unknown_lines(tmp_path: Path) -> None:
    text = "".join(f"value_{i} = {i}\n" for i in range(60))
    first = text.replace("value_40 = 40\n", "value_40 = 400\n")
    second = first.replace("value_2 = 2\n", "value_2 = 20\n").replace("value_41 = 41\n", "value_41 = 410\n")
    out = export(
        tmp_path,
        "next-edit",
        [(episode(0, [edit(0, "v.py", text, first), edit(1, "v.py", first, second)]), "train")],
    )
    (ex,) = rows(out)
    # lines between the two hunks of step 1 were never shown: only the hunk around the cursor (line 41)
    assert ex["cursor"] == "previous_edit"
    assert "value_41 = 41\n" in region(ex["input"]) and "value_41 = 410\n" in region(ex["output"])
    assert "value_2" not in ex["input"]
    # above the region: the one line that step 0's context showed and step 1's did not
    assert ex["input"].split(REGION_START)[0] == "```v.py\nvalue_37 = 37\n"
    assert ex["input"].split(REGION_END + "\n")[1] == "```"  # nothing known below
    assert START_OF_FILE not in ex["input"]


# ----- next-command


def test_next_command_examples(tmp_path: Path) -> None:
    out = export(
        tmp_path,
        "next-command",
        [(fix_episode(), "train"), (shell_episode(), "validation")],
        command_history=3,
    )
    train, val = rows(out), rows(out, "validation")
    assert [e["next"] for e in train] == [
        "python -m pytest -x -q",
        "python -m pytest -x -q",
        "git commit -am 'Raise ValueError on division by zero'",
    ]
    assert train[2]["history"] == [
        {"command": "git status", "cwd": "~/src/calc", "exit_code": 0},
        {"command": "python -m pytest -x -q", "cwd": "~/src/calc", "exit_code": 1},
        {"command": "python -m pytest -x -q", "cwd": "~/src/calc", "exit_code": 0},
    ]
    assert [e["id"] for e in val] == [f"5e55a0b1-0001/{n}" for n in (1, 2, 3, 4)]
    assert val[0] == {
        "id": "5e55a0b1-0001/1",
        "episode_id": "5e55a0b1-0001",
        "step": 1,
        "session": "5e55a0b1",
        "task": "",
        "repo": "",
        "cwd": "~/src/calc/src/calc",
        "next": "ls -la",
        "history": [{"command": "cd src/calc", "cwd": "~/src/calc", "exit_code": 0}],
    }
    assert len(val[3]["history"]) == 3  # command_history


# ----- all formats


@pytest.mark.parametrize("fmt", sorted(CODING_FORMATS))
def test_exports_are_deterministic_and_load_with_datasets(tmp_path: Path, fmt: str) -> None:
    import datasets

    # validation holds values (a ticket, git steps) where every train row has none
    train = shell_episode()
    val = fix_episode()
    episodes = [(train, "train"), (gui_episode(), "train"), (val, "validation")]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = export(tmp_path / "a", fmt, episodes), export(tmp_path / "b", fmt, episodes)
    files = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file())
    for name in files:
        assert (a / name).read_bytes() == (b / name).read_bytes()
    splits = {s for s in ("train", "validation") if rows(a, s)}
    assert "validation" in splits and (fmt == "next-edit") == ("train" not in splits)  # no edits in train
    assert (a / "README.md").read_text().startswith("---\nconfigs:\n- config_name: default\n")
    ds = datasets.load_dataset("json", data_dir=str(a), cache_dir=str(tmp_path / "cache"))
    assert set(ds) == splits
    for split in splits:
        assert [r["id"] for r in ds[split]] == [r["id"] for r in rows(a, split)]
    if fmt == "swe":  # the loaded chat is the written one, nested tool calls included
        assert (
            ds["validation"][0]["messages"][2]["tool_calls"]
            == rows(a, "validation")[0]["messages"][2]["tool_calls"]
        )


# ----- random episodes


@pytest.mark.parametrize("seed", range(16))
def test_next_edit_and_swe_on_random_episodes_match_the_real_files(tmp_path: Path, seed: int) -> None:
    base, diffs, final = random_episode(seed)
    files, steps, states = dict(base), [], []
    for n, diff in enumerate(diffs):
        fd = parse(diff)[0]
        after = apply_tree(files, diff)
        steps.append(step(n, "edit", path=fd.path, diff=diff,
                          detail={"op": fd.op, "old_path": fd.old_path if fd.op == "rename" else None}))
        states.append((fd, files, after))
        files = after
    ep = episode(0, steps)
    examples = rows(export(tmp_path, "next-edit", [(ep, "train")]))
    assert examples
    for ex in examples:
        fd, before, after = states[ex["step"]]
        lines = split_lines(before[fd.old_path])
        start, n = ex["editable_start"] - 1, ex["editable_lines"]
        assert region(ex["input"]).replace(CURSOR, "") == with_newline("".join(lines[start : start + n]))
        # the output region is the file after the hunks inside the region (all of them, unless far apart)
        inside = tuple(h for h in fd.hunks if start <= h.index and h.index + h.old_len <= start + n)
        assert inside
        changed = apply_file_diff(lines, FileDiff(fd.old_path, fd.new_path, inside))
        grown = sum(h.new_len - h.old_len for h in inside)
        assert region(ex["output"]) == with_newline("".join(changed[start : start + n + grown]))
        if len(inside) == len(fd.hunks):
            assert "".join(changed) == after[fd.path]
    (record,) = rows(export(tmp_path, "swe", [(ep, "train")]))
    assert record["patch_error"] == ""
    assert apply_tree(base, record["patch"]) == final
    assert replay(base, record["messages"]) == final


def with_newline(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


def test_a_rename_recorded_without_a_diff_gets_its_headers(tmp_path: Path) -> None:
    rename = step(1, "edit", path="docs/calc.md", diff="", detail={"op": "rename", "old_path": "README.md"})
    ep = episode(0, [edit(0, "README.md", README, README_2), rename, command(2, "git add -A")])
    (record,) = rows(export(tmp_path, "swe", [(ep, "train")]))
    assert replay({"README.md": README}, record["messages"]) == {"docs/calc.md": README_2}
    assert "rename from README.md\nrename to docs/calc.md\n" in record["patch"]
    assert record["messages"][5]["content"] == "Renamed README.md to docs/calc.md."
    (tmp_path / "ne").mkdir()
    out = export(tmp_path / "ne", "next-edit", [(ep, "train")])
    assert rows(out) == []
    assert json.loads((out / "report.json").read_text())["not_written"] == {
        "edits_without_hunks": 1, "first_edits_of_episode": 1}
