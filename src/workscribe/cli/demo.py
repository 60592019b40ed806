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
commit, must give the committed tree. Then a small fleet, also without a display: an organisation's
service (``workscribe serve`` on a loopback port the system picks), two contributors of different teams
who consent to uploads, enrol and upload (the coding session and synthetic work), one of them deleting a
recording on the device and the service, and central exports from the service's store with the
organisation's private key, compared byte for byte with local exports of the same recordings. The work
is ``jobs.demo``; this module parses and prints.
"""

from __future__ import annotations

from pathlib import Path

import click

from workscribe.cli import EXIT_FAILED, CliError
from workscribe.cli.common import echo_json, errors_as, json_option


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
@click.option("--fleet/--no-fleet", default=True, show_default=True,
              help="Also run a small fleet: a service, two enrolled contributors, uploads, a deletion that "
                   "reaches the service, and central exports.")
@json_option
def demo(out: Path, seed: int, bc: bool, bc_episodes: int, eval_episodes: int, coding: bool, fleet: bool,
         as_json: bool) -> None:
    """Record a scripted session on a virtual display and show what was captured.

    Example: workscribe demo --out demo-out
    """
    from workscribe.envs.xdisplay import DisplayError
    from workscribe.jobs import demo as demos
    from workscribe.jobs.bc import StageError
    from workscribe.record.control import ControlError
    from workscribe.spool import crypto

    if bc and (bc_episodes <= 0 or eval_episodes <= 0):
        raise CliError("--bc-episodes and --eval-episodes must be > 0")
    out = out.resolve()

    def status(message: str) -> None:
        if not as_json:
            click.secho(f"==> {message}", fg="cyan", err=True)

    with errors_as(DisplayError, ControlError, demos.DemoError, StageError, code=EXIT_FAILED):
        result = demos.terminal_demo(out, seed, status)
        result["bc"] = demos.bc_demo(out / "bc", bc_episodes, eval_episodes, status) if bc else None
        result["coding"] = demos.coding_demo(out / "coding", status) if coding else None
        result["fleet"] = (demos.fleet_demo(out / "fleet", status, coding=out / "coding" if coding else None)
                           if fleet else None)
    if as_json:
        echo_json(result)
        return
    from workscribe.cli import inspect as inspect_cli

    spool_dir, key_file = Path(result["spool"]), crypto.key_path(out / demos.HOME_DIR)
    ctx = click.get_current_context()
    ctx.invoke(inspect_cli.inspect, folder=spool_dir, key_file=key_file, as_json=False)
    ctx.invoke(inspect_cli.actions, folder=spool_dir, key_file=key_file, as_json=False)
    match = "match" if result["types_match_ground_truth"] else "DO NOT match"
    click.echo(f"{result['actions']} actions reduced; the demonstrator performed "
               f"{result['ground_truth_actions']} (action types {match} the ground truth)")
    click.echo(f"contact sheet: {result['contact_sheet']}")
    click.echo(f"actions:       {result['actions_json']}")
    for fmt, info in result["exports"].items():
        click.echo(f"dataset ({fmt}): {info['out']} ({info['episodes']} episodes, {info['steps']} steps)")
    click.echo(f"stats report:  {result['stats_html']}")
    loop, coded = result["bc"], result["coding"]
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
    if result["fleet"]:
        _echo_fleet(result["fleet"])


def _echo_fleet(fleet: dict) -> None:
    """What the fleet demo did, in a few lines."""
    people = ", ".join(f"{c['id']} ({c['team']}, {c['source']})" for c in fleet["contributors"])
    click.echo(f"fleet: a service at {fleet['service']['url']} (stopped; its data in "
               f"{fleet['service']['data']}); contributors {people} uploaded {fleet['segments_uploaded']} "
               f"segments, {fleet['bytes_uploaded']} bytes, as ciphertext")
    gone = fleet["deleted"]
    click.echo(f"fleet: {gone['contributor_id']} deleted recording {gone['recording_id'][:8]}; on the "
               f"service: tombstone {'yes' if gone['tombstone'] else 'NO'}, {gone['objects_removed']} of "
               f"{gone['segments']} objects removed, the deletion "
               f"{'reached the service' if gone['reached_service'] else 'DID NOT reach the service'}")
    made = ", ".join(f"{f} {e['episodes']} episodes / {e['steps']} steps"
                     for f, e in fleet["exports"].items())
    click.echo(f"fleet: central exports with the organisation's key ({fleet['service']['private_key']}): "
               f"{made} (in {fleet['out']}); byte-identical to local exports of the same recordings: "
               f"{'yes' if fleet['byte_identical'] else 'NO'}; the deleted recording in none of them: "
               f"{'yes' if fleet['deleted_absent'] else 'NO'}")


def register(cli: click.Group) -> None:
    """Adds the demo verb to ``cli``."""
    cli.add_command(demo)
