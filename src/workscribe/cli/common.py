"""Shared CLI pieces: output helpers, option decorators, key loading, errors and progress bars."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import click

from workscribe.cli import EXIT_USAGE, CliError

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
key_option = click.option("--key", "key_file", type=click.Path(path_type=Path),
                          help="Spool key file (default: this device's, in $WORKSCRIBE_HOME).")

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.I)
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2,
          "mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "t": 1000**4, "tb": 1000**4,
          "tib": 1024**4}


def parse_size(text: str) -> int:
    """``"2GiB"``, ``"500MB"``, ``"1048576"`` -> bytes; ``CliError`` if unreadable."""
    m = _SIZE.match(text)
    unit = (m.group(2) or "").lower() if m else ""
    if not m or unit not in _UNITS:
        raise CliError(f"cannot read size {text!r}; write it like 2GiB, 500MB or 1048576")
    return int(float(m.group(1)) * _UNITS[unit])


def echo_json(value: Any) -> None:
    """Prints ``value`` as JSON on stdout."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def print_table(title: str, columns: list[str], rows: Iterable[Iterable[Any]],
                justify: Callable[[str], str] | None = None) -> None:
    """Prints a readable table (rich)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, justify=(justify(col) if justify else "left"), overflow="fold")
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    Console().print(table)


def load_key(path: Path) -> bytes:
    """The spool key in the file ``path`` (``--key``); a one-line ``CliError`` if it cannot be read or is
    not a key."""
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read key file {path}: {exc.strerror}") from None
    if len(key) != 32:
        raise CliError(f"{path} is not a workscribe key (expected 32 bytes, found {len(key)})")
    return key


@contextlib.contextmanager
def errors_as(*errors: type[BaseException], code: int = EXIT_USAGE) -> Iterator[None]:
    """Turns the library errors ``errors`` raised in the block into a one-line ``CliError`` with ``code``."""
    try:
        yield
    except errors as exc:
        raise CliError(str(exc), code=code) from None


Progress = Callable[[str, int, int], None]
"""A library's progress callback: ``(description, completed, total)``."""


@contextlib.contextmanager
def progress_bar(*columns: Any, disable: bool = False) -> Iterator[Progress]:
    """A transient rich progress bar on stderr, driven by a library's ``(description, completed, total)``
    callback. The bar starts at the first call, so an error raised before it prints nothing but itself."""
    from rich.console import Console
    from rich.progress import Progress as RichProgress

    with contextlib.ExitStack() as stack:
        bars: list[RichProgress] = []

        def show(description: str, completed: int, total: int) -> None:
            if not bars:
                bars.append(stack.enter_context(RichProgress(*columns, console=Console(stderr=True),
                                                             transient=True, disable=disable)))
                bars[0].add_task(description, total=total)
            bars[0].update(bars[0].task_ids[0], description=description, completed=completed, total=total)

        yield show


server_option = click.option(
    "--server", "server_dir", type=click.Path(path_type=Path),
    help="Read an organisation's service data folder (its catalog and objects) instead of spools; "
         "needs --private-key.")
private_key_option = click.option(
    "--private-key", "private_key", type=click.Path(path_type=Path),
    help="With --server: the organisation's private key file (workscribe org init).")


@contextlib.contextmanager
def spools_or_server(folders: Iterable[Path], server_dir: Path | None, private_key: Path | None,
                     warn: Callable[[str], None] | None = None) -> Iterator[tuple[list[Path], list[bytes]]]:
    """The spool folders to read and the further keys that open them: ``folders`` as they are, or the
    service's store in ``server_dir`` laid out as spools (``fleet.central``) for the duration of the
    block. ``CliError`` for a wrong combination or a store that cannot be read."""
    folders = list(folders)
    if bool(folders) == bool(server_dir):
        raise CliError("name spool folders DIR..., or --server DIR (one of them)")
    if not server_dir:
        if private_key:
            raise CliError("--private-key goes with --server")
        yield folders, []
        return
    if not private_key:
        raise CliError("--server needs --private-key FILE (the organisation's private key)")
    from workscribe.fleet.central import CentralError, central_view
    from workscribe.fleet.org import OrgError

    with errors_as(CentralError, OrgError), central_view(server_dir, private_key) as view:
        for problem in view.problems:
            if warn:
                warn(problem)
        yield view.folders, view.keys
