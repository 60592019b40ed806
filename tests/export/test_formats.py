"""The format registry: every registered format exports a real spool through the driver and keeps the
writer contract; options are checked when made; the coding options change the examples as documented."""

from __future__ import annotations

import dataclasses
import difflib
import json
from pathlib import Path
from typing import Any

import pytest

from helpers import run_cli
from workscribe.export.driver import REPORT_FILE, export
from workscribe.export.formats import (
    CODING_FORMATS,
    COMMAND_HISTORY,
    EDIT_EVENTS,
    FORMATS,
    REGISTRY,
    SCREEN_FORMATS,
    ExportError,
    ExportOptions,
)
from workscribe.testing.synthetic import T0, SyntheticSpool, write_synthetic_spool

KEY = bytes(range(32))
MS = 1_000_000
EDITS = 6  # edits of app.py in the coding spool, each after three commands
COMMANDS = 3 * EDITS


def write_coding_spool(out: Path) -> None:
    """A recording of coding work: ``COMMANDS`` shell commands and ``EDITS`` edits of one file whose
    diffs difflib made from the real texts, in one coding episode (no commit, no pause)."""
    spool = SyntheticSpool(out, KEY, seed=7, frames=False, contributor="coder")
    texts = ["import os\n\n\ndef add(a, b):\n    return a - b\n"]
    for i in range(1, EDITS + 1):
        lines = texts[-1].splitlines(keepends=True)
        lines.insert(2 + i, f"X{i} = {i}\n")
        texts.append("".join(lines))
    events: list[tuple[int, str, str, dict[str, Any]]] = [
        (1, "git", "head", {"repo": "~/src/app", "branch": "main", "hash": "a" * 40, "dirty": False})]
    t, seq = 100, 0
    for i in range(1, EDITS + 1):
        for line in (f"pytest -q -k t{i}", f"ls src/{i}", "git status"):
            seq += 1
            events.append((t + 50, "shell", "command", {
                "shell": "bash", "session": "0a0b0c0d", "seq": seq, "text": line, "cwd": "~/src/app",
                "cwd_after": "~/src/app", "exit_code": 0, "start": T0 + t * MS, "end": T0 + (t + 50) * MS,
                "output": f"out {seq}\n", "output_truncated": False}))
            t += 200
        diff = "".join(difflib.unified_diff(texts[i - 1].splitlines(keepends=True),
                                            texts[i].splitlines(keepends=True), "a/app.py", "b/app.py"))
        events.append((t, "files", "edit", {"repo": "~/src/app", "path": "app.py", "op": "modify",
                                            "old_path": None, "diff": diff, "added": 1, "removed": 0}))
        t += 300
    for ms, source, kind, data in events:
        spool.t = T0 + ms * MS
        spool.emit(source, kind, data)
    spool.close()


