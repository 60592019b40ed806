"""Task marks: ``workscribe task start`` and ``task end`` become ``task/start`` and ``task/end`` events.

At most one task is open; starting a new one ends the open one without an outcome. Tasks are
numbered from 1 within a recording. Titles and tickets are cut to ``MAX_TASK_TITLE`` characters and
redacted (``redact_private``) here, when the task starts: the redaction stage passes task events as
they are (``redact.stage.RULES["task"]``).
"""

from __future__ import annotations

from typing import Any

from workscribe.events import Event, make_event
from workscribe.redact.identity import redact_private

MAX_TASK_TITLE = 500  # characters of a task title or ticket kept


class TaskMarks:
    """The open task of a recording and the events that start and end tasks (not thread-safe: the
    recorder calls it under its lock)."""

    def __init__(self) -> None:
        self.open: dict[str, Any] | None = None  # the open task: id, title, ticket
        self._seq = 0

    @property
    def title(self) -> str | None:
        """The open task's title (redacted), or None."""
        return self.open["title"] if self.open else None

    def start(self, title: Any, ticket: Any, t: int) -> list[Event] | str:
        """The events that start a task at ``t`` (after ending the open one), or why it cannot start."""
        title = str(title or "").strip()
        if not title:
            return "a task needs a title, e.g. workscribe task start \"Fix the login redirect\""
        out: list[Event] = []
        if self.open is not None:  # starting a new task ends the open one, without an outcome
            out.append(make_event("task", "end", {"id": self.open["id"], "outcome": None}, t))
        ticket = str(ticket or "").strip() or None
        self._seq += 1
        self.open = {"id": self._seq, "title": redact_private(title[:MAX_TASK_TITLE]),
                     "ticket": redact_private(ticket[:MAX_TASK_TITLE]) if ticket else None}
        out.append(make_event("task", "start", dict(self.open), t))
        return out

    def end(self, outcome: Any, t: int) -> list[Event] | str:
        """The event that ends the open task at ``t`` (``outcome``: ``success``, ``fail`` or None), or
        why it cannot end."""
        if self.open is None:
            return "no task is open; start one with: workscribe task start TITLE"
        if outcome not in (None, "success", "fail"):
            return f"unknown outcome {outcome!r}; use success or fail"
        out = [make_event("task", "end", {"id": self.open["id"], "outcome": outcome}, t)]
        self.open = None
        return out
