"""hf and sft exports of synthetic spools in the real format: load, determinism, splits, deletions, damage."""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from helpers import run_cli
from workscribe.export.driver import REPORT_FILE, ExportOptions, export
from workscribe.export.frames import FrameStore
from workscribe.process.reduce import reduce_actions
from workscribe.spool.format import SEGMENT_GLOB
from workscribe.spool.reader import Spool
from workscribe.spool.retention import delete_recordings
from workscribe.testing.synthetic import write_synthetic_spool

HOURS = 0.04  # 2.4 simulated minutes per spool: a few hundred steps, several episodes


@pytest.fixture(scope="module")
def spools(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], bytes, Path]:
    root = tmp_path_factory.mktemp("spools")
    key = secrets.token_bytes(32)
    folders = []
    for seed, who in ((1, "alice-pseudonym"), (2, "alice-pseudonym"), (3, "bob-pseudonym")):
        folders.append(root / f"s{seed}")
        write_synthetic_spool(folders[-1], key, HOURS, seed=seed, frames=True, contributor=who, segment_s=60)
    key_file = root / "spool.key"
    key_file.write_bytes(key)
    return folders, key, key_file


def tree_digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def raw_actions(folders: list[Path], key: bytes) -> dict[str, tuple[Spool, list[dict]]]:
    """Per session (recording): its spool and its actions with a frame, in order of start, straight from
    the raw events with the spool reader and ``reduce_actions`` (no episode code)."""
    out = {}
    for folder in folders:
        spool = Spool(folder, key=key)
        for recording in spool.recordings():
            actions = reduce_actions(spool.iter_events(recording))
            framed = [a for a in actions if a["frame_before"] is not None]
            out[recording[0].header["recording_id"][:8]] = (spool, framed)
    return out


def test_hf_export_loads_with_datasets_and_holds_the_observation_frames(spools, tmp_path: Path) -> None:
    from datasets import load_dataset

    folders, key, _ = spools
    report = export(folders, tmp_path / "hf", ExportOptions(format="hf"), key=key)
    ds = load_dataset("parquet", data_dir=str(tmp_path / "hf"))
    assert set(ds) == {"train", "validation"}
    raw = raw_actions(folders, key)
    assert len(ds["train"]) + len(ds["validation"]) == report["steps"] > 100
    assert report["steps"] == sum(len(actions) for _, actions in raw.values())
    # each session's rows, episodes in order of start and steps in order, are its actions in order
    rows: dict[str, list[tuple[str, int, str, int]]] = defaultdict(list)
    for split in ds:
        for n, r in enumerate(ds[split].select_columns(["session", "episode_id", "step"])):
            rows[r["session"]].append((r["episode_id"], r["step"], split, n))
    assert set(rows) == set(raw)
    paired = [(split, n, action) for session, (_, actions) in raw.items()
              for (_, _, split, n), action in zip(sorted(rows[session]), actions, strict=True)]
    stores = {session: FrameStore(spool) for session, (spool, _) in raw.items()}
    for split, n, action in paired[::37]:
        row = ds[split][n]
        assert json.loads(row["action"])["type"] == row["action_type"] == action["type"]
        assert (row["x"], row["y"], row["text"]) == (action["x"], action["y"], action["text"])
        image = np.asarray(row["image"].convert("RGB"))
        assert image.shape == (row["screen_h"], row["screen_w"], 3)
        assert np.array_equal(image, stores[row["session"]].rgb(action["frame_before"]))  # lossless


def test_two_exports_of_the_same_spools_are_byte_identical(spools, tmp_path: Path) -> None:
    folders, key, _ = spools
    for fmt in ("hf", "sft"):
        export(folders, tmp_path / f"{fmt}1", ExportOptions(format=fmt), key=key)
        export(folders, tmp_path / f"{fmt}2", ExportOptions(format=fmt), key=key)
        first, second = tree_digest(tmp_path / f"{fmt}1"), tree_digest(tmp_path / f"{fmt}2")
        assert first == second and len(first) > 3


