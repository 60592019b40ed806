"""The ``workscribe`` command: one module per group of verbs; the only place that prints or exits.

Exit codes: 0 success; 1 the work failed (a display or device problem, a full disk); 2 bad input
(arguments, missing consent, a missing or unreadable spool); 3 no recorder is running.
"""

from __future__ import annotations

import sys

import click

from workscribe import __version__

EXIT_FAILED, EXIT_USAGE, EXIT_NO_RECORDER = 1, 2, 3


class CliError(click.ClickException):
    """A one-line error with an exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = code

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        click.echo(f"Error: {self.format_message()}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="workscribe")
def cli() -> None:
    """Record computer work with consent, and turn it into data for agents.

    \b
    Start here:
      workscribe consent grant --apps xterm --sources input,screen,window --yes
      workscribe record --out ~/spool --duration 60
      workscribe actions ~/spool
    """


def _register() -> None:
    from workscribe.cli import (
        bench,
        collect,
        consent,
        demo,
        eval,
        export,
        inspect,
        org,
        portal,
        record,
        redact,
        review,
        score,
        serve,
        shell,
        stats,
        train,
        upload,
    )

    for module in (consent, record, inspect, review, export, bench, demo, collect, redact, score, stats,
                   train, eval, shell, upload, org, serve, portal):
        module.register(cli)


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the CLI and turns every user error into one line and an exit code."""
    _register()
    try:
        cli.main(args=argv, prog_name="workscribe", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_FAILED)
    except click.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx else ""
        click.echo(f"Error: {exc.format_message()}{hint}", err=True)
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
