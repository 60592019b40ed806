"""Text redaction of one event, one function per source: what ``redact.stage.RULES`` applies.

Each function takes a kept event and returns it with every field that can hold text passed
through ``redact_private``; it never drops the event. Sources emit their text as they see it and
leave it to the stage, except ``files`` and ``git``, which redact whole files and commit messages
themselves (a file's contents must be redacted whole before diffing, so that its diffs still apply
in order).

Example:
    >>> redact_window_event({"t": 1, "source": "window", "kind": "active",
    ...                      "data": {"title": "mail jane.doe@example.org"}})["data"]["title"]
    'mail <EMAIL>'
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from workscribe.events import Event
from workscribe.redact.identity import redact_private


def redact_window_event(event: Event) -> Event:
    """A ``window`` event with its title redacted."""
    if not event["data"].get("title"):
        return event
    return {**event, "data": {**event["data"], "title": redact_private(event["data"]["title"])}}


def redact_input_event(event: Event) -> Event:
    """An ``input`` event with the title of the window under the pointer redacted (typed text is
    redacted by the keystroke redactor, once its run of typing has ended)."""
    window = event["data"].get("window")
    if not window:
        return event
    window = {**window, "title": redact_private(window.get("title") or "")}
    return {**event, "data": {**event["data"], "window": window}}


def redact_element(element: dict[str, Any], redact: Callable[[str], str]) -> dict[str, Any]:
    """One page element with its text redacted; a password input loses any value, a field being typed
    into its last, unfinished word."""
    out = dict(element)
    if out.get("secure") or out.get("type") == "password":
        out.pop("value", None)
    if out.get("editing"):
        for key in ("value", "text"):
            if out.get(key):
                out[key] = out[key][: out[key].rfind(" ") + 1]
    for key in ("name", "text", "value"):
        if out.get(key):
            out[key] = redact(out[key])
    return out


@lru_cache(maxsize=4096)
def _redact_cached(text: str) -> str:
    return redact_private(text)


def redact_browser_event(event: Event, redact: Callable[[str], str] | None = None) -> Event:
    """A ``browser`` event with its URL, title and element texts redacted (``redact_private``;
    cached, as snapshots repeat the same texts: a 300-element snapshot costs ~16 ms uncached)."""
    redact = redact or _redact_cached
    data = dict(event["data"])
    for key in ("url", "title"):
        if data.get(key):
            data[key] = redact(data[key])
    if data.get("elements"):
        data["elements"] = [redact_element(e, redact) for e in data["elements"]]
    if data.get("element"):
        data["element"] = redact_element(data["element"], redact)
    return {**event, "data": data}


def redact_shell_event(event: Event) -> Event:
    """A ``shell/command`` event with its command line, directories and output redacted."""
    data = dict(event["data"])
    for key in ("text", "cwd", "cwd_after", "output"):
        if data.get(key):
            data[key] = redact_private(data[key])
    return {**event, "data": data}
