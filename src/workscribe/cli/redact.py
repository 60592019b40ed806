"""``workscribe redact``: the redactor on its own, for tests, tools and a look at what it removes."""

from __future__ import annotations

import collections
import json
import sys
from collections.abc import Iterator
from typing import BinaryIO

import click

from workscribe.cli import CliError
from workscribe.cli.common import json_option


def _lines(stream: BinaryIO, terminators: collections.deque[bytes]) -> Iterator[str]:
    """The lines of ``stream`` without terminators; each line's terminator is queued in ``terminators``.

    Bytes that are not UTF-8 pass through unchanged (surrogate escapes), so that output differs from
    input only where something was redacted.
    """
    for raw in stream:
        body = raw[:-1] if raw.endswith(b"\n") else raw
        if body.endswith(b"\r"):
            body = body[:-1]
        terminators.append(raw[len(body):])
        yield body.decode("utf-8", "surrogateescape")


@click.command("redact")
@click.option("--text", "text_mode", is_flag=True,
              help="Read text on stdin and write it redacted on stdout, one line out for every line in.")
@click.option("--image", "image", type=click.Path(dir_okay=False), default=None,
              help="An image to redact (not built yet).")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="Where to write the redacted image.")
@json_option
def redact_cmd(text_mode: bool, image: str | None, out: str | None, as_json: bool) -> None:
    """Replace secrets and PII by typed placeholders such as <SECRET:aws_access_key> or <EMAIL>.

    With --text, stdout holds only the redacted text (same number of lines, everything else
    unchanged); --json adds a summary on stderr: lines, hits per label, rule-set version.

    \b
    Example:
      printf 'export GITHUB_TOKEN=ghp_...\\nmail bob@example.com\\n' | workscribe redact --text
    """
    if image is not None or out is not None:
        raise CliError("image redaction is not built yet")
    if not text_mode:
        raise CliError("say what to redact: --text (stdin to stdout)")
    from workscribe.redact import RULESET_VERSION, redact_lines

    terminators: collections.deque[bytes] = collections.deque()
    counts: collections.Counter[str] = collections.Counter()
    stdout, n = sys.stdout.buffer, 0
    for line in redact_lines(_lines(sys.stdin.buffer, terminators), counts=counts):
        stdout.write(line.encode("utf-8", "surrogateescape") + terminators.popleft())
        n += 1
    stdout.flush()
    if as_json:
        summary = {"lines": n, "hits": dict(sorted(counts.items())), "ruleset_version": RULESET_VERSION}
        click.echo(json.dumps(summary, ensure_ascii=False), err=True)


def register(cli: click.Group) -> None:
    """Adds ``redact`` to ``cli``."""
    cli.add_command(redact_cmd)
