"""``workscribe consent grant|revoke|show``: the contributor's grant of scope."""

from __future__ import annotations

from dataclasses import asdict

import click

from workscribe import guard
from workscribe.cli import CliError
from workscribe.cli.common import echo_json, errors_as, json_option, print_table

POLICY_SUMMARY = """\
workscribe will record, only while the recorder runs and only in windows of the apps you allow:
  input   keys you press (passwords in secure prompts never), clicks, scrolls, pointer paths
  screen  frames around each action, other apps' windows blacked out
  window  the active window's title, app and position
  browser the page's address and title, and the elements it shows (never password fields), only
          on the sites you allow (--sites); pages of other sites are treated like other apps
and only in the git repositories you allow (--repos):
  shell   each command of a hooked shell (`workscribe shell-hook`) run in them: text, folders, exit
          code, times; lines your shell keeps out of its history (a leading space) never
  shell-output  the last 40 lines of each such command's output
  files   every saved change to a file git does not ignore, as a diff
  git     commits (message, files, line counts), branch switches, merges, rebases, resets
Secrets, personal data and your home path, user and host names are redacted before anything is written.
Nothing is recorded out of scope or while paused; you can review and delete what was kept."""

UPLOAD_SUMMARY = """\
Uploads (--upload): each closed segment goes to {url}, re-sealed under its own key, which is
wrapped by your contributor key, itself sealed for the organisation's private key. The service
stores only ciphertext and wrapped keys and cannot read them; whoever holds the organisation's
private key (its dataset builders) can. The organisation's page shows aggregates only. Deleting a
session here deletes it there; revoking consent stops uploads at once."""


@click.group("consent")
def consent_group() -> None:
    """Grant, revoke or show the recording consent."""


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


@consent_group.command("grant")
@click.option("--apps", default="",
              help="Allowed apps, comma-separated: WM_CLASS instance/class or process name ('*' = all). "
                   "Needed with input, screen, window or browser.")
@click.option("--sources", default="input,screen,window", show_default=True,
              help=f"Sources to record, from: {', '.join(guard.SOURCES)}.")
@click.option("--sites", default="",
              help="Allowed sites for the browser source, comma-separated: hosts (localhost, *.example.com) "
                   "or URL patterns (file:///srv/pages/*); '*' = every site. Needed with --sources browser.")
@click.option("--repos", default="",
              help="Allowed git repositories, comma-separated folders (~/src/app). Needed with shell, "
                   "shell-output, files or git.")
@click.option("--retention-days", default=30, show_default=True, type=int,
              help="Delete recordings older than this.")
@click.option("--upload", is_flag=True,
              help="Also upload closed segments, end-to-end encrypted, to the organisation this device is "
                   "enrolled with (workscribe enroll).")
@click.option("--yes", is_flag=True, help="Agree without the interactive prompt.")
@json_option
def grant(apps: str, sources: str, sites: str, repos: str, retention_days: int, upload: bool, yes: bool,
          as_json: bool) -> None:
    """Grant consent to record the given apps, sites and sources.

    Example: workscribe consent grant --apps xterm,code --sources input,screen,window --yes

    Example: workscribe consent grant --apps chromium --sources input,screen,window,browser
    --sites localhost,*.example.com --yes
    """
    app_list, source_list, site_list = _split(apps), _split(sources), _split(sites)
    try:
        repo_list = guard.check_repos(_split(repos))
        guard.Consent(contributor_id="-", granted_at="-", apps=app_list, sources=source_list,
                      sites=site_list, repos=repo_list, retention_days=retention_days)  # validate first
    except guard.ConsentError as exc:
        raise CliError(str(exc)) from None
    upload_to = None
    if upload:
        from workscribe.fleet.client import FleetClientError, load_device

        with errors_as(FleetClientError):
            device = load_device()
        if device is None:
            raise CliError("--upload needs an enrolled device; run: workscribe enroll URL --token TOKEN")
        upload_to = device.url
    if not yes:
        click.echo(POLICY_SUMMARY)
        if upload_to:
            click.echo(UPLOAD_SUMMARY.format(url=upload_to))
        click.echo(f"apps: {', '.join(app_list) or '-'}; sources: {', '.join(source_list)}"
                   + (f"; sites: {', '.join(site_list)}" if site_list else "")
                   + (f"; repos: {', '.join(repo_list)}" if repo_list else ""))
        if not click.confirm("Do you agree?", default=False):
            raise CliError("consent not granted", code=1)
    consent = guard.grant(app_list, source_list, retention_days, sites=site_list, repos=repo_list,
                          upload=upload_to)
    if as_json:
        echo_json(asdict(consent))
    else:
        click.echo(f"consent granted for apps {', '.join(consent.apps) or '-'}; "
                   f"sources {', '.join(consent.sources)}"
                   + (f"; sites {', '.join(consent.sites)}" if consent.sites else "")
                   + (f"; repos {', '.join(consent.repos)}" if consent.repos else "")
                   + (f"; uploads to {consent.upload}" if consent.upload else "")
                   + f" (policy {consent.policy_version}, contributor {consent.contributor_id})")


@consent_group.command("revoke")
@json_option
def revoke(as_json: bool) -> None:
    """Revoke consent; a running recorder stops within a second."""
    try:
        consent = guard.revoke()
    except guard.ConsentError as exc:
        raise CliError(str(exc)) from None
    if as_json:
        echo_json(asdict(consent))
    else:
        click.echo(f"consent revoked at {consent.revoked_at}")


@consent_group.command("show")
@json_option
def show(as_json: bool) -> None:
    """Show the consent record (null in JSON if none was ever granted)."""
    try:
        consent = guard.load()
    except guard.ConsentError as exc:
        raise CliError(str(exc)) from None
    if as_json:
        echo_json(asdict(consent) if consent else None)
        return
    if consent is None:
        click.echo("no consent granted")
        return
    data = asdict(consent)
    data["status"] = "active" if consent.active else "revoked"
    print_table("consent", ["field", "value"], [(k, v) for k, v in data.items() if k != "extra"])


def register(cli: click.Group) -> None:
    """Adds the consent verbs to ``cli``."""
    cli.add_command(consent_group)
