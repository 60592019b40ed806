"""The metrics of `workscribe score` on hand-written steps with hand-computed answers.

Every screen here is 600 x 800 px: a 1000 px diagonal, so r (1% of it) is 10 px.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from workscribe.evaluate.metrics import (
    baselines,
    levenshtein,
    load_gold,
    load_predictions,
    most_frequent_action,
    normalize_keys,
    score,
    step_score,
    text_similarity,
)

W, H = 600, 800  # diagonal 1000 px


def act(type_: str, **values: object) -> dict:
    return {"type": type_, **values}


def gold(episode: str, step: int, action: dict, box: list[int] | None = None) -> dict:
    return {"episode_id": episode, "step": step, "action": action, "screen_w": W, "screen_h": H,
            "target_box": box}


def pred(episode: str, step: int, action: dict) -> dict:
    return {"episode_id": episode, "step": step, "action": action}


def full(step: dict) -> dict:
    """``step`` as the loaders return it: every action field present, None where it was missing."""
    fields = ("type", "x", "y", "x2", "y2", "button", "text", "keys", "dx", "dy")
    return {**step, "action": {k: step["action"].get(k) for k in fields}}


# ----- one step


def test_click_within_one_percent_of_the_diagonal_scores_one() -> None:
    r = step_score(act("click", x=103, y=104), gold("e", 0, act("click", x=100, y=100)))  # 5 px: 0.5%
    assert r["type_ok"] and r["position"] == 1.0 and r["success"]


def test_click_at_three_percent_scores_the_documented_decay() -> None:
    r = step_score(act("click", x=130, y=100), gold("e", 0, act("click", x=100, y=100)))  # 30 px: 3%
    assert r["position"] == pytest.approx(math.exp(-1))  # exp(-(30 - 10) / (2 * 10))
    assert not r["success"]  # 0.368 < 0.5


def test_click_inside_the_target_box_scores_one_however_far() -> None:
    g = gold("e", 0, act("click", x=100, y=100), box=[50, 50, 400, 300])
    assert step_score(act("click", x=390, y=290), g)["position"] == 1.0
    outside = step_score(act("click", x=100, y=330), g)  # below the box: 230 px from the point
    assert outside["position"] == pytest.approx(math.exp(-(230 - 10) / 20))


def test_click_kinds_share_a_family_for_position_but_not_for_type() -> None:
    g = gold("e", 0, act("click", x=100, y=100))
    double = step_score(act("double_click", x=100, y=100), g)
    assert double["position"] == 1.0 and not double["type_ok"] and not double["success"]
    drag = step_score(act("drag", x=100, y=100, x2=200, y2=200), g)
    assert drag["position"] == 0.0


def test_drag_averages_both_endpoints_and_needs_both_for_success() -> None:
    g = gold("e", 0, act("drag", x=100, y=100, x2=300, y2=300))
    r = step_score(act("drag", x=100, y=100, x2=330, y2=300), g)
    assert r["points"] == pytest.approx([1.0, math.exp(-1)])
    assert r["position"] == pytest.approx((1 + math.exp(-1)) / 2)
    assert not r["success"]
    assert step_score(act("drag", x=101, y=100, x2=300, y2=305), g)["success"]


def test_text_similarity_is_one_minus_normalised_levenshtein() -> None:
    assert levenshtein("kitten", "sitting") == 3
    assert text_similarity("hello wrld", "hello world") == pytest.approx(10 / 11)
    assert text_similarity("", "") == 1.0
    g = gold("e", 0, act("type", text="hello world"))
    close = step_score(act("type", text="hello wrld"), g)
    assert close["text_similarity"] == pytest.approx(10 / 11) and close["text"] == 1.0 and close["success"]
    far = step_score(act("type", text="hello"), g)  # 6 deletions of 11
    assert far["text"] == pytest.approx(5 / 11) and not far["success"]


def test_hotkeys_compare_after_normalising_modifier_order_and_case() -> None:
    assert normalize_keys("shift+ctrl+t") == "ctrl+shift+t"
    assert normalize_keys("Control + Shift + T") == "ctrl+shift+t"
    g = gold("e", 0, act("hotkey", keys="ctrl+shift+t"))
    assert step_score(act("hotkey", keys="shift+ctrl+t"), g)["success"]
    assert not step_score(act("hotkey", keys="ctrl+t"), g)["keys_ok"]
    as_key = step_score(act("key", keys="ctrl+shift+t"), g)  # right keys, wrong type
    assert as_key["keys_ok"] and not as_key["success"]
    assert not step_score(act("type", text="ctrl+shift+t", keys="ctrl+shift+t"), g)["keys_ok"]


def test_scroll_needs_the_direction_and_the_position() -> None:
    g = gold("e", 0, act("scroll", x=300, y=300, dx=0, dy=3))
    assert step_score(act("scroll", x=300, y=302, dx=0, dy=1), g)["success"]  # same sign is enough
    up = step_score(act("scroll", x=300, y=300, dx=0, dy=-3), g)
    assert up["direction_ok"] is False and up["position"] == 1.0 and not up["success"]
    sideways = step_score(act("scroll", x=300, y=300, dx=2, dy=3), g)
    assert not sideways["direction_ok"]
    assert not step_score(act("scroll", x=360, y=300, dx=0, dy=3), g)["success"]  # 60 px away


def test_a_missing_prediction_scores_zero() -> None:
    r = step_score(None, gold("e", 0, act("type", text="abc")))
    assert r["missing"] and not r["type_ok"] and r["text"] == 0.0 and not r["success"]


# ----- averages


def test_score_averages_over_the_steps_each_metric_applies_to() -> None:
    golds = [gold("a", 0, act("click", x=100, y=100)), gold("a", 1, act("type", text="hello world")),
             gold("b", 0, act("click", x=100, y=100)), gold("b", 1, act("key", keys="enter"))]
    preds = [pred("a", 0, act("click", x=100, y=100)), pred("a", 1, act("type", text="hello wrld")),
             pred("b", 0, act("click", x=130, y=100)),  # b 1 has no prediction
             pred("zz", 0, act("click", x=1, y=1))]
    m = score(preds, golds)
    assert m["action_type_accuracy"] == 0.75
    assert m["click_score"] == pytest.approx((1 + math.exp(-1)) / 2)
    assert m["text_score"] == 1.0 and m["key_accuracy"] == 0.0
    assert m["scroll_direction_accuracy"] is None  # no scroll in the gold steps
    assert m["step_success"] == 0.5
    assert m["episode_success"] == 0.5  # a succeeds on every step, b on none
    assert m["per_type"] == {"click": {"n": 2, "step_success": 0.5}, "key": {"n": 1, "step_success": 0.0},
                             "type": {"n": 1, "step_success": 1.0}}
    assert m["counts"] == {"steps": 4, "episodes": 2, "predictions": 4, "missing_predictions": 1,
                           "unmatched_predictions": 1}


def test_score_refuses_repeated_or_malformed_steps() -> None:
    g = gold("a", 0, act("click", x=1, y=1))
    with pytest.raises(ValueError, match="two gold steps for episode 'a' step 0"):
        score([], [g, g])
    with pytest.raises(ValueError, match="gold step 1: a click action needs a number in x"):
        score([], [gold("a", 0, act("click", y=1))])
    with pytest.raises(ValueError, match="prediction 1: step must be an integer"):
        score([{"episode_id": "a", "step": "0", "action": {}}], [g])


# ----- baselines

# a0, a1 clicks 10 px apart, a2 and a3 typing "hi"; b0 a click far away, b1 enter.
TINY = [gold("a", 0, act("click", x=100, y=100, button=1)),
        gold("a", 1, act("click", x=110, y=100, button=1)),
        gold("a", 2, act("type", text="hi")), gold("a", 3, act("type", text="hi")),
        gold("b", 0, act("click", x=500, y=500, button=1)), gold("b", 1, act("key", keys="enter"))]


def test_most_frequent_action_is_the_commonest_type_at_its_median_point() -> None:
    expected = {"type": "click", "x": 110, "y": 100, "x2": None, "y2": None, "button": 1, "text": None,
                "keys": None, "dx": None, "dy": None}
    assert most_frequent_action(TINY) == expected
    assert most_frequent_action(list(reversed(TINY))) == expected


def test_most_frequent_ties_go_to_the_smallest_value_whatever_the_order() -> None:
    steps = [gold("a", 0, act("type", text="zz")), gold("a", 1, act("type", text="aa")),
             gold("a", 2, act("key", keys="f5")), gold("a", 3, act("key", keys="enter"))]
    assert most_frequent_action(steps)["keys"] == "enter"  # "key" < "type", "enter" < "f5"
    assert most_frequent_action(steps[::-1]) == most_frequent_action(steps)


def test_baselines_on_a_tiny_gold_set() -> None:
    b = baselines(TINY)
    mf, rl = b["most_frequent"], b["repeat_last"]
    # most_frequent predicts click(110, 100) everywhere: a0 (10 px) and a1 succeed, b0 is 558 px away.
    assert mf["action_type_accuracy"] == pytest.approx(3 / 6)
    assert mf["step_success"] == pytest.approx(2 / 6)
    assert mf["text_score"] == 0.0 and mf["episode_success"] == 0.0
    # repeat_last: a0 gets the most frequent click (ok), a1 gets a0 (10 px, ok), a2 gets a click,
    # a3 gets "hi" (ok); b0 gets the most frequent click (far), b1 gets b0's click.
    assert rl["action_type_accuracy"] == pytest.approx(4 / 6)
    assert rl["step_success"] == pytest.approx(3 / 6)
    assert rl["text_score"] == 0.5
    assert rl["per_type"]["type"] == {"n": 2, "step_success": 0.5}
    assert rl["counts"]["missing_predictions"] == 0


def test_baselines_do_not_depend_on_the_order_of_the_gold_steps() -> None:
    assert baselines(list(reversed(TINY))) == baselines(TINY)


# ----- files


def write_jsonl(path: Path, items: list[object]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in items))
    return path


def test_load_predictions_names_the_file_and_line_of_a_bad_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [pred("a", 0, act("click", x=1, y=1)), "", "{not json"])
    with pytest.raises(ValueError, match=r"p\.jsonl line 3: not JSON"):
        load_predictions(path)
    write_jsonl(path, [pred("a", 0, act("key", keys="f5")), pred("a", 0, act("key", keys="f6"))])
    with pytest.raises(ValueError, match=r"p\.jsonl line 2: episode 'a' step 0 is already at .*line 1"):
        load_predictions(path)
    with pytest.raises(ValueError, match=r"cannot read .*missing\.jsonl"):
        load_predictions(tmp_path / "missing.jsonl")


def test_load_gold_reads_jsonl_and_refuses_an_empty_file(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "g.jsonl", TINY[:2])
    assert load_gold(path) == [full(s) for s in TINY[:2]]
    with pytest.raises(ValueError, match=r"no gold steps in .*empty\.jsonl"):
        load_gold(write_jsonl(tmp_path / "empty.jsonl", [""]))
    bad = {**TINY[0], "screen_w": 0}
    with pytest.raises(ValueError, match=r"bad\.jsonl line 1: screen_w must be a number > 0"):
        load_gold(write_jsonl(tmp_path / "bad.jsonl", [bad]))


def write_parquet(path: Path, steps: list[dict], with_box: bool = True) -> None:
    """An hf-export-like Parquet file: ``action`` as a JSON string, plus a column the scorer never reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = {
        "episode_id": [s["episode_id"] for s in steps],
        "step": pa.array([s["step"] for s in steps], pa.int64()),
        "action": [json.dumps(s["action"]) for s in steps],
        "screen_w": pa.array([s["screen_w"] for s in steps], pa.int32()),
        "screen_h": pa.array([s["screen_h"] for s in steps], pa.int32()),
        "image": pa.array([b"\x89PNG not read"] * len(steps), pa.binary()),
    }
    if with_box:
        columns["target_box"] = pa.array([s["target_box"] for s in steps], pa.list_(pa.int32()))
    pq.write_table(pa.table(columns), path)


