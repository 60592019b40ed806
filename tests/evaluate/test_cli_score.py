"""`workscribe score` through the real CLI: JSON, the table, Parquet gold, one-line errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from helpers import run_cli

W, H = 600, 800  # diagonal 1000 px: r is 10 px


def step(episode: str, n: int, **action: object) -> dict:
    return {"episode_id": episode, "step": n, "action": action, "screen_w": W, "screen_h": H}


GOLD = [step("a", 0, type="click", x=100, y=100), step("a", 1, type="type", text="hello world"),
        step("b", 0, type="hotkey", keys="ctrl+shift+t"), step("b", 1, type="click", x=300, y=300)]
PREDS = [
    {"episode_id": "a", "step": 0, "action": {"type": "click", "x": 130, "y": 100}},  # 3%: exp(-1)
    {"episode_id": "a", "step": 1, "action": {"type": "type", "text": "hello wrld"}},
    {"episode_id": "b", "step": 0, "action": {"type": "hotkey", "keys": "shift+ctrl+t"}},
    # b 1 has no prediction
    {"episode_id": "nope", "step": 0, "action": {"type": "key", "keys": "enter"}},
]


def write_jsonl(path: Path, items: list[object]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in items))
    return path


def test_score_json_reports_model_baselines_and_counts(tmp_path: Path) -> None:
    r = run_cli("score", str(write_jsonl(tmp_path / "p.jsonl", PREDS)),
                str(write_jsonl(tmp_path / "g.jsonl", GOLD)), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"model", "baselines", "counts"}
    model = out["model"]
    assert model["action_type_accuracy"] == 0.75
    assert model["click_score"] == pytest.approx(math.exp(-1) / 2)
    assert model["text_score"] == 1.0 and model["key_accuracy"] == 1.0
    assert model["step_success"] == 0.5 and model["episode_success"] == 0.0
    assert model["per_type"]["click"] == {"n": 2, "step_success": 0.0}
    assert out["counts"] == {"steps": 4, "episodes": 2, "predictions": 4, "missing_predictions": 1,
                             "unmatched_predictions": 1}
    # most frequent: a click at the median point (100, 100); exact on a0, 283 px from b1
    assert out["baselines"]["most_frequent"]["step_success"] == 0.25
    # repeat last: a0 and b0 get that click too, a1 a click, b1 a hotkey
    assert out["baselines"]["repeat_last"]["step_success"] == 0.25
    assert out["baselines"]["repeat_last"]["action_type_accuracy"] == 0.25


def test_score_table_for_people(tmp_path: Path) -> None:
    r = run_cli("score", str(write_jsonl(tmp_path / "p.jsonl", PREDS)),
                str(write_jsonl(tmp_path / "g.jsonl", GOLD)))
    assert r.returncode == 0, r.stderr
    for text in ("metric", "most_frequent", "repeat_last", "step_success: click (n=2)"):
        assert text in r.stdout
    row = next(line for line in r.stdout.splitlines() if "action_type_accuracy" in line)
    assert "0.750" in row
    assert "missing 1, unmatched 1" in r.stdout


def test_score_reads_gold_from_a_folder_of_parquet_files(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "hf" / "data").mkdir(parents=True)
    pq.write_table(pa.table({
        "episode_id": [g["episode_id"] for g in GOLD], "step": [g["step"] for g in GOLD],
        "action": [json.dumps(g["action"]) for g in GOLD], "screen_w": [W] * 4, "screen_h": [H] * 4,
        "target_box": pa.array([[90, 90, 140, 110], None, None, None], pa.list_(pa.int32())),
    }), tmp_path / "hf" / "data" / "train-00000.parquet")
    r = run_cli("score", str(write_jsonl(tmp_path / "p.jsonl", PREDS)), str(tmp_path / "hf"), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["counts"]["steps"] == 4
    assert out["model"]["click_score"] == 0.5  # (130, 100) is inside a0's box now
    assert out["model"]["step_success"] == 0.75


@pytest.mark.parametrize("preds, gold, message", [
    ([PREDS[0], "{oops"], GOLD, "p.jsonl line 2: not JSON"),
    ([{"episode_id": "a", "step": 0}], GOLD, "p.jsonl line 1: action must be an object"),
    (None, GOLD, "cannot read"),
    (PREDS, [], "no gold steps in"),
    (PREDS, [{**GOLD[0], "screen_h": None}], "g.jsonl line 1: screen_h must be a number > 0"),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path: Path, preds: list | None, gold: list,
                                               message: str) -> None:
    pred_path = tmp_path / "p.jsonl"
    if preds is not None:
        write_jsonl(pred_path, preds)
    r = run_cli("score", str(pred_path), str(write_jsonl(tmp_path / "g.jsonl", gold)))
    assert r.returncode == 2
    assert r.stderr.startswith("Error: ") and message in r.stderr and r.stderr.count("\n") == 1
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_a_gold_folder_without_parquet_files_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "hf").mkdir()
    r = run_cli("score", str(write_jsonl(tmp_path / "p.jsonl", PREDS)), str(tmp_path / "hf"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no gold steps" in r.stderr
