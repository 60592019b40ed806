"""Typed secrets, key by key: held, redacted, released without a trace (pure, hand-written events)."""

from __future__ import annotations

from workscribe.events import Event, make_event
from workscribe.process.reduce import reduce_actions
from workscribe.redact.keystrokes import KeystrokeRedactor

MS = 1_000_000
AWS = "AKIAIOSFODNN7EXAMPLE"


def typing(text: str, t0: float = 0, gap_ms: float = 50, code0: int = 10) -> list[Event]:
    """Press and release per character (BackSpace written as \\b)."""
    out = []
    for i, ch in enumerate(text):
        t = round((t0 + i * gap_ms) * MS)
        key, txt = ("BackSpace", None) if ch == "\b" else (ch, ch)
        code = code0 + ord(ch)  # one keycode per character, as on a keyboard
        out.append(make_event("input", "key_press", {"keycode": code, "key": key, "text": txt, "mods": [],
                                                     "x": 1, "y": 2}, t=t))
        out.append(make_event("input", "key_release", {"keycode": code, "key": key}, t=t + 10 * MS))
    return out


def run(events: list[Event], **kw) -> list[Event]:
    r = KeystrokeRedactor(**kw)
    out = []
    for e in events:
        out += r.push(e)
    return out + r.flush()


def typed_chars(events: list[Event]) -> str:
    return "".join(e["data"].get("text") or "" for e in events if e["kind"] in ("key_press", "text"))


def test_plain_typing_passes_unchanged() -> None:
    events = typing("ls -la /tmp")
    assert run(events) == events


def test_a_typed_aws_key_leaves_no_key_event_of_its_characters() -> None:
    events = typing(f"export AWS_ACCESS_KEY_ID={AWS}") + [
        make_event("input", "key_press", {"keycode": 36, "key": "Return", "text": None, "mods": [],
                                          "x": 1, "y": 2}, t=10_000 * MS),
        make_event("input", "key_release", {"keycode": 36, "key": "Return"}, t=10_010 * MS)]
    out = run(events)
    assert AWS not in typed_chars(out)
    assert "<SECRET:" in typed_chars(out) and typed_chars(out).startswith("export AWS_ACCESS_KEY_ID=")
    presses = [e["data"]["keycode"] for e in out if e["kind"] == "key_press"]
    releases = [e["data"]["keycode"] for e in out if e["kind"] == "key_release"]
    assert sorted(presses) == sorted(releases)  # no release of a dropped press survives
    assert out[-1]["data"]["key"] == "Return"
    assert not [e for e in out if e["kind"] == "key_press" and e["data"]["text"] in set(AWS[4:])
                and e["t"] > events[50]["t"]]
    actions = list(reduce_actions(out))
    assert [a["type"] for a in actions] == ["type", "key"]
    assert AWS not in actions[0]["text"] and "<SECRET:" in actions[0]["text"]


def test_an_email_typed_and_then_deleted_is_dropped_too() -> None:
    email = "jane.doe@example.com"
    out = run(typing(email + "\b" * len(email) + "hello"))
    chars = typed_chars(out)
    assert "jane.doe" not in chars and "example.com" not in chars
    assert "<EMAIL>" in chars and chars.endswith("hello")


def test_a_long_run_is_released_in_parts_but_keeps_its_context() -> None:
    text = "then the db password: Tr0ub4dor&3xyz and more words after it"
    events = typing(text, gap_ms=150)
    r = KeystrokeRedactor(max_hold_ns=2_000 * MS)
    out, released_while_typing = [], 0
    for e in events:
        got = r.push(e)
        if got and r.holding:
            released_while_typing += 1
        out += got
    out += r.flush()
    assert released_while_typing > 0  # memory is bounded: parts left before the run ended
    assert "Tr0ub4dor" not in typed_chars(out)


def test_a_pause_ends_the_run_and_other_input_flushes_it() -> None:
    events = typing("abc") + typing("def", t0=2_000)
    r = KeystrokeRedactor()
    out = []
    for e in events[:6]:
        out += r.push(e)
    assert out == [] and r.holding
    out += r.push(events[6])  # 2 s later: the first run is released
    assert typed_chars(out) == "abc"
    click = make_event("input", "button_press", {"button": 1, "x": 5, "y": 5}, t=3_000 * MS)
    out += r.push(click)
    assert typed_chars(out) == "abcd" and out[-1] is click
