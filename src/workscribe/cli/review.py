"""``workscribe review`` and ``workscribe delete``: the contributor sees what was kept and removes it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from workscribe import paths
from workscribe.cli import EXIT_FAILED, CliError
from workscribe.cli.common import echo_json, errors_as, json_option, print_table

spool_option = click.option("--spool", "folder", type=click.Path(path_type=Path),
                            help="Spool folder (default: $WORKSCRIBE_HOME/spool).")


def _sessions(folder: Path) -> tuple[Any, list[dict[str, Any]]]:
    """The opened spool (None when it holds no segment) and a summary of each of its sessions."""
    from workscribe.cli.inspect import open_spool
    from workscribe.export.sessions import session_summaries
    from workscribe.spool.format import SEGMENT_GLOB

    if not folder.exists():
        raise CliError(f"{folder}: no such folder")
    if not any(folder.glob(SEGMENT_GLOB)):
        return None, []  # nothing recorded, or everything deleted
    spool = open_spool(folder)
    return spool, session_summaries(spool)


@click.command("review")
@spool_option
@click.option("--frames", "session", help="Render the frame before each action of SESSION to a PNG.")
@click.option("--out", type=click.Path(path_type=Path), default="review.png", show_default=True,
              help="Where --frames writes its contact sheet.")
@json_option
def review(folder: Path | None, session: str | None, out: Path, as_json: bool) -> None:
    """List your recorded sessions and their episodes: time, apps, tasks, counts.

    Example: workscribe review --json ; workscribe review --frames 3fa2c1d0 --out s.png
    """
    folder = folder or paths.default_spool()
    spool, sessions = _sessions(folder)
    if session:
        _render(folder, spool, sessions, session, out)
        if not as_json:
            click.echo(f"frames of session {session}: {out}")
            return
    if as_json:
        echo_json(sessions)
        return
    rows = []
    for s in sessions:
        rows.append((s["session"], s["start"], f"{s['duration_s']} s", ", ".join(s["apps"]), s["actions"],
                     s["frames"], f"{s['bytes']:,}"))
        for ep in s["episodes"]:  # one line per episode under its session
            cut = f"({ep['cut'].replace('_', ' ')})"
            what = ep["task"] or (f"{ep['repo']}: {cut}" if ep["repo"] else cut)
            rows.append((f"  {ep['episode_id']}", ep["start"][11:19], f"{ep['duration_s']} s", what,
                         ep["steps"], "", ""))
    print_table(f"{len(sessions)} sessions in {folder}",
                ["session / episode", "start (UTC)", "duration", "apps / task", "actions", "frames", "bytes"],
                rows)


def _render(folder: Path, spool: Any, sessions: list[dict[str, Any]], session: str, out: Path) -> None:
    from workscribe.process.actions import recording_actions
    from workscribe.viz.contact_sheet import render_spool_actions

    match = [s for s in sessions if s["recording_id"].startswith(session)]
    if len(match) != 1:
        raise CliError(f"no session {session!r} in {folder} (see `workscribe review`)")
    recording = next(r for r in spool.recordings() if r[0].header["recording_id"] == match[0]["recording_id"])
    actions = list(recording_actions(spool, recording))
    if not actions:
        raise CliError(f"session {session} has no actions to render")
    render_spool_actions(spool, actions, out)


@click.command("delete")
@spool_option
@click.argument("sessions", nargs=-1)
@click.option("--since", help="Delete every session that started at or after this time (ISO 8601).")
@click.option("--all", "everything", is_flag=True, help="Delete every session.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
def delete(folder: Path | None, sessions: tuple[str, ...], since: str | None, everything: bool, yes: bool,
           as_json: bool) -> None:
    """Delete sessions for good; every later read and export honours the deletion. On an enrolled device
    they are deleted on the organisation's service too (queued and sent again by the next upload or
    delete if it cannot be reached).

    Example: workscribe delete 3fa2c1d0 --yes ; workscribe delete --since 2026-11-29T09:00 --yes
    """
    from workscribe.fleet.client import FleetClientError, delete_everywhere

    if sum(bool(x) for x in (sessions, since, everything)) != 1:
        raise CliError("name SESSION ids, or --since TIME, or --all (exactly one of them)")
    folder = folder or paths.default_spool()
    _, known = _sessions(folder)
    if everything:
        chosen = known
    elif since:
        try:
            cutoff = datetime.fromisoformat(since)
        except ValueError:
            raise CliError(f"cannot read time {since!r}; write it like 2026-11-29T09:00") from None
        cutoff = cutoff if cutoff.tzinfo else cutoff.replace(tzinfo=UTC)
        chosen = [s for s in known if datetime.fromisoformat(s["start"]) >= cutoff]
    else:
        chosen = []
        for wanted in sessions:
            match = [s for s in known if s["recording_id"].startswith(wanted)]
            if len(match) != 1:
                raise CliError(f"no session {wanted!r} in {folder} (see `workscribe review`)")
            chosen += match
    if not yes and chosen:
        click.confirm(f"Delete {len(chosen)} session(s) for good?", abort=True)
    with errors_as(FleetClientError, code=EXIT_FAILED):
        done = delete_everywhere(folder, [s["recording_id"] for s in chosen], reason="contributor request")
    files, service = done["deleted_files"], done["service"]
    result = {"deleted_sessions": [s["session"] for s in chosen], "deleted_files": files}
    if service is not None:
        result["service"] = service
    if as_json:
        echo_json(result)
        return
    click.echo(f"deleted {len(chosen)} session(s), {len(files)} file(s)")
    if service is not None:
        click.echo(f"on the service: deleted {service['deleted']}, never uploaded {service['not_uploaded']}, "
                   f"queued {service['queued']}" + (" (sent again by the next upload or delete)"
                                                    if service["queued"] else ""))
        for error in service["errors"]:
            click.echo(f"  {error}", err=True)


def register(cli: click.Group) -> None:
    """Adds the review verbs to ``cli``."""
    cli.add_command(review)
    cli.add_command(delete)
