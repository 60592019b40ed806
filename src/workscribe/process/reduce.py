"""Raw events to actions: clicks, drags, scrolls, typing, keys and hotkeys.

``reduce_actions`` reads the events of one recording (sorted by ``t``, every source interleaved) and
yields one plain ``dict`` per action, with exactly the keys in ``ACTION_KEYS`` (``None`` where a key does
not apply), ordered by ``t``:

- ``click`` / ``middle_click`` / ``right_click`` (buttons 1 / 2 / 3; other buttons give ``click`` with
  that ``button``): a press and release whose pointer never left a ``drag_px`` circle around the press
  point; otherwise a ``drag`` from the press point (``x``, ``y``) to the release point (``x2``, ``y2``).
- ``double_click`` / ``triple_click``: a click of the same button pressed within ``multi_click_s`` and
  ``multi_click_px`` of the previous click's press replaces it; a fourth click starts a new ``click``.
- ``scroll``: wheel events in one direction at most ``scroll_merge_s`` apart, with only motion, window
  and screen events between them, summed into ``dx``, ``dy`` at the position of the first.
- ``type``: printable ``text`` of key presses without ctrl/alt/super, until a pause over ``type_pause_s``,
  another key, a button press, a scroll or a gap. ``BackSpace`` edits the pending text.
- ``key``: any other key without modifiers (``keys`` like ``"enter"``); ``hotkey``: a key with
  ctrl/alt/super held, or a non-text key with shift/altgr held (``keys`` like ``"ctrl+shift+t"``).
  Modifier keys alone produce nothing; they never interrupt anything either.

A pointer action (clicks, drags, scrolls) carries ``app`` and ``window`` (title) of the window under
the pointer at its press or first wheel step (``data["window"]`` of the event, which a click that
activates another window needs); a wheel step over another window starts a new scroll. Every other
action, and a pointer action of a recording without that field, carries those of the last
``window/active`` event at or before its start. Every action has ``frame_before`` (last
``screen/frame`` at or before its start) and ``frame_after`` (first frame at or after its end).
A ``guard/gap`` or ``guard/secure_input`` finishes every pending action; a button held across it is
dropped, and no frame after the gap is used as ``frame_after`` of an action before it. A
``recorder/source_gap`` of the ``input`` or ``screen`` source (it recorded nothing for a while) counts
as a gap; one of another source changes no action.
A ``guard/secure_input`` (keys typed at a password prompt or into a password field, not stored)
becomes one ``type`` action from its start to its end whose text is ``SECURE_TEXT``.

Coding work becomes one action per event, placed by its start among the actions still pending (a
command's event comes when it ended; one that ran while later actions were already yielded follows
them):

- ``command`` (``shell/command``): ``t``/``t_end`` its start and end, ``text`` the command line,
  ``cwd``, ``exit_code``, ``output`` (tail, or None), ``detail`` ``{cwd_after, shell, session,
  output_truncated}``.
- ``edit`` (``files/edit``): ``path``, ``diff`` (unified, against the previous saved state),
  ``detail`` ``{repo, op, old_path, added, removed}``.
- ``git`` (``git/commit``, ``checkout``, ``merge``, ``rebase``, ``reset``, ``other``; not ``head``):
  ``text`` the commit or reflog message, ``detail`` the event's data with ``kind``.

The function is a generator and holds only pending state: open actions, and finished ones waiting for
their ``frame_after`` (at most ``max_pending``; beyond that the oldest leave with ``frame_after=None``).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from typing import Any

from workscribe.events import MODIFIER_KEYS, Event

Action = dict[str, Any]
"""One action: a dict with exactly the keys of ``ACTION_KEYS``."""

ACTION_KEYS: tuple[str, ...] = (
    "t", "t_end", "type", "x", "y", "x2", "y2", "button", "text", "keys", "dx", "dy",
    "app", "window", "frame_before", "frame_after", "cwd", "exit_code", "output", "path", "diff", "detail",
)  # fmt: skip
"""Keys of every action, in this order."""

ACTION_TYPES: tuple[str, ...] = (
    "click", "double_click", "triple_click", "right_click", "middle_click", "drag",
    "scroll", "type", "key", "hotkey", "command", "edit", "git",
)  # fmt: skip
"""Every value ``type`` can take."""

CODING_TYPES: tuple[str, ...] = ("command", "edit", "git")
"""Action types of coding work (shell, files and git sources): they carry no pointer or keys."""

GUI_TYPES: tuple[str, ...] = tuple(t for t in ACTION_TYPES if t not in CODING_TYPES)
"""Action types taken with the pointer and keyboard, on a screen."""

SECURE_TEXT = "<SECRET:password>"
"""The text of a ``type`` standing for keys typed into a secure context (a password prompt or field):
that something secret was typed there is kept, never what nor how long. A policy that emits it gets
the secret from a credential store at run time; it is never learnt."""

_CLICK_TYPES = {1: "click", 2: "middle_click", 3: "right_click"}
_MULTI_CLICK_TYPES = {2: "double_click", 3: "triple_click"}
_MAX_CLICKS = 3  # a chain ends at a triple click; the next click starts a new one
_GAP_SOURCES = ("input", "screen")  # a recorder/source_gap of these finishes pending actions like a gap
_HOTKEY_MODS = ("ctrl", "alt", "super")  # any of these held makes every key a hotkey
_MOD_ORDER = ("ctrl", "alt", "shift", "super", "altgr")  # order of modifiers in ``keys``
# keysym names whose lower-case form is not the name used in ``keys``
_KEY_NAMES = {
    "Return": "enter", "KP_Enter": "enter", "ISO_Left_Tab": "tab",
    "Prior": "page_up", "Next": "page_down", "KP_Prior": "page_up", "KP_Next": "page_down",
}  # fmt: skip


def _reverses(total: int, step: int) -> bool:
    return total * step < 0


def key_name(keysym_name: str) -> str:
    """Returns the name of a key as written in ``keys``, e.g. ``Return`` -> ``enter``, ``F5`` -> ``f5``."""
    return _KEY_NAMES.get(keysym_name, keysym_name.lower())


@dataclass(frozen=True)
class ReduceConfig:
    """How raw events are grouped into actions."""

    # Longest time (s) from one click's press to the next for them to make a double/triple click.
    multi_click_s: float = 0.5
    # Farthest distance (px, Euclidean) between those two presses.
    multi_click_px: float = 5
    # A press/release whose pointer moved farther than this (px) from the press point is a drag.
    drag_px: float = 6
    # Longest gap (s) between two wheel events of one scroll action.
    scroll_merge_s: float = 0.3
    # A pause (s) longer than this between key presses ends a ``type`` action.
    type_pause_s: float = 1.0
    # Most actions held back waiting for ``frame_after``; beyond that the oldest leave with None.
    max_pending: int = 10_000

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if f.name == "max_pending":
                ok, need = number and isinstance(value, int) and value >= 1, "an int >= 1"
            else:
                ok, need = number and math.isfinite(value) and value >= 0, "a finite number >= 0"
            if not ok:
                raise ValueError(
                    f"ReduceConfig.{f.name} must be {need}, got {value!r}; "
                    f"pass such a value, e.g. the default {f.name}={f.default!r}"
                )


@dataclass(slots=True, eq=False)
class _Entry:
    """An action in the output queue, with what is still unknown about it."""

    action: Action
    done: bool = False  # no later event can change it, except frame_after
    dropped: bool = False  # turned out not to be an action; skipped on output
    after_set: bool = False  # frame_after is final
    awaiting: bool = False  # listed in _Reducer.awaiting
    pointed: bool = False  # app and window are the window under the pointer, not the active one


@dataclass(slots=True)
class _Hold:
    """A button pressed and not yet released."""

    entry: _Entry
    t: int
    x: int | None
    y: int | None
    moved: bool = False


@dataclass(slots=True)
class _Chain:
    """The last click, held back while a further click could still make it a double/triple click."""

    entry: _Entry
    button: int
    last_t: int  # press time of the chain's last click
    x: int | None  # press point of the chain's last click
    y: int | None
    count: int = 1
    candidate: _Hold | None = None  # a press of the same button, in time and place, not yet released


def _dist(x1: float | None, y1: float | None, x2: float | None, y2: float | None) -> float:
    if x1 is None or y1 is None or x2 is None or y2 is None:
        return 0.0
    return math.hypot(x2 - x1, y2 - y1)


class _Reducer:
    """The pending state of ``reduce_actions``: feed events in order, take ready actions out."""

    def __init__(self, cfg: ReduceConfig) -> None:
        self.multi_click_ns = round(cfg.multi_click_s * 1e9)
        self.multi_click_px = cfg.multi_click_px
        self.drag_px = cfg.drag_px
        self.scroll_ns = round(cfg.scroll_merge_s * 1e9)
        self.pause_ns = round(cfg.type_pause_s * 1e9)
        self.max_pending = cfg.max_pending
        self.queue: deque[_Entry] = deque()  # every action not yet yielded, in order of t
        self.awaiting: list[_Entry] = []  # entries with t_end set and frame_after not yet seen
        self.app: str | None = None
        self.window: str | None = None
        self.frame_ref: Any = None
        self.frame_t: int | None = None
        self.recent_frames: deque[tuple[int, Any]] = deque(maxlen=256)  # (t, ref) of the latest frames
        self.x: int | None = None
        self.y: int | None = None
        self.holds: dict[int, _Hold] = {}
        self.chain: _Chain | None = None
        self.typing: _Entry | None = None
        self.scroll: _Entry | None = None
        self.scroll_window: int | None = None  # id of the window the open scroll started over
        self.input_handlers = {
            "key_press": self._on_key,
            "text": self._on_key,  # typed text that was redacted: its placeholder types like keys
            "motion": self._on_motion,
            "button_press": self._on_press,
            "button_release": self._on_release,
            "scroll": self._on_scroll,
        }

    def feed(self, ev: Event) -> bool:
        """Takes one event; returns True when everything pending must be yielded now (a gap)."""
        t, source, kind, data = ev["t"], ev["source"], ev["kind"], ev.get("data") or {}
        self._expire(t)
        if source == "input":
            handler = self.input_handlers.get(kind)
            if handler is not None:
                handler(t, data)
        elif source == "window" and kind == "active":
            self.app, self.window = data.get("app"), data.get("title")
            for e in self._starting_at(t):
                if not e.pointed:
                    e.action["app"], e.action["window"] = self.app, self.window
        elif source == "screen" and kind == "frame":
            self._on_frame(t, data)
        elif source in ("shell", "files") or (source == "git" and kind != "head"):
            self._on_coding(ev)
        elif (source == "guard" and kind in ("gap", "secure_input")) or (
                source == "recorder" and kind == "source_gap" and data.get("source") in _GAP_SOURCES):
            self.finish_all()
            if kind == "secure_input":
                self._on_secure(data)
                return False  # the screen was still recorded: later frames may end what came before
            return True
        return False

    def finish_all(self) -> None:
        """Finishes every open action and drops held buttons (before a gap, at the end)."""
        self._end_typing()
        self._end_scroll()
        self._end_chain()
        for button in list(self.holds):
            self._drop_hold(button)

    def ready(self, force: bool = False) -> Iterator[Action]:
        """Yields, in order, the actions at the head of the queue that nothing can change any more.

        Args:
            force: yield finished actions without waiting for their ``frame_after`` (it stays None).
        """
        q = self.queue
        while q:
            head, over = q[0], len(q) > self.max_pending
            if over and not head.done and not head.dropped:
                self._end_owner(head)
            if head.dropped:
                q.popleft()
                continue
            if not head.done or not (head.after_set or force or over):
                break
            q.popleft()
            head.after_set = True  # a later frame must not touch an action already yielded
            yield head.action
        if force:
            self.awaiting.clear()

    # ----- bookkeeping

    def _new(self, type_: str, t: int, x: int | None, y: int | None, pointed: Any = None,
             **values: Any) -> _Entry:
        """Queues a new action; ``pointed``: the ``window`` of a pointer event (its app and title)."""
        action = dict.fromkeys(ACTION_KEYS)
        action.update(t=t, type=type_, x=x, y=y, app=self.app, window=self.window)
        if isinstance(pointed, dict):
            action.update(app=pointed.get("app"), window=pointed.get("title"))
        action["frame_before"] = self.frame_ref
        action.update(values)
        entry = _Entry(action, pointed=isinstance(pointed, dict))
        self.queue.append(entry)
        return entry

    def _set_end(self, e: _Entry, t_end: int) -> None:
        """Sets (or moves) the end of an action; its frame_after is then the first frame from there."""
        e.action["t_end"] = t_end
        if self.frame_t is not None and self.frame_t >= t_end:  # a frame with this very t came first
            e.action["frame_after"], e.after_set = self.frame_ref, True
            return
        e.action["frame_after"], e.after_set = None, False
        if not e.awaiting:
            e.awaiting = True
            self.awaiting.append(e)

    def _on_secure(self, data: dict[str, Any]) -> None:
        """Keys typed into a secure context become one ``type`` of ``SECURE_TEXT``, placed by its start."""
        start, end = data.get("start"), data.get("end")
        if start is None or end is None:
            return
        action = dict.fromkeys(ACTION_KEYS)
        action.update(t=start, type="type", text=SECURE_TEXT, app=self.app, window=self.window)
        self._place(action, end)

    def _place(self, action: Action, end: int) -> None:
        """Queues a finished action that may start before actions already queued (its event came when
        it ended): by its start, with the frames at or before its start and at or after ``end``."""
        before = [ref for ft, ref in self.recent_frames if ft <= action["t"]]
        action.update(t_end=end, frame_before=before[-1] if before else None)
        e = _Entry(action, done=True)
        at = next((i for i, q in enumerate(self.queue) if q.action["t"] > action["t"]), len(self.queue))
        self.queue.insert(at, e)
        after = [ref for ft, ref in self.recent_frames if ft >= end]
        if after:
            e.action["frame_after"], e.after_set = after[0], True
        else:
            e.awaiting = True
            self.awaiting.append(e)

    def _on_coding(self, ev: Event) -> None:
        """A shell command, file edit or git event: one finished action, placed by its start."""
        t, source, kind, data = ev["t"], ev["source"], ev["kind"], ev.get("data") or {}
        action = dict.fromkeys(ACTION_KEYS)
        action.update(t=t, app=self.app, window=self.window)
        if source == "shell":
            action.update(t=min(data.get("start", t), t), type="command", text=data.get("text"),
                          cwd=data.get("cwd"), exit_code=data.get("exit_code"), output=data.get("output"),
                          detail={k: data.get(k)
                                  for k in ("cwd_after", "shell", "session", "output_truncated")})
        elif source == "files":
            action.update(type="edit", path=data.get("path"), diff=data.get("diff"),
                          detail={k: data.get(k) for k in ("repo", "op", "old_path", "added", "removed")})
        else:
            action.update(type="git", text=data.get("message"),
                          detail={"kind": kind, **{k: v for k, v in data.items() if k != "message"}})
        self._place(action, t)

    def _starting_at(self, t: int) -> Iterator[_Entry]:
        """Entries whose action starts at ``t`` (all at the tail of the queue: events come sorted)."""
        for e in reversed(self.queue):
            if e.action["t"] != t:
                return
            yield e

    def _pos(self, data: dict[str, Any]) -> tuple[int | None, int | None]:
        """The pointer position in ``data``, else the last known one; remembers it."""
        if data.get("x") is not None and data.get("y") is not None:
            self.x, self.y = data["x"], data["y"]
        return self.x, self.y

    def _expire(self, t: int) -> None:
        """Finishes open actions that no event at ``t`` or later can extend."""
        if self.typing is not None and t - self.typing.action["t_end"] > self.pause_ns:
            self._end_typing()
        if self.scroll is not None and t - self.scroll.action["t_end"] > self.scroll_ns:
            self._end_scroll()
        c = self.chain
        if c is not None and c.candidate is None and t - c.last_t > self.multi_click_ns:
            self._end_chain()

    def _end_typing(self) -> None:
        e, self.typing = self.typing, None
        if e is not None:
            e.done, e.dropped = True, not e.action["text"]

    def _end_scroll(self) -> None:
        e, self.scroll = self.scroll, None
        if e is not None:
            e.done = True

    def _end_chain(self) -> None:
        c, self.chain = self.chain, None
        if c is not None:
            c.entry.done = True

    def _drop_hold(self, button: int) -> None:
        hold = self.holds.pop(button)
        hold.entry.dropped = True
        if self.chain is not None and self.chain.candidate is hold:
            self.chain.candidate = None

    def _end_owner(self, e: _Entry) -> None:
        """Finishes whatever keeps entry ``e`` open (the output queue is over its bound)."""
        if e is self.typing:
            self._end_typing()
        elif e is self.scroll:
            self._end_scroll()
        elif self.chain is not None and e is self.chain.entry:
            self._end_chain()
        else:
            for button, hold in list(self.holds.items()):
                if hold.entry is e:
                    self._drop_hold(button)

    # ----- event handlers

    def _on_frame(self, t: int, data: dict[str, Any]) -> None:
        ref = data["ref"] if "ref" in data else data.get("id")
        self.frame_ref, self.frame_t = ref, t
        self.recent_frames.append((t, ref))
        waiting = []
        for e in self.awaiting:
            if e.after_set:
                e.awaiting = False
            elif e.action["t_end"] <= t:
                e.action["frame_after"], e.after_set, e.awaiting = ref, True, False
            else:
                waiting.append(e)
        self.awaiting = waiting
        for e in self._starting_at(t):
            e.action["frame_before"] = ref

    def _on_motion(self, t: int, data: dict[str, Any]) -> None:
        x, y = self._pos(data)
        for hold in self.holds.values():
            if not hold.moved and _dist(hold.x, hold.y, x, y) > self.drag_px:
                hold.moved = True

    def _on_press(self, t: int, data: dict[str, Any]) -> None:
        button = data.get("button")
        if button is None:
            return
        x, y = self._pos(data)
        self._end_typing()
        self._end_scroll()
        if button in self.holds:  # its release was lost
            self._drop_hold(button)
        c = self.chain
        joins = (
            c is not None
            and c.button == button
            and c.candidate is None
            and t - c.last_t <= self.multi_click_ns
            and _dist(c.x, c.y, x, y) <= self.multi_click_px
        )
        if c is not None and not joins:
            self._end_chain()
        entry = self._new(_CLICK_TYPES.get(button, "click"), t, x, y, data.get("window"), button=button)
        hold = _Hold(entry, t, x, y)
        self.holds[button] = hold
        if joins and c is not None:
            c.candidate = hold

    def _on_release(self, t: int, data: dict[str, Any]) -> None:
        hold = self.holds.pop(data.get("button", -1), None)
        if hold is None:  # a release without its press
            return
        x, y = self._pos(data)
        self._end_scroll()
        e, c = hold.entry, self.chain
        if hold.moved or _dist(hold.x, hold.y, x, y) > self.drag_px:
            self._end_chain()
            e.action.update(type="drag", x2=x, y2=y)
            e.done = True
            self._set_end(e, t)
        elif c is not None and c.candidate is hold:
            e.dropped = True
            c.candidate, c.count, c.last_t, c.x, c.y = None, c.count + 1, hold.t, hold.x, hold.y
            c.entry.action["type"] = _MULTI_CLICK_TYPES[c.count]
            self._set_end(c.entry, t)
            if c.count == _MAX_CLICKS:
                self._end_chain()
        else:
            self._end_chain()
            self.chain = _Chain(e, e.action["button"], hold.t, hold.x, hold.y)
            self._set_end(e, t)

    def _on_scroll(self, t: int, data: dict[str, Any]) -> None:
        x, y = self._pos(data)
        dx, dy = data.get("dx") or 0, data.get("dy") or 0
        self._end_typing()
        self._end_chain()
        pointed = data.get("window")
        if self.scroll is not None and (_reverses(self.scroll.action["dx"], dx)
                                        or _reverses(self.scroll.action["dy"], dy)):
            self._end_scroll()  # turning the wheel back is a new scroll
        if self.scroll is not None and isinstance(pointed, dict) and pointed.get("id") != self.scroll_window:
            self._end_scroll()  # the wheel turns over another window
        if self.scroll is None:
            self.scroll = self._new("scroll", t, x, y, pointed, dx=dx, dy=dy)
            self.scroll_window = pointed.get("id") if isinstance(pointed, dict) else None
        else:  # _expire has ended it if the gap was too long
            self.scroll.action["dx"] += dx
            self.scroll.action["dy"] += dy
        self._set_end(self.scroll, t)

    def _on_key(self, t: int, data: dict[str, Any]) -> None:
        key = data.get("key") or ""
        x, y = self._pos(data)
        if key in MODIFIER_KEYS:
            return
        mods = set(data.get("mods") or ())
        held = [m for m in _MOD_ORDER if m in mods]
        text = data.get("text")
        self._end_scroll()
        self._end_chain()
        if text and text.isprintable() and not mods.intersection(_HOTKEY_MODS):
            if self.typing is None:
                self.typing = self._new("type", t, x, y, text=text)
            else:
                self.typing.action["text"] += text
            self._set_end(self.typing, t)
            return
        if key == "BackSpace" and not held and self.typing is not None and self.typing.action["text"]:
            self.typing.action["text"] = self.typing.action["text"][:-1]
            self._set_end(self.typing, t)
            return
        self._end_typing()
        name = key_name(key)
        if held:
            e = self._new("hotkey", t, x, y, keys="+".join([*held, name]))
        else:
            e = self._new("key", t, x, y, keys=name)
        e.done = True
        self._set_end(e, t)


def reduce_actions(events: Iterable[Event], config: ReduceConfig | None = None) -> Iterator[Action]:
    """Turns raw events into actions, streaming.

    Holds only pending state: an action is yielded as soon as no later event can change it and its
    ``frame_after`` is known (or the bound ``config.max_pending`` is reached).

    Args:
        events: events of one recording, sorted by ``t``, all sources interleaved.
        config: grouping thresholds; ``ReduceConfig()`` when None.

    Yields:
        Action dicts with exactly the keys of ``ACTION_KEYS``, ordered by ``t`` (see the module docstring).
    """
    reducer = _Reducer(config if config is not None else ReduceConfig())
    for ev in events:
        gap = reducer.feed(ev)
        yield from reducer.ready(force=gap)
    reducer.finish_all()
    yield from reducer.ready(force=True)
