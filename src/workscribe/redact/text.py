"""Text redaction: secrets and PII become typed placeholders before anything is written.

``redact_text(text)`` returns the text with every hit replaced by ``<SECRET:kind>`` or a PII
placeholder (``<EMAIL>``, ``<PHONE>``, ``<CARD>``, ``<IBAN>``, ``<SSN>``, ``<IP>``) and the list of
hits. Everything else stays as it was, character for character; a hit that spans lines (a private
key block) becomes its placeholder followed by as many newlines as it held, so line counts never
change. ``redact_lines`` does the same for a stream of lines and joins a private key block that
arrives over several lines before redacting it.

Why our own rules and not detect-secrets: detect-secrets 1.5 was evaluated on the labelled corpus
of ``workscribe.testing.corpus``. Its per-line scan ran at about 0.05 MB/s (1.1 ms a line) on one
core, a hundred times below the 5 MB/s the recorder needs, found 72% of the planted secrets with
its default entropy limits, flagged 4% of ordinary lines (mostly git SHAs and other hex), and has
no PII detectors. Its ideas are ported instead: the vendor prefixes and token shapes of its
plugins (AWS, GitHub, GitLab, Slack, Stripe, OpenAI, npm, PyPI, JWT, private keys, basic auth in
URLs, Azure account keys), the keyword denylist of its ``KeywordDetector`` (password, passwd, pwd,
secret, token, api_key, ...) and Shannon entropy for strings next to such keywords. It is not a
dependency.

Speed (``workscribe bench redact``): every pattern starts with a literal so that ``re`` can skip to
it (see ``rules``), ``redact_lines`` redacts batches of lines as one text (no rule crosses a line
break, so the result is the same as line by line), and a short text passes three cheap gates (a
vendor prefix, a keyword, a digit or ``@``) before any rule family runs on it.

``RULESET_VERSION`` names this rule set; every stored record names the version that cleaned it.
Change it whenever a rule changes what is redacted.
"""

from __future__ import annotations

import bisect
import collections
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from workscribe.redact import pii, rules
from workscribe.redact.rules import PII_LABELS, Found, placeholder

