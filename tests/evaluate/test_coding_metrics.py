"""Next-command and next-edit metrics, and `workscribe score` on coding exports through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from editkit import edit_diff
from helpers import run_cli
from workscribe.evaluate import coding
from workscribe.evaluate.coding import delta_chrf, edit_region, shell_tokens, token_f1
from workscribe.export.coding import CURSOR, REGION_END, REGION_START
from workscribe.export.formats import ExportOptions, make_writer

# ----- pieces


def test_shell_tokens() -> None:
    assert shell_tokens('git commit -m "fix: a b" && git push') == [
        "git",
        "commit",
        "-m",
        "fix: a b",
        "&&",
        "git",
        "push",
    ]
    assert shell_tokens("ls -la|grep x>out.txt") == ["ls", "-la", "|", "grep", "x", ">", "out.txt"]
    assert shell_tokens("echo a#b # not a comment") == ["echo", "a#b", "#", "not", "a", "comment"]
    assert shell_tokens('echo "open quote') == ["echo", '"open', "quote"]  # the fallback


def test_token_f1() -> None:
    assert token_f1("pytest -x tests", "pytest -x tests") == 1.0
    assert token_f1("pytest -q tests", "pytest -x tests") == pytest.approx(2 / 3)
    assert token_f1("git  status", "git status") == 1.0
    assert token_f1("make", "git status") == 0.0
    assert token_f1("", "") == 1.0 and token_f1("", "ls") == 0.0
    assert token_f1("ls ls", "ls") == pytest.approx(2 * 0.5 * 1 / 1.5)  # multisets: one ls is extra


def test_edit_region() -> None:
    excerpt = f"```a.py\nabove\n{REGION_START}\nx = 1{CURSOR}\ny = 2\n{REGION_END}\nbelow\n```"
    assert edit_region(excerpt) == "x = 1\ny = 2\n"
    assert edit_region("x = 1\ny = 2") == "x = 1\ny = 2\n"  # a bare region; the missing newline added
    assert edit_region(f"{REGION_START}\n{REGION_END}\n") == ""


def test_delta_chrf_scores_the_change_not_the_text() -> None:
    before = "def area(r):\n    return 3.14 * r * r\n"
    after = "def area(r):\n    return math.pi * r ** 2\n"
    assert delta_chrf(before, after, after) == 1.0
    assert delta_chrf(before, before, after) == 0.0  # no change: nothing of the edit
    assert delta_chrf(before, before, before) == 1.0  # nothing to do, nothing done
    assert delta_chrf(before, after, before) == 0.0  # a change where none was due
    partial = "def area(r):\n    return math.pi * r * r\n"
    assert 0.3 < delta_chrf(before, partial, after) < 0.9
    # by hand: n=1: added {c} vs {b}: 0/1, 0/1; n=2: added {ac, c\n} vs {ab, b\n}, removed {a\n} in both: 1/3,
    # 1/3; n=3: {ac\n} vs {ab\n}: 0; no 4-grams. P = R = (0 + 1/3 + 0) / 3
    assert delta_chrf("a\n", "ac\n", "ab\n") == pytest.approx(1 / 9)
    # beta 2: with only 1-grams, P = 1 and R = 1/2 give 5 * 1 * 0.5 / (4 * 1 + 0.5)
    assert delta_chrf("", "a", "ab", max_n=1) == pytest.approx(5 / 9)
    assert delta_chrf("", "ab", "a", max_n=1) == pytest.approx(5 * 0.5 / (4 * 0.5 + 1))


def test_score_and_baselines_of_commands() -> None:
    gold = [
        {"id": "e/1", "history": [{"command": "make", "cwd": "~", "exit_code": 2}], "next": "make test"},
        {"id": "e/2", "history": [{"command": "make test", "cwd": "~", "exit_code": 0}], "next": "make test"},
    ]
    model = coding.score("next-command", {"e/1": "make test", "x/9": "ls"}, gold)
    assert model["exact_match"] == 0.5 and model["token_f1"] == 0.5
    assert model["counts"] == {
        "examples": 2,
        "predictions": 2,
        "missing_predictions": 1,
        "unmatched_predictions": 1,
    }
    base = coding.baselines("next-command", gold)["repeat_last"]
    assert base["exact_match"] == 0.5 and base["token_f1"] == pytest.approx((2 / 3 + 1) / 2)
    with pytest.raises(ValueError, match="unknown task"):
        coding.score("next-thing", {}, gold)


# ----- exports and the CLI


def commands_episode() -> dict:
    cmds = [
        "git status",
        "python -m pytest -q",
        "vim src/app.py",
        "python -m pytest -q",
        "git add -A",
        "git commit -m 'Fix the parser'",
    ]
    steps = [
        {
            "episode_id": "abcd0001-0000",
            "step": n,
            "t": float(n),
            "type": "command",
            "text": c,
            "cwd": "~/src/app",
            "exit_code": 1 if n == 1 else 0,
            "output": "",
            "detail": {},
        }
        for n, c in enumerate(cmds)
    ]
    return {
        "episode_id": "abcd0001-0000",
        "session": "abcd0001",
        "task": None,
        "repo": "~/src/app",
        "steps": steps,
    }


APP = "".join(f"def handler_{i}(event):\n    return process(event, retries={i})\n\n\n" for i in range(12))
APP_2 = APP.replace("retries=3)", "retries=3, timeout=30)")
APP_3 = APP_2.replace("retries=4)", "retries=4, timeout=30)")
APP_4 = APP_3.replace("retries=9)", "retries=9, timeout=30)")


def edits_episode() -> dict:
    steps = [
        {
            "episode_id": "abcd0001-0001",
            "step": n,
            "t": float(n),
            "type": "edit",
            "path": "app.py",
            "diff": edit_diff(a, b, "app.py"),
            "detail": {"op": "modify"},
        }
        for n, (a, b) in enumerate([(APP, APP_2), (APP_2, APP_3), (APP_3, APP_4)])
    ]
    return {
        "episode_id": "abcd0001-0001",
        "session": "abcd0001",
        "task": "Add timeouts",
        "repo": "~/src/app",
        "steps": steps,
    }


def write_export(root: Path, fmt: str, episode: dict) -> Path:
    """An export folder as the driver leaves it: the writer's files and the report naming the format."""
    out = root / fmt
    out.mkdir(parents=True)
    writer = make_writer(out, ExportOptions(format=fmt))
    writer.add(episode, "validation", None)
    (out / "workscribe_export.json").write_text(json.dumps({"format": fmt, **writer.close()}))
    return out