@pytest.fixture(scope="module")
def spools(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("spools")
    write_synthetic_spool(root / "screen", KEY, 0.01, seed=4, frames=True, contributor="alice", segment_s=60)
    write_coding_spool(root / "coding")
    (root / "spool.key").write_bytes(KEY)
    return {"screen": root / "screen", "coding": root / "coding", "key": root / "spool.key"}


def listed_files(report: dict[str, Any]) -> list[str]:
    """The files a report names: per split (``{split: [...]}``) or in one list (lerobot)."""
    files = report["files"]
    return [f for fs in files.values() for f in fs] if isinstance(files, dict) else list(files)


def rows(out: Path, split: str = "train") -> list[dict[str, Any]]:
    file = out / "data" / f"{split}.jsonl"
    return [json.loads(line) for line in file.read_text().splitlines()] if file.exists() else []


# ----- the registry


def test_the_registry_is_the_one_list_of_formats() -> None:
    from workscribe.cli.export import export as export_command

    assert FORMATS == tuple(REGISTRY) == (*SCREEN_FORMATS, *CODING_FORMATS)
    assert set(SCREEN_FORMATS) == {"hf", "lerobot", "sft"}
    assert set(CODING_FORMATS) == {"swe", "next-edit", "next-command"}
    choices = next(p for p in export_command.params if p.name == "fmt").type.choices
    assert tuple(choices) == FORMATS  # the CLI offers exactly the registered formats


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_exports_a_real_spool_and_keeps_the_writer_contract(spools: dict[str, Path],
                                                                        tmp_path: Path, fmt: str) -> None:
    entry = REGISTRY[fmt]
    writer = entry.load()
    assert all(callable(getattr(writer, name, None)) for name in ("add", "close"))
    assert entry.help and entry.kind in ("screen", "coding")
    out = tmp_path / fmt
    report = export([spools["screen"], spools["coding"]], out, ExportOptions(format=fmt, val_fraction=0.0),
                    key=KEY)
    assert report == json.loads((out / REPORT_FILE).read_text())
    assert {"format", "exporter_version", "options", "splits", "episodes", "steps", "recordings",
            "recorder_versions", "redaction_versions", "skipped", "files"} <= set(report)
    assert report["format"] == fmt and report["recordings"] == 2
    assert set(report["options"]) == {"split_by", "val_fraction", "idle_s", *entry.reported}
    assert report["episodes"] > 0 and report["steps"] > 0
    names = listed_files(report)
    assert names and all((out / name).is_file() for name in names)
    assert sum((out / name).stat().st_size for name in names) > 0
    written = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert set(names) <= written
    assert not [name for name in written if name.endswith((".partial", ".tmp"))]


# ----- options


@pytest.mark.parametrize(("field", "value", "message"), [
    ("format", "csv", "unknown format 'csv'; use one of hf, lerobot"),
    ("split_by", "team", "unknown --split-by 'team'; use session or contributor"),
    ("val_fraction", 1.5, r"--val-fraction must be in \[0, 1\), got 1.5"),
    ("idle_s", 0.0, "--idle-seconds must be > 0, got 0.0"),
    ("actions", "xdotool", "unknown --actions 'xdotool'; use one of pyautogui"),
    ("history", -1, "history must be an integer >= 0"),
    ("edit_tool", "ed", "unknown --edit-tool 'ed'; use one of diff, str_replace"),
    ("edit_events", 0, "--edit-events must be an integer >= 1, got 0"),
    ("command_history", 0, "--command-history must be an integer >= 1, got 0"),
])
def test_options_are_checked_when_made(field: str, value: Any, message: str) -> None:
    with pytest.raises(ExportError, match=message):
        ExportOptions(**{field: value})
    assert field in {f.name for f in dataclasses.fields(ExportOptions)}


def test_the_coding_defaults_are_the_documented_ones() -> None:
    assert (ExportOptions().edit_events, ExportOptions().command_history) == (EDIT_EVENTS, COMMAND_HISTORY)
    assert (EDIT_EVENTS, COMMAND_HISTORY) == (5, 10)


def test_command_history_sets_the_length_of_each_history(spools: dict[str, Path], tmp_path: Path) -> None:
    def run(out: Path, *flags: str) -> list[dict[str, Any]]:
        r = run_cli("export", str(spools["coding"]), "--format", "next-command", "--out", str(out),
                    "--val-fraction", "0", "--key", str(spools["key"]), "--json", *flags)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["command_history"] == (int(flags[-1]) if flags else COMMAND_HISTORY)
        return rows(out)

    default, short = run(tmp_path / "default"), run(tmp_path / "short", "--command-history", "2")
    assert len(default) == len(short) == COMMANDS - 1  # every command but the first of the episode
    assert max(len(r["history"]) for r in default) == COMMAND_HISTORY
    for n, (d, s) in enumerate(zip(default, short, strict=True)):
        assert s["next"] == d["next"]
        assert len(s["history"]) == min(n + 1, 2)
        assert s["history"] == d["history"][-2:]  # the two commands just before, oldest first
    assert short[5]["history"] == [{"command": "ls src/2", "cwd": "~/src/app", "exit_code": 0},
                                   {"command": "git status", "cwd": "~/src/app", "exit_code": 0}]


def test_edit_events_sets_the_number_of_previous_edits_shown(spools: dict[str, Path], tmp_path: Path) -> None:
    outs = {}
    for n in (EDIT_EVENTS, 1):
        outs[n] = tmp_path / f"e{n}"
        options = ExportOptions(format="next-edit", val_fraction=0.0, edit_events=n)
        export([spools["coding"]], outs[n], options, key=KEY)
    default, one = rows(outs[EDIT_EVENTS]), rows(outs[1])
    assert len(default) == len(one) == EDITS - 1  # every edit but the first
    shown = [r["events"].count("User edited") for r in default]
    assert shown == [min(k, EDIT_EVENTS) for k in range(1, EDITS)]
    for d, o in zip(default, one, strict=True):
        assert o["events"].count("User edited") == 1
        assert o["events"].startswith('User edited "app.py"') and d["events"].endswith(o["events"])
        assert {k: v for k, v in o.items() if k != "events"} == {k: v for k, v in d.items() if k != "events"}