RULESET_VERSION = "text-2026.11.4"
_PII_GATE = re.compile(r"[\d@]|dot")
SMALL_TEXT = 256  # shorter texts are gated by one cheap search per rule family first
_BEGIN = "PRIVATE KEY"
_BLOCK_START = re.compile(r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_KEY_REST = re.compile(rules.PRIVATE_KEY_REST)  # key material after a block's BEGIN line
MAX_BLOCK_LINES = 200  # a private key block longer than this is closed by force (and all redacted)
BATCH_LINES = 1024  # redact_lines works on batches of this many lines


@dataclass(frozen=True, slots=True)
class Hit:
    """One redacted span of the input: its label (``aws_access_key``, ``email``...) and offsets."""

    label: str
    start: int
    end: int


def category(label: str) -> str:
    """``"pii"`` for the PII labels, ``"secret"`` for every other label."""
    return "pii" if label in PII_LABELS else "secret"


def lower_keeping_offsets(text: str) -> str:
    """``text.lower()`` with the same length, so offsets in it are offsets in ``text``."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)  # e.g. "İ" lowers to two characters


def find_hits(text: str) -> list[Hit]:
    """The non-overlapping hits in ``text``, in order; on overlap the higher priority, then longer, wins."""
    return [Hit(label, start, end) for start, end, label, _ in _find(text)]


def _find(text: str) -> list[Found]:
    small = len(text) < SMALL_TEXT
    found: list[Found] = list(rules.find_tokens(text, gated=small))
    low = lower_keeping_offsets(text)
    if not small or rules.KEYWORD_GATE.search(low):
        found.extend(rules.find_keywords(text, low))
    if not small or _PII_GATE.search(text):
        found.extend(pii.find_pii(text, low))
    return resolve(found) if found else found


def resolve(found: list[Found]) -> list[Found]:
    """Drops hits that overlap a hit of higher priority or, at equal priority, a longer one."""
    found.sort(key=lambda f: (-f[3], f[0] - f[1], f[0]))
    starts: list[int] = []
    kept: list[Found] = []
    for f in found:
        if f[1] <= f[0]:
            continue
        k = bisect.bisect_right(starts, f[0])
        if k and kept[k - 1][1] > f[0] or k < len(kept) and kept[k][0] < f[1]:
            continue
        starts.insert(k, f[0])
        kept.insert(k, f)
    return kept


def redact_text(text: str) -> tuple[str, list[Hit]]:
    """Replaces every secret and PII item in ``text`` by its placeholder.

    Args:
        text: any text (a typed string, a title, a command line, a block of terminal output).

    Returns:
        The redacted text and the hits, with offsets into the original ``text``.
    """
    found = _find(text)
    return _substitute(text, found), [Hit(label, start, end) for start, end, label, _ in found]


def _substitute(text: str, found: list[Found]) -> str:
    if not found:
        return text
    out, pos = [], 0
    for start, end, label, _ in found:
        out.append(text[pos:start])
        out.append(placeholder(label) + "\n" * text.count("\n", start, end))
        pos = end
    out.append(text[pos:])
    return "".join(out)


def redact_lines(lines: Iterable[str], batch_lines: int = BATCH_LINES,
                 counts: collections.Counter[str] | None = None) -> Iterator[str]:
    """Redacts a stream of lines, yielding exactly one output line per input line, in order.

    Lines are given without their terminators. They are redacted in batches of ``batch_lines``
    (no rule crosses a line break, so a batch gives the same result as one line at a time, only
    faster), except that a private key block is never split: when a batch ends inside one (its
    last lines are still key material), the lines from its BEGIN on are held until the block ends
    (at its END line or at the first line that is not key material) or ``MAX_BLOCK_LINES`` lines
    have passed, and the whole block is redacted, its line count kept. A block closed by force
    goes on being blanked for as long as key material follows, so the result is always the one
    ``redact_text`` gives. ``counts``, if given, is updated with the number of hits of each label.
    """
    it = iter(lines)
    held: list[str] = []
    continued = False  # the batch starts inside a block closed by force
    while True:
        chunk = list(itertools.islice(it, batch_lines))
        batch = held + chunk if held else chunk
        if not batch:
            return
        held = []
        text = "\n".join(batch)
        skip = 0  # characters at the start of ``text`` that belong to a block already redacted
        if continued:
            skip, continued = _continued(text)
        if chunk and _BEGIN in text:
            opened = _open_block(text, skip)
            if opened >= 0:
                first = text.count("\n", 0, opened)
                if len(batch) - first < MAX_BLOCK_LINES:
                    held = batch[first:]
                    batch = batch[:first]
                else:  # closed by force: this block ends the batch, the next batch continues it
                    held = batch[first + MAX_BLOCK_LINES:]
                    batch = batch[:first + MAX_BLOCK_LINES]
                    continued = True
                text = "\n".join(batch)
            if not batch:
                continue
        rest = text[skip:] if skip else text
        found = _find(rest)
        if counts is not None:
            counts.update(f[2] for f in found)
        yield from _split("\n" * text.count("\n", 0, skip) + _substitute(rest, found), batch)


def _open_block(text: str, start: int = 0) -> int:
    """Where the last private key block of ``text`` (from ``start`` on) begins if it is still open
    at the end of ``text`` (no END line yet, and key material up to the end), else -1."""
    last = -1
    for m in _BLOCK_START.finditer(text, start):
        last = m.start()
    if last < 0:
        return -1
    block = rules.PRIVATE_KEY_BLOCK.match(text, last)
    return last if block and block.group("end") is None and block.end() == len(text) else -1


def _continued(text: str) -> tuple[int, bool]:
    """How much of ``text`` is key material continuing a block closed by force, and whether the
    block is still open at its end."""
    m = _KEY_REST.match("\n" + text)
    end = m.end() - 1 if m else 0
    return max(0, end), bool(m) and m.group("end") is None and end == len(text)


def _split(redacted: str, batch: list[str]) -> list[str]:
    """Splits a redacted batch back into one line per input line."""
    out = redacted.split("\n")
    if len(out) == len(batch):
        return out
    parts, pos = [], 0
    for line in batch:  # some input "lines" had line breaks of their own
        n = line.count("\n") + 1
        parts.append("\n".join(out[pos:pos + n]))
        pos += n
    return parts
