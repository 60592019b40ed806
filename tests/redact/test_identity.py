"""Home path, user@host and host name are replaced in titles, typed text and OCR'd lines (pure)."""

from __future__ import annotations

from workscribe.events import make_event
from workscribe.process.reduce import reduce_actions
from workscribe.redact.identity import Identity, find_private, find_private_ocr, redact_private
from workscribe.redact.keystrokes import KeystrokeRedactor
from workscribe.redact.rules import placeholder

ME = Identity(home="/home/alice", user="alice", host="workstation-42")


def test_prompt_paths_and_host_are_replaced() -> None:
    assert redact_private("alice@workstation-42: /home/alice/src/app", ME) == "<USER>@<HOST>: ~/src/app"
    assert redact_private("ssh workstation-42.corp.example && ls /home/alice", ME) == (
        "ssh <HOST>.corp.example && ls ~")
    assert redact_private("vim '/home/alice/notes.txt'", ME) == "vim '~/notes.txt'"


def test_lookalikes_and_other_people_are_left_alone() -> None:
    for text in ("/home/alicebob/x", "/home/bob/src", "workstation-420 is down", "alice wrote this"):
        assert redact_private(text, ME) == text


def test_secrets_keep_priority_over_identity() -> None:
    text = "cat /home/alice/.aws/credentials # AKIAIOSFODNN7EXAMPLE"
    assert redact_private(text, ME) == "cat ~/.aws/credentials # <SECRET:aws_access_key>"
    assert [h.label for h in find_private(text, ME)] == ["home", "aws_access_key"]


def test_a_typed_home_path_becomes_a_tilde_in_the_action() -> None:
    events, t = [], 0
    for i, ch in enumerate("cd /home/alice/src"):
        t = i * 50_000_000
        events.append(make_event("input", "key_press", {"keycode": 10 + ord(ch), "key": ch, "text": ch,
                                                        "mods": [], "x": 0, "y": 0}, t=t))
    r = KeystrokeRedactor(lambda text: find_private(text, ME))
    out = [e for ev in events for e in r.push(ev)] + r.flush()
    typed = "".join(e["data"].get("text") or "" for e in out)
    assert "alice" not in typed
    assert [a["text"] for a in reduce_actions(out)] == ["cd ~/src"]


def test_the_contributor_misread_by_ocr_is_found() -> None:
    me = Identity(home="/home/marguerite", user="marguerite", host="lighthouse7")
    text = "marguer1te@Iighthouse7:~$ cat /h0me/marguerite/notes.txt"
    assert [h.label for h in find_private(text, me)] == []
    hits = find_private_ocr(text, me)
    assert [(h.label, text[h.start:h.end]) for h in hits] == [
        ("user_host", "marguer1te@Iighthouse7"), ("home", "/h0me/marguerite")]
    assert placeholder(hits[0].label) == "<USER>@<HOST>"
    assert find_private_ocr("marguerites@lighthouse77 and /home/margueriteX", me) == []
