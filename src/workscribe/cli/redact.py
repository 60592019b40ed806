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
              help="An image to redact (PNG, JPEG ...): text holding secrets or PII is filled.")
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
        if image is None or out is None or text_mode:
            raise CliError("--image IN needs --out OUT (and no --text)")
        _redact_image(image, out, as_json)
        return
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


def _redact_image(src: str, dst: str, as_json: bool) -> None:
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from workscribe.redact.image import ImageRedactor

    try:
        with Image.open(src) as img:
            rgb = np.array(img.convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise CliError(f"cannot read image {src}: {exc}") from None
    out, hits = ImageRedactor().redact(rgb)
    try:
        Image.fromarray(out).save(dst)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot write {dst}: {exc}") from None
    boxes = [{"label": h.label, "box": list(h.box), "line": h.line} for h in hits]
    if as_json:
        click.echo(json.dumps({"image": dst, "boxes": boxes}, ensure_ascii=False, indent=2))
    else:
        click.echo(f"{len(boxes)} box(es) filled; wrote {dst}")


def register(cli: click.Group) -> None:
    """Adds ``redact`` to ``cli``."""
    cli.add_command(redact_cmd)
