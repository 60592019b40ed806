"""Redaction of typed text, which reaches the recorder one key at a time.

A secret typed into an allowed window arrives as key events, each with one character. The
``KeystrokeRedactor`` holds the key events of a run of typing in memory until the run ends (a
non-text key, a pause over ``pause_ns``, any other input, or ``max_hold_ns``), redacts the run's
text, and only then releases the events. The key events of every character inside a hit are
dropped, press and release, and one ``input/text`` event carrying the placeholder takes the place of
the first: the reducer types the placeholder, and no character, keysym or keycode of the secret is
stored.

Both the raw keystrokes (what was pressed, BackSpace ignored) and the edited text (BackSpace applied)
are redacted, so a secret that was typed and then deleted is dropped too. The last ``context_chars``
released characters stay as context for the next run, so ``password: hunter2`` is still seen when a
long run is released in parts. A long run is released up to its last space after ``max_hold_ns``;
the token being typed stays held.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from workscribe.events import MODIFIER_KEYS, Event
from workscribe.redact.rules import placeholder
from workscribe.redact.text import Hit, find_hits


@dataclass
class _Run:
    events: list[Event] = field(default_factory=list)
    chars: list[tuple[int, str]] = field(default_factory=list)  # (index in events, char) as pressed;
    # index -1 marks a BackSpace
    edited: list[tuple[int, str]] = field(default_factory=list)  # the same after BackSpace edits
    last_t: int = 0
    dropped: set[int] = field(default_factory=set)  # held events already judged part of a hit


def _is_text(event: Event) -> bool:
    data = event["data"]
    return event["kind"] == "key_press" and bool(data.get("text")) and data["text"].isprintable()


class KeystrokeRedactor:
    """Holds runs of typed keys and releases them redacted.

    Args:
        find: the hit finder (``redact.text.find_hits``).
        pause_ns: a pause longer than this ends a run (as in the reducer).
        max_hold_ns: a run older than this is released up to its last space.
        context_chars: released characters kept as context for the next run.
    """

    def __init__(self, find: Callable[[str], list[Hit]] = find_hits, pause_ns: int = 1_000_000_000,
                 max_hold_ns: int = 3_000_000_000, context_chars: int = 64) -> None:
        self.find = find
        self.pause_ns = pause_ns
        self.max_hold_ns = max_hold_ns
        self.context_chars = context_chars
        self._run = _Run()
        self._context = ""
        self._drop_release: set[int] = set()  # keycodes whose next release belongs to a dropped press
        self.redacted = 0

    @property
    def holding(self) -> bool:
        """True while key events wait in memory."""
        return bool(self._run.events)

    def push(self, event: Event) -> list[Event]:
        """Takes one kept input event; returns the events that may be stored now, in order."""
        run = self._run
        if event["source"] == "input" and event["kind"] == "motion":
            return [event]  # moving the pointer does not end typing
        if event["source"] != "input" or event["kind"] not in ("key_press", "key_release"):
            return [*self.flush(), event]
        if run.events and event["kind"] == "key_press" and event["t"] - run.last_t > self.pause_ns:
            out = self.flush()
            self._context = ""
        else:
            out = []
        key = event["data"].get("key")
        if event["kind"] == "key_release" and event["data"]["keycode"] in self._drop_release:
            self._drop_release.discard(event["data"]["keycode"])
            return out
        if event["kind"] == "key_release" or key in MODIFIER_KEYS:
            if not self._run.events:
                return [*out, event]
            self._run.events.append(event)
            return out
        if _is_text(event):
            run = self._run
            run.events.append(event)
            run.chars.append((len(run.events) - 1, event["data"]["text"]))
            run.edited.append((len(run.events) - 1, event["data"]["text"]))
            run.last_t = event["t"]
            if event["t"] - run.events[0]["t"] > self.max_hold_ns:
                out += self._release_prefix()
            return out
        if key == "BackSpace" and self._run.edited:
            run = self._run
            run.events.append(event)
            run.edited.pop()
            run.chars.append((-1, "\n"))  # keeps what was typed before and after apart
            run.last_t = event["t"]
            return out
        return [*out, *self.flush(), event]  # any other key ends the run

    def tick(self, now: int) -> list[Event]:
        """Releases a run whose last key is older than the pause (call about once a second)."""
        if self._run.events and now - self._run.last_t > self.pause_ns:
            return self.flush()
        return []

    def flush(self) -> list[Event]:
        """Redacts and releases the whole held run."""
        run, self._run = self._run, _Run()
        if not run.events:
            return []
        released = self._redact(run, len(run.events))
        typed = "".join(c for _, c in run.edited)
        self._context = (self._context + typed)[-self.context_chars:]
        return released

    def _release_prefix(self) -> list[Event]:
        run = self._run
        cut = max((i for i, (_, c) in enumerate(run.edited) if c.isspace()), default=-1)
        if cut < 0:
            return []  # one long token: keep holding it
        upto = run.edited[cut][0] + 1  # events up to and including that space
        released = self._redact(run, upto)
        self._context = (self._context + "".join(c for _, c in run.edited[:cut + 1]))[-self.context_chars:]
        rest = _Run(last_t=run.last_t, dropped={i - upto for i in run.dropped})
        rest.events = run.events[upto:]
        rest.chars = [(i - upto if i >= 0 else -1, c) for i, c in run.chars if i >= upto or i < 0]
        rest.edited = [(i - upto, c) for i, c in run.edited if i >= upto]
        self._run = rest
        return released

    def _redact(self, run: _Run, upto: int) -> list[Event]:
        """The first ``upto`` events of ``run``, with every key of every hit replaced."""
        drop: set[int] = set(run.dropped)
        inserts: dict[int, Event] = {}
        for sequence in (run.chars, run.edited):
            text = self._context + "".join(c for _, c in sequence)
            base = len(self._context)
            for hit in self.find(text):
                idx = [sequence[k - base][0] for k in range(max(hit.start, base), hit.end)
                       if sequence[k - base][0] >= 0]
                if not idx:
                    continue
                drop.update(idx)
                first = min(idx)
                if first not in inserts:
                    inserts[first] = {"t": run.events[first]["t"], "source": "input", "kind": "text",
                                      "data": {"text": placeholder(hit.label), "redacted": hit.label}}
        if drop:
            self.redacted += len(inserts)
            # a dropped press takes its release with it: the keycode must not be stored either
            for i in sorted(i for i in drop if run.events[i]["kind"] == "key_press"):
                code = run.events[i]["data"]["keycode"]
                match = next((j for j in range(i + 1, len(run.events))
                              if run.events[j]["kind"] == "key_release"
                              and run.events[j]["data"]["keycode"] == code), None)
                if match is None:
                    self._drop_release.add(code)  # released after this run: dropped when it comes
                else:
                    drop.add(match)
        out: list[Event] = []
        for i, event in enumerate(run.events[:upto]):
            if i in inserts:
                out.append(inserts[i])
            if i not in drop:
                out.append(event)
        run.dropped = {i for i in drop if i >= upto}
        return out
