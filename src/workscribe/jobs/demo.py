"""The scripted sessions of ``workscribe demo``, each recorded by a real ``workscribe record`` in a private
state folder (never the user's consent) and turned into data.

``terminal_demo``: on Xvfb and openbox, a human-like demonstrator works in a real xterm while the recorder
runs; the recording is summarised, its actions written and drawn on a contact sheet, exported in every
screen format and described in a stats report. ``coding_demo``: a recorder with only the shell, files
and git sources (no display) records a scripted session in a real bash and git repository
(``envs.coding``), exported as ``swe``, ``next-edit`` and ``next-command``; the swe record's edits,
applied to the starting commit, must give the committed tree. ``bc_demo``: the behaviour-cloning loop
at small scale on two MiniWoB++ tasks (``jobs.bc.run_bc``) and its HTML report.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEMO_TASK = "Type a greeting and tidy up the terminal"
EXPORT_FORMATS = ("hf", "lerobot", "sft")
CODING_FORMATS = ("swe", "next-edit", "next-command")
BC_TASKS = ("click-button", "enter-text")
BC_TIMEOUTS = {"collect": 900, "export": 600, "train": 900, "eval": 1800}
"""Seconds each stage of the small behaviour-cloning loop may take."""
SPOOL_DIR, HOME_DIR = "spool", "home"
"""Folders of a demo's output: the spool, and the demo contributor's own state (consent, key)."""


class DemoError(RuntimeError):
    """A recorder under a scripted session failed (one line)."""


def terminal_demo(out: Path, seed: int = 0, status: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Records the scripted xterm session into ``out/spool`` and turns it into data in ``out``.

    Args:
        out: folder for the spool, the demo contributor's state (``out/home``), ``actions.json``,
            ``contact_sheet.png``, ``dataset-FORMAT/`` and ``stats.html``.
        seed: seed of the demonstrator.
        status: called with a line as each step starts.

    Returns:
        The spool, its summary, the recorder's own summary, counts of reduced and performed actions and
        whether their types match, and the paths written (with each export's episodes and steps).

    Raises:
        DisplayError: Xvfb, openbox or the xterm did not start.
        ControlError: the recorder did not become ready or did not answer.
        DemoError: the recorder failed.
    """
    from workscribe import guard, paths
    from workscribe.envs.demonstrator import HumanDemonstrator, demo_session, window_rect
    from workscribe.envs.xdisplay import XDisplay, open_window
    from workscribe.export.driver import ExportOptions, export
    from workscribe.export.source import open_dataset
    from workscribe.process.actions import spool_actions
    from workscribe.process.reduce import ACTION_KEYS
    from workscribe.record.control import request
    from workscribe.record.process import spawn_recorder, wait_until_ready
    from workscribe.spool import crypto
    from workscribe.spool.reader import Spool
    from workscribe.viz.contact_sheet import render_spool_actions
    from workscribe.viz.report import collect_stats, render_html

    say = status or (lambda line: None)
    spool_dir, home = out / SPOOL_DIR, out / HOME_DIR
    if spool_dir.exists():
        for old in spool_dir.glob("seg-*.wss"):
            old.unlink()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    guard.grant(["xterm"], ["input", "screen", "window"], home=home)
    say("starting Xvfb + openbox")
    display = XDisplay().start()
    term = rec = None
    try:
        term, wid = open_window(display.name, "xterm", "-geometry", "100x32+60+40")
        say(f"recording display {display.name} into {spool_dir}")
        rec = spawn_recorder(spool_dir, display.name, home, "--json")
        wait_until_ready(rec, home)
        say("a scripted person works in the xterm (about 15 s)")
        demonstrator = HumanDemonstrator(display.name, seed=seed)
        socket_path = paths.control_socket(home)
        request("task_start", socket_path, args={"title": DEMO_TASK, "ticket": "DEMO-1"})
        demo_session(demonstrator, *window_rect(display.name, wid))
        time.sleep(1.2)  # let the last frame settle
        request("task_end", socket_path, args={"outcome": "success"})
        request("stop", socket_path)
        stdout, stderr = rec.communicate(timeout=30)
        if rec.returncode != 0:
            raise DemoError(f"the recorder failed: {stderr.strip()}")
        recorded = json.loads(stdout)
    finally:
        if rec is not None and rec.poll() is None:
            rec.kill()
            rec.communicate()
        if term is not None:
            term.kill()
            term.wait()
        display.stop()

    key = crypto.load_key(home)
    spool = Spool(spool_dir, key=key)
    summary = spool.summary()
    actions = [{k: a.get(k) for k in ACTION_KEYS} for a in spool_actions(spool)]
    sheet = render_spool_actions(spool, actions, out / "contact_sheet.png")
    (out / "actions.json").write_text(json.dumps(actions, indent=2, ensure_ascii=False))
    exports = {}
    for fmt in EXPORT_FORMATS:
        say(f"exporting the recording as {fmt}")
        report = export([spool_dir], out / f"dataset-{fmt}", ExportOptions(format=fmt), key=key)
        exports[fmt] = {"out": str(out / f"dataset-{fmt}"), "episodes": report["episodes"],
                        "steps": report["steps"]}
    say("writing the stats report")
    report_html = out / "stats.html"
    report_html.write_text(render_html(collect_stats(open_dataset([spool_dir], key)), "workscribe demo"))
    truth_types = [t["type"] for t in demonstrator.truth]
    return {"spool": str(spool_dir), "summary": summary, "recorder": recorded,
            "actions": len(actions), "ground_truth_actions": len(truth_types),
            "types_match_ground_truth": [a["type"] for a in actions] == truth_types,
            "contact_sheet": str(sheet), "actions_json": str(out / "actions.json"), "exports": exports,
            "stats_html": str(report_html)}


