"""Hand-written input, window, frame and gap events for the processing tests (times in ms)."""

from __future__ import annotations

from typing import Any

from workscribe.events import Event, make_event

MS = 1_000_000


def key(
    t: float, name: str, text: str | None = None, mods: tuple[str, ...] = (), x: int = 0, y: int = 0
) -> Event:
    data = {"keycode": 0, "keysym": 0, "key": name, "text": text, "mods": list(mods), "x": x, "y": y}
    return make_event("input", "key_press", data, t=round(t * MS))


def key_up(t: float, name: str) -> Event:
    return make_event("input", "key_release", {"keycode": 0, "keysym": 0, "key": name}, t=round(t * MS))


def text(t: float, chars: str, step: float = 100, x: int = 0, y: int = 0) -> list[Event]:
    """One key press per character, ``step`` ms apart (key name = the character)."""
    return [key(t + i * step, c, c, x=x, y=y) for i, c in enumerate(chars)]


def press(t: float, b: int = 1, x: int = 0, y: int = 0) -> Event:
    return make_event("input", "button_press", {"button": b, "x": x, "y": y}, t=round(t * MS))


def release(t: float, b: int = 1, x: int = 0, y: int = 0) -> Event:
    return make_event("input", "button_release", {"button": b, "x": x, "y": y}, t=round(t * MS))


def click(t: float, b: int = 1, x: int = 0, y: int = 0, hold: float = 50) -> list[Event]:
    return [press(t, b, x, y), release(t + hold, b, x, y)]


def motion(t: float, x: int, y: int) -> Event:
    return make_event("input", "motion", {"x": x, "y": y}, t=round(t * MS))


def wheel(t: float, dy: int = 1, dx: int = 0, x: int = 0, y: int = 0) -> Event:
    return make_event("input", "scroll", {"dx": dx, "dy": dy, "x": x, "y": y}, t=round(t * MS))


def window(t: float, app: str, title: str) -> Event:
    data = {"id": 1, "title": title, "instance": app, "class": app, "pid": None, "process": None,
            "x": 0, "y": 0, "w": 100, "h": 100, "app": app}  # fmt: skip
    return make_event("window", "active", data, t=round(t * MS))


def frame(t: float, id_: int, ref: str | None = None) -> Event:
    data: dict[str, Any] = {"id": id_, "reason": "change", "w": 100, "h": 100}
    if ref is not None:
        data["ref"] = ref
    return make_event("screen", "frame", data, t=round(t * MS))


def gap(t: float) -> Event:
    return make_event(
        "guard", "gap", {"reason": "paused", "start": round(t * MS), "end": round(t * MS)}, t=round(t * MS)
    )


def command(start: float, end: float, line: str, exit_code: int = 0, cwd: str = "~/src/app",
            cwd_after: str | None = None, seq: int = 1, output: str | None = None) -> Event:
    """A ``shell/command`` event (stamped when the command ended, as the shell source does)."""
    data = {"shell": "bash", "session": "0a0b0c0d", "seq": seq, "text": line, "cwd": cwd,
            "cwd_after": cwd_after or cwd, "exit_code": exit_code, "start": round(start * MS),
            "end": round(end * MS), "output": output, "output_truncated": False}
    return make_event("shell", "command", data, t=round(end * MS))


def edit(t: float, path: str, diff: str, op: str = "modify", repo: str = "~/src/app") -> Event:
    data = {"repo": repo, "path": path, "op": op, "old_path": None, "diff": diff, "added": diff.count("\n+"),
            "removed": diff.count("\n-")}
    return make_event("files", "edit", data, t=round(t * MS))


def git(t: float, kind: str, hash_: str, branch: str = "main", repo: str = "~/src/app", **data: Any) -> Event:
    """A ``git/<kind>`` event (``head``, ``commit``, ``checkout`` ...)."""
    return make_event("git", kind, {"repo": repo, "branch": branch, "hash": hash_, **data}, t=round(t * MS))
