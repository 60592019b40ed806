"""A real miniature of the behaviour-cloning loop: collect -> export -> replay -> train -> eval.

Checks plumbing, and a floor on what it learns: recorded clicks land on page elements, an exported
episode replayed through X input earns the reward again, training and evaluation run and report
consistent numbers, evaluation refuses seeds the model was trained on, and the policy trained on four
demonstrations wins at least 2 of 3 unseen episodes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import run_cli
from workscribe.envs.xdisplay import XDisplay

TASK = "click-button"


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("loop")
    r = run_cli("collect", "--tasks", TASK, "--episodes", "4", "--seed", "0", "--out", str(out / "c"),
                "--json", timeout=240)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["tasks"][TASK] == {"episodes": 4, "successes": 4}
    r = run_cli("export", str(out / "c" / "spool"), "--key", str(out / "c" / "home" / "spool.key"),
                "--format", "hf", "--out", str(out / "hf"), "--val-fraction", "0", "--json")
    assert r.returncode == 0, r.stderr
    return out


@pytest.mark.x11
@pytest.mark.slow
def test_exported_clicks_land_on_elements_and_replay_to_a_reward(collected: Path) -> None:
    from workscribe.envs.miniwob import MiniWobEnv
    from workscribe.evaluate.closed_loop import perform
    from workscribe.policy.train import load_rows, observation_of, target_element

    rows = load_rows(collected / "hf")
    episodes: dict[str, list[dict]] = {}
    for row in rows:
        episodes.setdefault(row["episode_id"], []).append(row)
    assert len(episodes) == 4
    for steps in episodes.values():
        click = next(r for r in steps if r["action_type"] == "click")
        obs = observation_of(click, [])
        target = target_element(obs.elements, click["x"], click["y"])
        assert target is not None and obs.elements[target]["tag"].lower() == "button"
        assert obs.elements[target]["text"] in click["task"]  # the button the instruction names
    first = next(iter(episodes.values()))
    seed = int(first[0]["ticket"].rpartition("#")[2])
    with XDisplay(640, 480) as display, MiniWobEnv(TASK, display) as env:
        start = env.reset(seed=seed)
        assert start.instruction == first[0]["task"]
        for row in first:
            perform(display, {"type": row["action_type"].replace("double_click", "click"), "x": row["x"],
                              "y": row["y"], "text": row["text"], "keys": row["keys"]}, start.instruction)
        assert env.wait_done(5.0) and env.reward() > 0


@pytest.mark.x11
@pytest.mark.slow
def test_train_then_eval_reports_consistent_numbers_on_unseen_seeds(collected: Path) -> None:
    model = collected / "model"
    r = run_cli("train", str(collected / "hf"), "--out", str(model), "--epochs", "5", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["seeds"] == {TASK: [0, 1, 2, 3]} and report["decisions"] >= 4
    r = run_cli("eval", str(model), "--tasks", TASK, "--episodes", "2", "--seed", "0")
    assert r.returncode == 2 and "used for training" in r.stderr and len(r.stderr.splitlines()) == 1
    # Seeds 504..506 on this machine (each seed's outcome repeats; 16 seeds from 500, two models from
    # two collections): the trained policy won all three (14/16 and 13/16 in all), a policy of random
    # weights none (0/16), clicks at random one (3/16 in all). One failure is the margin.
    r = run_cli("eval", str(model), "--tasks", TASK, "--episodes", "3", "--seed", "504",
                "--baselines", "demonstrator", "--json", timeout=240)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["seeds"] == [504, 506]
    for summary in (result, result["baselines"]["demonstrator"]):
        task = summary["tasks"][TASK]
        assert task["episodes"] == 3 and 0 <= task["success_rate"] <= 1 and -1 <= task["mean_reward"] <= 1
        assert summary["mean_success"] == task["success_rate"]
    assert result["baselines"]["demonstrator"]["tasks"][TASK]["success_rate"] == 1.0
    learned = result["tasks"][TASK]
    assert learned["unobserved"] == 0  # every episode's start brought the policy the page
    assert learned["success_rate"] >= 2 / 3 - 1e-3, result  # 0.6667: the trained policy wins 2 of 3 or more
