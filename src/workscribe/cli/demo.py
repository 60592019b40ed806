"""``workscribe demo``: the main job end to end on a machine without a display.

It starts Xvfb and openbox, opens a real xterm, grants consent in a private state folder, runs
``workscribe record`` on that display while a scripted human-like demonstrator works in the xterm,
then prints the summary and the actions, writes a contact sheet, exports the recording in every dataset
format (hf, lerobot, sft) and writes a stats report of it. Then the behaviour-cloning loop at small
scale: the MiniWoB++ demonstrator solves two web tasks under the recorder, the recording is exported,
a policy is trained on it and evaluated on unseen seeds through X input, and ``bc/report.html`` shows
the success per task, the training curve and predicted versus demonstrated actions on frames.
Last, coding work: a recorder with only the shell, files and git sources (no display) records a
scripted session in a real bash and git repository (``envs.coding``), which is exported as ``swe``,
``next-edit`` and ``next-command`` and replayed: the swe record's edits, applied to the starting
commit, must give the committed tree.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from workscribe.cli import EXIT_FAILED, CliError
from workscribe.cli.common import echo_json, json_option

DEMO_TASK = "Type a greeting and tidy up the terminal"
EXPORT_FORMATS = ("hf", "lerobot", "sft")


def _status(message: str, quiet: bool) -> None:
    if not quiet:
        click.secho(f"==> {message}", fg="cyan", err=True)


@click.command("demo")
@click.option("--out", default="demo-out", show_default=True, type=click.Path(path_type=Path),
              help="Folder for the spool, the state of the demo contributor and the contact sheet.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the demonstrator.")
@click.option("--bc/--no-bc", default=True, show_default=True,
              help="Also run the behaviour-cloning loop on MiniWoB++ (collect, export, train, evaluate).")
@click.option("--bc-episodes", default=12, show_default=True, type=int, help="Demonstrations per task.")
@click.option("--eval-episodes", default=8, show_default=True, type=int, help="Evaluation episodes per task.")
@click.option("--coding/--no-coding", default=True, show_default=True,
              help="Also record a scripted coding session (shell, files, git) and export it.")
@json_option
def demo(out: Path, seed: int, bc: bool, bc_episodes: int, eval_episodes: int, coding: bool,
         as_json: bool) -> None:
    """Record a scripted session on a virtual display and show what was captured.

    Example: workscribe demo --out demo-out
    """
    from workscribe import guard, paths
    from workscribe.cli.inspect import spool_actions
    from workscribe.control import ControlError, request
    from workscribe.dataset.export import ExportOptions, export
    from workscribe.dataset.source import open_dataset
    from workscribe.envs.demonstrator import HumanDemonstrator, demo_session, window_rect
    from workscribe.envs.xdisplay import DisplayError, XDisplay, open_window
    from workscribe.process.reduce import ACTION_KEYS
    from workscribe.recorder import spawn_recorder, wait_until_ready
    from workscribe.spool import crypto
    from workscribe.spool.reader import Spool
    from workscribe.viz.contact_sheet import render_spool_actions
    from workscribe.viz.report import collect_stats, render_html

    out = out.resolve()
    spool_dir = out / "spool"
    home = out / "home"  # the demo contributor's own state: never the user's consent
    if spool_dir.exists():
        for old in spool_dir.glob("seg-*.wss"):
            old.unlink()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    guard.grant(["xterm"], ["input", "screen", "window"], home=home)
    quiet = as_json
    _status("starting Xvfb + openbox", quiet)
    try:
        display = XDisplay().start()
    except DisplayError as exc:
        raise CliError(str(exc), code=EXIT_FAILED) from None
    term = rec = None
    try:
        term, wid = open_window(display.name, "xterm", "-geometry", "100x32+60+40")
        _status(f"recording display {display.name} into {spool_dir}", quiet)
        rec = spawn_recorder(spool_dir, display.name, home, "--json")
        try:
            wait_until_ready(rec, home)
        except ControlError as exc:
            raise CliError(str(exc), code=EXIT_FAILED) from None
        _status("a scripted person works in the xterm (about 15 s)", quiet)
        demonstrator = HumanDemonstrator(display.name, seed=seed)
        socket_path = paths.control_socket(home)
        request("task_start", socket_path, args={"title": DEMO_TASK, "ticket": "DEMO-1"})
        demo_session(demonstrator, *window_rect(display.name, wid))
        time.sleep(1.2)  # let the last frame settle
        request("task_end", socket_path, args={"outcome": "success"})
        request("stop", paths.control_socket(home))
        stdout, stderr = rec.communicate(timeout=30)
        if rec.returncode != 0:
            raise CliError(f"the recorder failed: {stderr.strip()}", code=EXIT_FAILED)
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
        _status(f"exporting the recording as {fmt}", quiet)
        report = export([spool_dir], out / f"dataset-{fmt}", ExportOptions(format=fmt), key=key)
        exports[fmt] = {"out": str(out / f"dataset-{fmt}"), "episodes": report["episodes"],
                        "steps": report["steps"]}
    _status("writing the stats report", quiet)
    report_html = out / "stats.html"
    report_html.write_text(render_html(collect_stats(open_dataset([spool_dir], key)), "workscribe demo"))
    loop = _bc_loop(out / "bc", bc_episodes, eval_episodes, quiet) if bc else None
    coded = _coding_demo(out / "coding", quiet) if coding else None
    truth_types = [t["type"] for t in demonstrator.truth]
    result = {"spool": str(spool_dir), "summary": summary, "recorder": recorded,
              "actions": len(actions), "ground_truth_actions": len(truth_types),
              "types_match_ground_truth": [a["type"] for a in actions] == truth_types,
              "contact_sheet": str(sheet), "actions_json": str(out / "actions.json"), "exports": exports,
              "stats_html": str(report_html), "bc": loop, "coding": coded}
    if as_json:
        echo_json(result)
        return
    from workscribe.cli import inspect as inspect_cli

    key_file = home / crypto.KEY_FILE
    ctx = click.get_current_context()
    ctx.invoke(inspect_cli.inspect, folder=spool_dir, key_file=key_file, as_json=False)
    ctx.invoke(inspect_cli.actions, folder=spool_dir, key_file=key_file, as_json=False)
    match = "match" if result["types_match_ground_truth"] else "DO NOT match"
    click.echo(f"{len(actions)} actions reduced; the demonstrator performed {len(truth_types)} "
               f"(action types {match} the ground truth)")
    click.echo(f"contact sheet: {sheet}")
    click.echo(f"actions:       {out / 'actions.json'}")
    for fmt, info in exports.items():
        click.echo(f"dataset ({fmt}): {info['out']} ({info['episodes']} episodes, {info['steps']} steps)")
    click.echo(f"stats report:  {report_html}")
    if loop:
        rates = ", ".join(f"{t} {v['success_rate']:.2f}" for t, v in loop["eval"]["tasks"].items())
        base = ", ".join(f"{b} {v['mean_success']:.2f}" for b, v in loop["eval"]["baselines"].items())
        click.echo(f"behaviour cloning: success on unseen seeds {rates} (baselines: {base}); "
                   f"trained on {loop['demonstrations']} demonstrations in {loop['train_seconds']} s")
        click.echo(f"loop report:   {loop['report']}")
    if coded:
        made = ", ".join(f"{f} {n}" for f, n in coded["exports"].items())
        click.echo(f"coding session: {coded['commands']} commands, {coded['edits']} edits, "
                   f"{coded['git']} git events recorded without a display; examples exported: {made} "
                   f"(in {coded['out']}); the swe record replays to the commit: "
                   f"{'yes' if coded['replays'] else 'NO'}")


BC_TASKS = ("click-button", "enter-text")


def _bc_loop(out: Path, episodes: int, eval_episodes: int, quiet: bool) -> dict:
    """Collect -> export -> train -> evaluate on two MiniWoB++ tasks, then the HTML report."""
    import shutil

    from workscribe.bench.bc import BenchError, run_stage
    from workscribe.viz.bc_report import render_bc_report

    if episodes <= 0 or eval_episodes <= 0:
        raise CliError("--bc-episodes and --eval-episodes must be > 0")
    shutil.rmtree(out, ignore_errors=True)
    tasks = ",".join(BC_TASKS)
    try:
        _status(f"behaviour cloning: the demonstrator solves {episodes} episodes of {tasks} "
                "under the recorder", quiet)
        collected = run_stage(["collect", "--tasks", tasks, "--episodes", str(episodes), "--seed", "0",
                               "--out", str(out / "collect")], timeout=900)
        _status("exporting the demonstrations (hf) and training a policy", quiet)
        key = out / "collect" / "home" / "spool.key"
        run_stage(["export", str(out / "collect" / "spool"), "--key", str(key), "--format", "hf",
                   "--out", str(out / "hf"), "--val-fraction", "0"], timeout=600)
        trained = run_stage(["train", str(out / "hf"), "--out", str(out / "model")], timeout=900)
        _status(f"evaluating on {eval_episodes} unseen seeds per task, beside the baselines", quiet)
        evaluated = run_stage(["eval", str(out / "model"), "--tasks", tasks, "--episodes", str(eval_episodes),
                               "--seed", "100000"], timeout=1800)
    except BenchError as exc:
        raise CliError(str(exc), code=EXIT_FAILED) from None
    report = render_bc_report(out / "model", out / "hf", evaluated, out / "report.html")
    return {"demonstrations": sum(v["episodes"] for v in collected["tasks"].values()),
            "train_seconds": trained["train_seconds"], "eval": evaluated, "report": str(report)}


def _coding_demo(out: Path, quiet: bool) -> dict:
    """Records the scripted coding session with the shell, files and git sources, exports it as swe,
    next-edit and next-command, and replays the swe record's edits onto the starting commit."""
    import shutil

    from workscribe import guard, paths
    from workscribe.control import ControlError, request
    from workscribe.dataset.export import ExportOptions, export
    from workscribe.envs.coding import (
        GIT_ENV,
        InteractiveShell,
        coding_session,
        make_repo,
        replay_swe,
        tool_calls,
    )
    from workscribe.recorder import spawn_recorder, wait_until_ready
    from workscribe.sources.shell import hook_code, install_init, port_file
    from workscribe.spool import crypto

    shutil.rmtree(out, ignore_errors=True)
    home, repo, spool_dir = out / "home", out / "repo", out / "spool"
    home.mkdir(parents=True, mode=0o700)
    base = make_repo(repo)
    guard.grant([], ["shell", "shell-output", "files", "git"], home=home, repos=[str(repo)])
    _status(f"coding work: recording a scripted bash session in the git repository {repo} "
            "(shell, files and git sources; no display)", quiet)
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
            raise CliError(f"the recorder failed: {stderr.strip()}", code=EXIT_FAILED)
    except (ControlError, TimeoutError) as exc:
        raise CliError(f"the coding demo failed: {exc}", code=EXIT_FAILED) from None
    finally:
        if sh is not None:
            sh.close()
        if rec.poll() is None:
            rec.kill()
            rec.communicate()
    key = crypto.load_key(home)
    exports = {}
    for fmt in ("swe", "next-edit", "next-command"):
        _status(f"exporting the coding session as {fmt}", quiet)
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


def register(cli: click.Group) -> None:
    """Adds the demo verb to ``cli``."""
    cli.add_command(demo)
