"""``workscribe bench ...``: speed and resource measurements (never timed tests)."""

from __future__ import annotations

import click


@click.group("bench")
def bench_group() -> None:
    """Measure speed and resource use."""


def register(cli: click.Group) -> None:
    """Adds the bench verbs to ``cli``."""
    cli.add_command(bench_group)
