"""``workscribe shell-hook bash|zsh``: the code a contributor sources from their shell's rc file."""

from __future__ import annotations

import click

from workscribe import guard
from workscribe.cli import CliError


@click.command("shell-hook")
@click.argument("shell", type=click.Choice(["bash", "zsh"]))
def shell_hook(shell: str) -> None:
    """Print the hook that records this shell's commands while a recorder with the shell source runs.

    Add to ~/.bashrc: eval "$(workscribe shell-hook bash)"   (~/.zshrc: eval "$(workscribe shell-hook zsh)")

    The hook is silent and costs microseconds when no recorder runs. With the shell-output source
    granted when the hook is printed, the shell runs inside a small pty wrapper that captures the
    tail of each command's output: the hook restarts the shell there (same folder and exported
    variables), reading its start-up file and the hook again, also when the hook was typed at a
    prompt or loaded from another file.
    """
    from workscribe.sources.shell import hook_code, install_init, port_file

    try:
        consent = guard.load()
    except guard.ConsentError as exc:
        raise CliError(str(exc)) from None
    wrap = bool(consent and consent.active and "shell-output" in consent.sources)
    if wrap:
        try:
            install_init(shell, port_file())
        except OSError as exc:  # commands are still recorded, without their output
            click.echo(f"workscribe: command output is not recorded: cannot write the wrapped shell's "
                       f"start-up file: {exc.strerror or exc}", err=True)
            wrap = False
    click.echo(hook_code(shell, port_file(), wrap_output=wrap), nl=False)


def register(cli: click.Group) -> None:
    """Adds ``shell-hook`` to ``cli``."""
    cli.add_command(shell_hook)