def test_splits_keep_sessions_and_contributors_whole(spools, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    folders, key, _ = spools
    for split_by, column in (("session", "session"), ("contributor", "contributor")):
        out = tmp_path / split_by
        export(folders, out, ExportOptions(format="hf", split_by=split_by, val_fraction=0.3), key=key)
        sides: dict[str, set[str]] = {}
        for path in (out / "data").glob("*.parquet"):
            split = path.name.split("-")[0]
            for value in pq.read_table(path, columns=[column]).column(column).to_pylist():
                sides.setdefault(value, set()).add(split)
        assert all(len(s) == 1 for s in sides.values()), sides  # never one group on both sides
        assert {"train", "validation"} == set().union(*sides.values())
    assert len(sides) == 2  # two contributors


def test_deleted_recordings_are_never_exported_even_from_a_surviving_copy(spools, tmp_path: Path) -> None:
    folders, key, _ = spools
    folder = tmp_path / "spool"
    shutil.copytree(folders[0], folder)
    shutil.copytree(folders[1], folder, dirs_exist_ok=True)
    rid = Spool(folders[1], key=key).recordings()[0][0].header["recording_id"]
    survivors = {p.name: p.read_bytes() for p in folder.glob(SEGMENT_GLOB) if rid[:8] in p.name}
    assert survivors and delete_recordings(folder, [rid], "test")
    for name, data in survivors.items():  # a copy restored from a backup after the deletion
        (folder / name).write_bytes(data)
    report = export([folder], tmp_path / "out", ExportOptions(format="sft"), key=key)
    assert report["recordings"] == 1 and report["skipped"]["deleted_segments"] == len(survivors)
    text = "".join(p.read_text() for p in (tmp_path / "out").glob("*.jsonl"))
    kept = Spool(folders[0], key=key).recordings()[0][0].header["recording_id"]
    assert rid[:8] not in text and kept[:8] in text


def test_a_damaged_segment_is_skipped_by_name_and_the_rest_exported(spools, tmp_path: Path) -> None:
    folders, key, key_file = spools
    folder = tmp_path / "spool"
    shutil.copytree(folders[0], folder)
    segments = sorted(folder.glob(SEGMENT_GLOB))
    assert len(segments) >= 2
    segments[0].write_bytes(b"\0" * 64 + segments[0].read_bytes()[64:])  # the header is gone
    data = bytearray(segments[1].read_bytes())
    data[len(data) // 2: len(data) // 2 + 32] = b"\xff" * 32  # one record in the middle is damaged
    segments[1].write_bytes(bytes(data))
    r = run_cli("export", str(folder), "--format", "hf", "--out", str(tmp_path / "out"),
                "--key", str(key_file), "--json")
    assert r.returncode == 0, r.stderr
    assert segments[0].name in r.stderr and "warning" in r.stderr
    report = json.loads(r.stdout)
    assert report["skipped"]["segments"] == 1 and report["steps"] > 0
    assert any(segments[1].name in p for p in report["skipped"]["problems"])
    assert json.loads((tmp_path / "out" / REPORT_FILE).read_text()) == report


def test_the_report_names_versions_and_the_split_rule(spools, tmp_path: Path) -> None:
    folders, key, _ = spools
    report = export(folders[:1], tmp_path / "o", ExportOptions(format="hf", val_fraction=0.2), key=key)
    assert report["recorder_versions"] == ["0.1.0"]
    assert report["redaction_versions"][0]["text"].startswith("text-")
    assert report["options"]["split_by"] == "session" and report["options"]["val_fraction"] == 0.2


def test_sft_turns_carry_the_task_the_screenshot_and_a_tool_call(spools, tmp_path: Path) -> None:
    folders, key, _ = spools
    export(folders, tmp_path / "py", ExportOptions(format="sft", actions="pyautogui"), key=key)
    export(folders, tmp_path / "an", ExportOptions(format="sft", actions="anthropic"), key=key)
    py = [json.loads(line) for line in (tmp_path / "py" / "train.jsonl").read_text().splitlines()]
    an = [json.loads(line) for line in (tmp_path / "an" / "train.jsonl").read_text().splitlines()]
    assert len(py) == len(an) > 50
    for a, b in zip(py, an, strict=True):
        system, user, assistant = a["messages"]
        assert user["content"][0]["text"].startswith("Task: ")
        assert (tmp_path / "py" / user["content"][1]["image"]).is_file()
        assert assistant["content"].startswith("pyautogui.")
        call = b["messages"][2]["tool_calls"][0]["function"]
        assert call["name"] == "computer" and "action" in json.loads(call["arguments"])
    tasked = [a for a in py if not a["messages"][1]["content"][0]["text"].startswith("Task: (not stated")]
    assert tasked  # the synthetic work has tasks


def test_export_errors_are_one_line(spools, tmp_path: Path) -> None:
    folders, _, key_file = spools
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    cases = [
        ("export", str(tmp_path / "missing"), "--format", "hf", "--out", str(tmp_path / "o"),
         "--key", str(key_file)),
        ("export", str(folders[0]), "--format", "hf", "--out", str(tmp_path / "busy"),
         "--key", str(key_file)),
        ("export", str(folders[0]), "--format", "hf", "--out", str(tmp_path / "o"), "--val-fraction", "1.5",
         "--key", str(key_file)),
        ("export", str(folders[0]), "--format", "csv", "--out", str(tmp_path / "o")),
    ]
    for args in cases:
        r = run_cli(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"  # nothing lost


def test_split_assignment_is_stable_and_never_leaves_train_empty() -> None:
    from workscribe.export.source import assign_splits

    assert assign_splits(["only-session"], 0.99) == {"only-session": "train"}
    keys = [f"s{i}" for i in range(40)]
    first = assign_splits(keys, 0.25)
    assert first == assign_splits(list(reversed(keys)), 0.25)  # order does not matter
    assert 4 <= list(first.values()).count("validation") <= 18
    assert "validation" in assign_splits(["a", "b"], 0.01).values()
