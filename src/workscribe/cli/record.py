"""``workscribe record`` and the verbs that talk to a running recorder: pause, resume, status, stop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from workscribe import guard, paths
from workscribe.cli import EXIT_FAILED, EXIT_NO_RECORDER, EXIT_USAGE, CliError
from workscribe.cli.common import echo_json, errors_as, json_option, parse_size, print_table


@click.command("record")
@click.option("--out", type=click.Path(path_type=Path),
              help="Spool folder to write (default: $WORKSCRIBE_HOME/spool).")
@click.option("--duration", type=float, help="Stop after this many seconds (default: until Ctrl-C).")
@click.option("--display", help="X display to record, e.g. :1 (default: $DISPLAY).")
@click.option("--fps", default=5.0, show_default=True, type=float, help="Screen grabs per second.")
@click.option("--keyframe-seconds", default=2.0, show_default=True, type=float,
              help="At most one change-triggered frame this often (frames around actions are extra).")
@click.option("--quota", default="2GiB", show_default=True, help="Disk quota of the spool folder.")
@click.option("--segment-seconds", default=300.0, show_default=True, type=float,
              help="Start a new segment this often.")
@json_option
def record(out: Path | None, duration: float | None, display: str | None, fps: float, keyframe_seconds: float,
           quota: str,
           segment_seconds: float, as_json: bool) -> None:
    """Record the consented apps and sources into a spool folder.

    A consent of only the shell, files and git sources needs no X display.

    Example: workscribe record --out ~/spool --duration 600 --display :1
    """
    from workscribe.record.control import ControlError
    from workscribe.record.recorder import Recorder, RecordOptions
    from workscribe.sources.base import SourceError
    from workscribe.spool.writer import SpoolError, SpoolWriteError

    try:
        consent = guard.require()
    except guard.ConsentError as exc:
        raise CliError(str(exc)) from None
    out = out or paths.default_spool()
    if out.exists() and not out.is_dir():
        raise CliError(f"{out} exists and is not a folder")
    try:
        options = RecordOptions(out=out, duration=duration, display=display, fps=fps,
                                keyframe_s=keyframe_seconds,
                                segment_s=segment_seconds, quota_bytes=parse_size(quota))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    def log(msg: str) -> None:
        click.echo(msg, err=True)

    try:
        summary = Recorder(consent, options, log=log, uploads=_uploader(consent, out, log)).run()
    except (SourceError, SpoolWriteError) as exc:  # the work failed (a full disk), not the request
        raise CliError(str(exc), code=EXIT_FAILED) from None
    except (SpoolError, ControlError) as exc:
        raise CliError(str(exc)) from None
    if as_json:
        echo_json(summary)
    else:
        skipped = summary["frames_skipped_low_disk"]
        click.echo(f"{summary['stop_reason']}: {summary['events']} events, {summary['frames']} frames "
                   f"written to {summary['out']}" + (f" ({skipped} skipped: low disk)" if skipped else ""))


def _uploader(consent: guard.Consent, out: Path, log: Any) -> Any:
    """The background uploader when the consent allows uploads and the device is enrolled, else None."""
    if not consent.upload:
        return None
    from workscribe.fleet.client import FleetClientError, load_device
    from workscribe.fleet.uploader import Uploader

    with errors_as(FleetClientError):
        enrolled = load_device() is not None
    if not enrolled:
        log("consent allows uploads but this device is not enrolled: nothing is uploaded "
            "(workscribe enroll URL --token TOKEN)")
        return None

    def allowed() -> bool:  # read before every segment: a revocation stops uploads at once
        current = guard.load()
        return current is not None and current.active and bool(current.upload)

    return Uploader(out, may_upload=allowed, log=log)


def _control(cmd: str, as_json: bool, args: dict[str, Any] | None = None, refused: int = EXIT_FAILED) -> None:
    from workscribe.record.control import ControlError, request

    try:
        reply = request(cmd, args=args)
    except ControlError as exc:
        raise CliError(str(exc), code=EXIT_NO_RECORDER) from None
    if not reply.get("ok"):
        raise CliError(reply.get("error", "the recorder refused"), code=refused)
    reply.pop("ok")
    if as_json:
        echo_json(reply)
    else:  # "sources": {"window": "ok", ...} reads as "window ok, ..."
        print_table("recorder", ["field", "value"], [
            (k, ", ".join(f"{n} {s}" for n, s in v.items()) if isinstance(v, dict) else v)
            for k, v in reply.items()])


@click.command("status")
@click.option("--spool", "folder", type=click.Path(path_type=Path),
              help="Spool folder whose uploads to count when no recorder runs "
                   "(default: $WORKSCRIBE_HOME/spool).")
@json_option
def status(folder: Path | None, as_json: bool) -> None:
    """Say whether the recorder is recording, paused or out of scope, and how many segments wait for
    upload (also when no recorder runs, on an enrolled device; the exit code is then 3).

    Example: workscribe status --json
    """
    try:
        _control("status", as_json)
    except CliError as exc:
        if exc.exit_code != EXIT_NO_RECORDER:
            raise
        from workscribe.fleet.client import FleetClientError, load_device, upload_status

        with errors_as(FleetClientError):
            enrolled = load_device() is not None
            uploads = upload_status(folder or paths.default_spool()) if enrolled else None
        if uploads is None:
            raise
        if as_json:
            echo_json({"state": "not recording", "uploads": uploads})
        else:
            print_table("uploads", ["field", "value"], list(uploads.items()))
        raise


@click.command("pause")
@json_option
def pause(as_json: bool) -> None:
    """Pause recording: nothing is kept until `workscribe resume`."""
    _control("pause", as_json)


@click.command("resume")
@json_option
def resume(as_json: bool) -> None:
    """Resume a paused recording."""
    _control("resume", as_json)


@click.command("stop")
@json_option
def stop(as_json: bool) -> None:
    """Stop the running recorder cleanly."""
    _control("stop", as_json)


@click.group("task")
def task() -> None:
    """Mark where a task starts and ends in the running recording (episodes follow these marks)."""


@task.command("start")
@click.argument("title")
@click.option("--ticket", help="An issue or ticket id, e.g. ABC-123.")
@json_option
def task_start(title: str, ticket: str | None, as_json: bool) -> None:
    """Start a task; an open task ends first (without an outcome).

    Example: workscribe task start "Fix the login redirect" --ticket ABC-123
    """
    _control("task_start", as_json, {"title": title, "ticket": ticket}, refused=EXIT_USAGE)


@task.command("end")
@click.option("--success", "outcome", flag_value="success", help="The task was done.")
@click.option("--fail", "outcome", flag_value="fail", help="The task was given up or failed.")
@json_option
def task_end(outcome: str | None, as_json: bool) -> None:
    """End the open task, saying how it went.

    Example: workscribe task end --success
    """
    _control("task_end", as_json, {"outcome": outcome}, refused=EXIT_USAGE)


def register(cli: click.Group) -> None:
    """Adds the recording verbs to ``cli``."""
    for command in (record, status, pause, resume, stop, task):
        cli.add_command(command)