def bc_demo(out: Path, episodes: int, eval_episodes: int,
            status: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Collect -> export -> train -> evaluate on ``BC_TASKS`` in ``out`` (replaced), then ``out/report.html``:
    the success per task, the training curve and predicted versus demonstrated actions on frames.

    Args:
        out: folder for every artefact of the loop.
        episodes: demonstrations per task.
        eval_episodes: evaluation episodes per task, on seeds no demonstration used.
        status: called with a line as each stage starts.

    Returns:
        The number of demonstrations, the training time, the evaluation's report and the HTML report's path.

    Raises:
        StageError: a stage failed (``jobs.bc``).
    """
    import shutil

    from workscribe.jobs.bc import run_bc
    from workscribe.viz.bc_report import render_bc_report

    say = status or (lambda line: None)
    shutil.rmtree(out, ignore_errors=True)
    tasks = ",".join(BC_TASKS)
    lines = {"collect": f"behaviour cloning: the demonstrator solves {episodes} episodes of {tasks} "
                        "under the recorder",
             "export": "exporting the demonstrations (hf) and training a policy",
             "eval": f"evaluating on {eval_episodes} unseen seeds per task, beside the baselines"}
    loop = run_bc(out, BC_TASKS, episodes, eval_episodes, timeouts=BC_TIMEOUTS,
                  progress=lambda stage: say(lines[stage]) if stage in lines else None)
    evaluated = loop["eval"]
    report = render_bc_report(out / "model", out / "hf", evaluated, out / "report.html")
    return {"demonstrations": sum(v["episodes"] for v in loop["collect"]["tasks"].values()),
            "train_seconds": loop["train"]["train_seconds"], "eval": evaluated, "report": str(report)}


def coding_demo(out: Path, status: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Records the scripted coding session with the shell, files and git sources into ``out`` (replaced),
    exports it as swe, next-edit and next-command, and replays the swe record's edits onto the starting
    commit.

    Returns:
        Counts of the recorded commands, edits and git events, rows per export, and whether the swe
        records replay (edits and patches) to the committed tree from the commit the session began at.

    Raises:
        DemoError: the recorder failed, did not answer, or the session timed out.
    """
    import shutil

    from workscribe import guard, paths
    from workscribe.envs.coding import (
        GIT_ENV,
        InteractiveShell,
        coding_session,
        make_repo,
        replay_swe,
        tool_calls,
    )
    from workscribe.export.driver import ExportOptions, export
    from workscribe.record.control import ControlError, request
    from workscribe.record.process import spawn_recorder, wait_until_ready
    from workscribe.sources.shell import hook_code, install_init, port_file
    from workscribe.spool import crypto

    say = status or (lambda line: None)
    shutil.rmtree(out, ignore_errors=True)
    home, repo, spool_dir = out / HOME_DIR, out / "repo", out / SPOOL_DIR
    home.mkdir(parents=True, mode=0o700)
    base = make_repo(repo)
    guard.grant([], ["shell", "shell-output", "files", "git"], home=home, repos=[str(repo)])
    say(f"coding work: recording a scripted bash session in the git repository {repo} "
        "(shell, files and git sources; no display)")
    rec = spawn_recorder(spool_dir, None, home, "--json")
    sh = None
    try:
        wait_until_ready(rec, home)
        install_init("bash", port_file(home))
        hook = hook_code("bash", port_file(home), wrap_output=True)
        sh = InteractiveShell("bash", hook, out / "shell-home", repo,
                              env={**GIT_ENV, "WORKSCRIBE_HOME": str(home)})
        session = coding_session(repo, sh)
        time.sleep(1.0)  # the last save and the commit reach the sources
        request("stop", paths.control_socket(home))
        _, stderr = rec.communicate(timeout=30)
        if rec.returncode != 0:
            raise DemoError(f"the recorder failed: {stderr.strip()}")
    except (ControlError, TimeoutError) as exc:
        raise DemoError(f"the coding demo failed: {exc}") from None
    finally:
        if sh is not None:
            sh.close()
        if rec.poll() is None:
            rec.kill()
            rec.communicate()
    key = crypto.load_key(home)
    exports = {}
    for fmt in CODING_FORMATS:
        say(f"exporting the coding session as {fmt}")
        report = export([spool_dir], out / f"dataset-{fmt}", ExportOptions(format=fmt), key=key)
        exports[fmt] = sum(report["rows"].values())
    swe_file = out / "dataset-swe" / "data" / "train.jsonl"
    records = [json.loads(line) for line in swe_file.read_text().splitlines()]
    calls = [c for r in records for c in tool_calls(r)]
    replayed = [replay_swe(repo, r, session["commit"], out / f"replay-{n}") for n, r in enumerate(records)]
    return {"out": str(out), "commands": sum(c["function"]["name"] == "bash" for c in calls),
            "edits": sum(c["function"]["name"] == "edit" for c in calls),
            "git": sum(len(json.loads(r["git"] or "[]")) for r in records), "exports": exports,
            "replays": bool(replayed) and all(r["edits"] for r in replayed)
            and all(r["base"]["hash"] == base for r in records),  # from the commit the session began at
            "patch_replays": bool(replayed) and all(r["patch"] for r in replayed)}