def test_load_gold_reads_every_parquet_file_under_a_folder(tmp_path: Path) -> None:
    boxed = [gold("a", 0, act("click", x=100, y=100), box=[90, 90, 120, 120]), *TINY[1:4]]
    write_parquet(tmp_path / "hf" / "data" / "train-00000.parquet", boxed)
    write_parquet(tmp_path / "hf" / "data" / "test" / "test-00000.parquet", TINY[4:], with_box=False)
    steps = load_gold(tmp_path / "hf")
    assert steps == [full(s) for s in [*TINY[4:], *boxed]]  # data/test/... sorts before data/train-...
    # inside a0's box (30 px from its point); a1 and b0 have no prediction
    assert score([pred("a", 0, act("click", x=119, y=119))], steps)["click_score"] == pytest.approx(1 / 3)


def test_load_gold_names_a_parquet_file_without_a_needed_column(tmp_path: Path) -> None:
    path = tmp_path / "hf" / "part.parquet"
    path.parent.mkdir()
    pq.write_table(pa.table({"episode_id": ["a"], "step": [0]}), path)
    with pytest.raises(ValueError, match=r"part\.parquet: no column action, screen_w, screen_h"):
        load_gold(tmp_path / "hf")


def test_load_gold_refuses_a_folder_without_parquet_files(tmp_path: Path) -> None:
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "notes.txt").write_text("nothing here")
    with pytest.raises(ValueError, match="no gold steps in .*hf: it is a folder without"):
        load_gold(tmp_path / "hf")
