"""Shared CLI pieces: output helpers, option decorators, parsing of sizes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

import click

from workscribe.cli import CliError

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")

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
