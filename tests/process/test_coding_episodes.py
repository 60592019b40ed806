"""Coding work in the pipeline: shell, file and git events become actions and coding episodes."""

from __future__ import annotations

from typing import Any

from eventkit import click, command, edit, frame, git, window
from workscribe.events import Event, make_event
from workscribe.process.episodes import cut_episodes, observe
from workscribe.process.reduce import ACTION_KEYS, reduce_actions

DIFF = "--- a/app.py\n+++ b/app.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"


def task(t: float, kind: str, **data: Any) -> Event:
    return make_event("task", kind, data, t=round(t * 1_000_000))


def episodes(events: list[Event]) -> list[Any]:
    return list(cut_episodes(observe(sorted(events, key=lambda e: e["t"]))))


def test_commands_edits_and_git_events_become_actions_ordered_by_start() -> None:
    events = [frame(0, 1), git(5, "head", "aaa", dirty=False),
              edit(1000, "app.py", DIFF),
              command(2000, 9000, "pytest -q", exit_code=1, output="1 failed"),  # written when it ended
              click(3000, x=5, y=5)[0], click(3000, x=5, y=5)[1],
              git(9500, "commit", "bbb", message="Fix x", parents=["aaa"])]
    actions = list(reduce_actions(sorted(events, key=lambda e: e["t"])))
    assert [a["type"] for a in actions] == ["edit", "command", "click", "git"]
    assert all(list(a) == list(ACTION_KEYS) for a in actions)
    cmd = actions[1]
    assert (cmd["text"], cmd["exit_code"], cmd["cwd"]) == ("pytest -q", 1, "~/src/app")
    assert cmd["output"] == "1 failed"
    assert (cmd["t_end"] - cmd["t"]) / 1e9 == 7.0
    assert cmd["frame_before"] == 1  # the screen when it started
    assert actions[0]["path"] == "app.py" and actions[0]["diff"] == DIFF
    assert actions[0]["detail"]["op"] == "modify"
    assert actions[3]["text"] == "Fix x" and actions[3]["detail"]["kind"] == "commit"
    assert actions[3]["detail"]["hash"] == "bbb"


def test_a_coding_episode_runs_from_a_branch_switch_to_a_commit_with_the_command_that_made_it() -> None:
    events = [git(1, "head", "aaa", branch="main", dirty=False),
              command(100, 300, "git switch -c fix", seq=1),
              git(200, "checkout", "aaa", branch="fix", **{"from": "main", "to": "fix"}),
              edit(1000, "app.py", DIFF),
              command(2000, 2500, "python -m pytest", exit_code=1, seq=2),
              edit(3000, "app.py", DIFF),
              command(4000, 4600, "git commit -am 'Fix x'", seq=3),
              git(4300, "commit", "bbb", branch="fix", message="Fix x"),
              command(6000, 6100, "ls", seq=4)]
    eps = episodes(events)
    assert [e.cut for e in eps] == ["commit", "recording_end"]
    first = eps[0]
    assert [s["type"] for s in first.steps] == ["command", "git", "edit", "command", "edit", "command", "git"]
    assert first.steps[0]["text"] == "git switch -c fix"  # the command that switched opens it
    assert first.steps[-2]["text"].startswith("git commit")  # and the one that committed closes it
    assert (first.repo, first.commit) == ("~/src/app", "bbb")
    assert first.base == {"hash": "aaa", "branch": "fix", "dirty": False}
    assert [s["text"] for s in eps[1].steps] == ["ls"]


def test_a_task_holds_coding_and_screen_work_and_commits_do_not_cut_it() -> None:
    events = [git(1, "head", "aaa", dirty=True), frame(0, 1), window(0, "xterm", "term"),
              task(100, "start", id=1, title="Fix the bug", ticket="BUG-1"),
              command(110, 150, "workscribe task start 'Fix the bug'", seq=1),  # the mark, not the work
              edit(1000, "app.py", DIFF), *click(1500, x=1, y=1),
              command(2000, 2600, "git commit -am wip", seq=2), git(2300, "commit", "bbb", message="wip"),
              edit(3000, "app.py", DIFF),
              task(4000, "end", id=1, outcome="success")]
    eps = episodes(events)
    assert len(eps) == 1
    ep = eps[0]
    assert (ep.task, ep.cut, ep.outcome) == ("Fix the bug", "task_end", "success")
    assert [s["type"] for s in ep.steps] == ["edit", "click", "command", "git", "edit"]
    assert ep.base == {"hash": "aaa", "branch": "main", "dirty": True}


def test_screen_work_before_coding_is_its_own_episode_and_pauses_cut_coding() -> None:
    events = [frame(0, 1), window(0, "firefox", "docs"), *click(10, x=1, y=1),
              command(500, 600, "make", seq=1), edit(700, "app.py", DIFF),
              make_event("guard", "gap", {"reason": "paused", "start": 800_000_000, "end": 900_000_000},
                         t=900_000_000),
              command(1000, 1100, "make test", seq=2)]
    eps = episodes(events)
    assert [(e.cut, [s["type"] for s in e.steps]) for e in eps] == [
        ("app_switch", ["click"]), ("paused", ["command", "edit"]), ("recording_end", ["command"])]