def write_jsonl(path: Path, items: list[object]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in items))
    return path


def test_score_next_command_export_json(tmp_path: Path) -> None:
    gold = write_export(tmp_path, "next-command", commands_episode())
    examples = [json.loads(line) for line in (gold / "data" / "validation.jsonl").read_text().splitlines()]
    assert [e["next"] for e in examples][:2] == ["python -m pytest -q", "vim src/app.py"]
    preds = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"id": examples[0]["id"], "prediction": "python -m pytest -q"},  # exact
            {"id": examples[1]["id"], "prediction": "vim src/parser.py"},  # 1 of 2 tokens
            {"id": examples[2]["id"], "prediction": "python -m pytest -x -q"},  # 4 of 5 / 4 of 4
            {"id": "nope/1", "prediction": "ls"},
        ],
    )
    r = run_cli("score", str(preds), str(gold), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["task"] == "next-command"
    assert out["model"]["exact_match"] == pytest.approx(1 / 5)
    assert out["model"]["token_f1"] == pytest.approx((1 + 0.5 + 8 / 9) / 5)
    assert out["counts"] == {
        "examples": 5,
        "predictions": 4,
        "missing_predictions": 2,
        "unmatched_predictions": 1,
    }
    # repeat_last predicts the command before: no command here repeats the one just before it
    assert out["baselines"]["repeat_last"]["exact_match"] == 0.0
    # the same through the split's JSONL file, and the table for people
    r = run_cli("score", str(preds), str(gold / "data" / "validation.jsonl"))
    assert r.returncode == 0, r.stderr
    assert "repeat_last" in r.stdout and "token_f1" in r.stdout and "0.200" in r.stdout


def test_score_next_edit_export(tmp_path: Path) -> None:
    gold = write_export(tmp_path, "next-edit", edits_episode())
    examples = [json.loads(line) for line in (gold / "data" / "validation.jsonl").read_text().splitlines()]
    assert len(examples) == 2
    preds = write_jsonl(
        tmp_path / "p.jsonl",
        [
            {"id": examples[0]["id"], "prediction": examples[0]["output"]},  # the whole excerpt, exact
            {"id": examples[1]["id"], "prediction": edit_region(examples[1]["input"])},
        ],
    )  # no change
    r = run_cli("score", str(preds), str(gold), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["task"] == "next-edit"
    assert out["model"] == {"exact_match": 0.5, "delta_chrf": 0.5}
    assert out["baselines"] == {"no_edit": {"exact_match": 0.0, "delta_chrf": 0.0}}


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["{not json"], "p.jsonl line 1: not JSON"),
        ([{"id": "x", "prediction": 3}], "p.jsonl line 1: prediction must be a string, found int"),
        (
            [{"id": "x", "prediction": "a"}, "", {"id": "x", "prediction": "b"}],
            "p.jsonl line 3: id 'x' is already at",
        ),
        ([{"prediction": "a"}], "p.jsonl line 1: id must be a string, found None"),
    ],
)
def test_bad_predictions_are_one_line_errors(tmp_path: Path, lines: list, message: str) -> None:
    gold = write_export(tmp_path, "next-command", commands_episode())
    r = run_cli("score", str(write_jsonl(tmp_path / "p.jsonl", lines)), str(gold), "--json")
    assert r.returncode == 2
    assert r.stderr.startswith("Error: ") and message in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert r.stdout == ""


def test_bad_gold_is_a_one_line_error(tmp_path: Path) -> None:
    preds = write_jsonl(tmp_path / "p.jsonl", [{"id": "x", "prediction": "ls"}])
    swe = write_export(tmp_path, "swe", commands_episode())
    r = run_cli("score", str(preds), str(swe))
    assert r.returncode == 2 and "is a swe export" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    gold = write_jsonl(
        tmp_path / "g.jsonl",
        [{"id": "a", "history": [], "next": "ls"}, {"id": "b", "history": "oops", "next": "ls"}],
    )
    r = run_cli("score", str(preds), str(gold))
    assert r.returncode == 2 and "g.jsonl line 2: next must be a string and history a list" in r.stderr
    gold = write_jsonl(
        tmp_path / "g2.jsonl",
        [
            {"id": "a", "input": "x", "output": "y", "events": ""},
            {"id": "a", "input": "x", "output": "y", "events": ""},
        ],
    )
    r = run_cli("score", str(preds), str(gold))
    assert r.returncode == 2 and "g2.jsonl line 2: id 'a' is already at" in r.stderr
