"""The one redaction stage between the sources and the spool: every kept event passes here.

``RULES`` says, for every source that can put an event in the spool, what of it can hold text and
how that text is redacted (by a function of ``redact.events``, one per source). The events of a
source missing from it are dropped and counted (``refused``), so a new source cannot reach the
spool unredacted by being forgotten: add its row.
Frames take the same way through the pixel stage (``redact.frames.FrameRedactionStage``); what is
known of them as text (a browser page's elements) reaches that stage from the same events.

Typed text is the one stream redacted across events: key events are held by the
``KeystrokeRedactor`` until their run of typing ends, and only whole runs are redacted and released.
Every other event of the input and desktop sources goes through it too, as it ends a run; events of
the page and coding sources do not (a page snapshot arriving while one types must not cut the word
being typed in two).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from workscribe.events import Event
from workscribe.redact.events import (
    redact_browser_event,
    redact_input_event,
    redact_shell_event,
    redact_window_event,
)
from workscribe.redact.keystrokes import KeystrokeRedactor


def _as_is(event: Event) -> Event:
    return event


@dataclass(frozen=True)
class Rule:
    """How one source's events are redacted."""

    fields: str  # what can hold text, and what is done to it (documentation, shown by tests)
    redact: Callable[[Event], Event]  # applied to every event of the source
    typing: bool  # passes the keystroke redactor (its input events are typed text, or end a run)


RULES: dict[str, Rule] = {
    "input": Rule("typed text: held until its run of typing ends, then redacted (keystrokes); the title "
                  "of the window under the pointer: redact_private", redact_input_event, True),
    "window": Rule("title: redact_private", redact_window_event, True),
    "screen": Rule("frame events hold no text; their pixels pass the frame stage", _as_is, True),
    "browser": Rule("url, title, element names, texts and values: redact_private; password values "
                    "dropped; a field being typed into loses its unfinished word", redact_browser_event,
                    False),
    "shell": Rule("command line, folders, output: redact_private", redact_shell_event, False),
    "files": Rule("diffs of whole files redacted by the source before diffing, so that the diffs still "
                  "apply in order (sources/files.py)", _as_is, False),
    "git": Rule("commit messages and paths redacted by the source; no author (sources/git.py)", _as_is,
                False),
    "guard": Rule("gaps and secure-input markers: times and reasons only", _as_is, True),
    "recorder": Rule("source gaps: the reason is redacted when it is made (sources/supervise.py)", _as_is,
                     True),
    "task": Rule("task titles and tickets: redact_private when the task starts (record/tasks.py)", _as_is,
                 True),
    "spool": Rule("evictions and disk markers: names and counts only", _as_is, True),
}


class RedactionStage:
    """Redacts kept events by ``RULES`` before the spool (not thread-safe: the recorder calls it
    under its lock).

    Args:
        keys: the keystroke redactor that holds typed text.
    """

    def __init__(self, keys: KeystrokeRedactor) -> None:
        self.keys = keys
        self.refused: Counter[str] = Counter()  # events dropped, by source that has no rule

    def events(self, kept: list[Event]) -> list[Event]:
        """The events that may be stored now, redacted, in order (typed keys may be held)."""
        out: list[Event] = []
        for event in kept:
            rule = RULES.get(event["source"])
            if rule is None:
                self.refused[event["source"]] += 1
                continue
            event = rule.redact(event)
            out += self.keys.push(event) if rule.typing else [event]
        return out

    def tick(self, now: int) -> list[Event]:
        """Typed text whose run has ended by ``now``."""
        return self.keys.tick(now)

    def flush(self) -> list[Event]:
        """All typed text still held (a pause, the end of the recording)."""
        return self.keys.flush()
