"""Secure input: keys typed at password prompts and into secure windows are never kept."""

from __future__ import annotations

import os
import termios
import time

import pytest

from helpers import run_cli, spool_bytes, spool_events, wait_for, wait_settled_frame
from workscribe.envs.xdisplay import XDisplay, open_window, xdotool
from workscribe.guard.secure import secure_window
from workscribe.sources.terminal import echo_off_prompt, terminal_of
from workscribe.spool.reader import Spool

PASSWORD = "Hunter2Secret"


def test_echo_off_in_canonical_mode_is_a_prompt_but_raw_mode_is_not() -> None:
    master, slave = os.openpty()
    try:
        attrs = termios.tcgetattr(slave)
        assert not echo_off_prompt(slave)  # a fresh pty echoes
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        assert echo_off_prompt(slave)  # read -s, sudo, ssh, getpass
        attrs[3] &= ~termios.ICANON
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        assert not echo_off_prompt(slave)  # vim, less, top: raw mode, they echo themselves
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize("title, names, expected", [
    ("Password Required", ("zenity", "Zenity", "zenity"), "window_title"),
    ("Unlock Keyring", ("gcr-prompter", "Gcr-prompter", None), "window_title"),
    ("Vault - KeePassXC", ("keepassxc", "KeePassXC", "keepassxc"), "password_manager"),
    ("Bitwarden", ("bitwarden", "Bitwarden", "bitwarden"), "password_manager"),
    ("notes.txt - Code", ("code", "Code", "code"), None),
    ("Compass: a passive guide", ("xterm", "XTerm", "xterm"), None),
])
def test_secure_windows_by_title_and_class(title: str, names: tuple, expected: str | None) -> None:
    assert secure_window(title, names) == expected


def _key_events(out) -> list[dict]:
    spool = Spool(out)
    return [e for e in spool.iter_events(spool.recordings()[0])]


@pytest.mark.x11
def test_password_typed_at_a_read_s_prompt_is_never_kept(xdisplay: XDisplay, recorder) -> None:
    term, wid = open_window(xdisplay.name, "xterm", "-geometry", "80x20+30+30")
    try:
        assert run_cli("consent", "grant", "--apps", "xterm", "--yes", env=recorder.env).returncode == 0
        rec = recorder()
        tty = terminal_of(term.pid)
        assert tty and tty.startswith("/dev/pts/")
        fd = os.open(tty, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        xdotool(xdisplay.name, "mousemove", "120", "120", "click", "--delay", "0", "1")
        xdotool(xdisplay.name, "type", "--delay", "15", 'read -s -p "Enter it: " pw; echo "len=${#pw}"')
        xdotool(xdisplay.name, "key", "Return")
        # the prompt is up: bash turned echo off (the recorder samples the terminal as each key comes)
        wait_for(lambda: echo_off_prompt(fd), timeout=5, interval=0.01, what="read -s to turn echo off")
        xdotool(xdisplay.name, "type", "--delay", "40", PASSWORD)
        xdotool(xdisplay.name, "key", "Return")
        wait_for(lambda: not echo_off_prompt(fd), timeout=10, interval=0.01, what="the prompt to end")
        xdotool(xdisplay.name, "type", "--delay", "15", "echo visible")
        xdotool(xdisplay.name, "key", "Return")
        os.close(fd)
        code, _, err = rec.stop()  # at once: a clean stop judges and keeps every key still held
        assert code == 0, err
    finally:
        term.kill()
        term.wait()
    events = _key_events(rec.out)
    presses = [e for e in events if e["kind"] == "key_press"]
    typed = "".join(e["data"]["text"] or "" for e in presses)
    assert PASSWORD not in typed and "Hunter" not in typed
    assert typed.endswith("echo visible") and "read -s" in typed
    # not even the count: every key press kept is one of the two commands or their Return keys
    expected = len('read -s -p "Enter it: " pw; echo "len=${#pw}"') + len("echo visible") + 2
    kept = [e["data"]["key"] for e in presses if e["data"]["key"] not in ("Shift_L", "Shift_R")]
    assert len(kept) == expected, " ".join(kept)
    markers = [e["data"] for e in events if e["kind"] == "secure_input"]
    assert len(markers) == 1 and markers[0]["reason"] == "echo_off"
    assert markers[0]["end"] > markers[0]["start"]
    assert all(not (markers[0]["start"] <= e["t"] <= markers[0]["end"]) for e in presses)
    blob = spool_bytes(rec.out)
    assert PASSWORD.encode() not in blob
    actions = [a["text"] for a in __import__("json").loads(
        run_cli("actions", str(rec.out), "--json", env=recorder.env).stdout) if a["type"] == "type"]
    # the secret typed at the prompt is one placeholder action: that it was typed, not what or how long
    assert actions == ['read -s -p "Enter it: " pw; echo "len=${#pw}"', "<SECRET:password>", "echo visible"]


@pytest.mark.x11
def test_typing_into_a_password_titled_window_is_secure_input(xdisplay: XDisplay, recorder) -> None:
    term, _ = open_window(xdisplay.name, "xterm", "-title", "Enter Password", "-geometry", "60x10+30+30")
    try:
        assert run_cli("consent", "grant", "--apps", "xterm", "--yes", env=recorder.env).returncode == 0
        rec = recorder()
        xdotool(xdisplay.name, "mousemove", "100", "80", "click", "--delay", "0", "1")
        xdotool(xdisplay.name, "type", "--delay", "20", "topsecret")
        code, _, _ = rec.stop()  # at once: a clean stop judges every key still held
        assert code == 0
    finally:
        term.kill()
        term.wait()
    events = _key_events(rec.out)
    assert not [e for e in events if e["kind"] in ("key_press", "key_release")]
    assert [e["data"]["reason"] for e in events if e["kind"] == "secure_input"] == ["window_title"]
    assert [e["kind"] for e in events if e["kind"] == "button_press"] == ["button_press"]


@pytest.mark.x11
def test_secrets_and_pii_typed_or_in_titles_are_redacted_before_disk(xdisplay: XDisplay, recorder) -> None:
    aws, email = "AKIAZ3MOCKKEY7EXAMPL", "jane.doe@example.org"
    title = f"mail to {email} in {os.path.expanduser('~')}/inbox"
    term, _ = open_window(xdisplay.name, "xterm", "-title", title, "-geometry", "80x12+30+30")
    try:
        assert run_cli("consent", "grant", "--apps", "xterm", "--yes", env=recorder.env).returncode == 0
        rec = recorder()
        xdotool(xdisplay.name, "mousemove", "100", "80", "click", "--delay", "0", "1")
        xdotool(xdisplay.name, "type", "--delay", "25", f"export AWS_ACCESS_KEY_ID={aws}")
        xdotool(xdisplay.name, "key", "Return")
        xdotool(xdisplay.name, "type", "--delay", "25", "echo hello")
        # the run ends with the pause: held keys are released (redacted) by the recorder itself, not
        # by the stop
        wait_for(lambda: "echo hello" in "".join(e["data"].get("text") or "" for e in spool_events(rec.out)
                                                 if e["kind"] in ("key_press", "text")),
                 timeout=10, what="the typed run in the spool file")
        status = rec.control("status")
        assert status["state"] == "recording"
        code, _, err = rec.stop()
        assert code == 0, err
    finally:
        term.kill()
        term.wait()
    blob = spool_bytes(rec.out)
    for needle in (aws, aws[4:12], email, "jane.doe"):
        assert needle.encode() not in blob, needle
    events = _key_events(rec.out)
    typed = "".join(e["data"].get("text") or "" for e in events if e["kind"] in ("key_press", "text"))
    assert aws[4:] not in typed and "MOCKKEY" not in typed
    titles = [e["data"]["title"] for e in events if e["kind"] == "active"]
    assert titles == ["mail to <EMAIL> in ~/inbox"]  # no address, no home path
    actions = __import__("json").loads(run_cli("actions", str(rec.out), "--json", env=recorder.env).stdout)
    texts = [a["text"] for a in actions if a["type"] == "type"]
    assert texts == ["export AWS_ACCESS_KEY_ID=<SECRET:aws_access_key>", "echo hello"]
    assert Spool(rec.out).segments[0].header["redaction"]["text"].startswith("text-")


@pytest.mark.x11
def test_a_secret_shown_on_screen_is_filled_in_every_stored_frame(xdisplay: XDisplay, recorder) -> None:
    from workscribe.redact.image import ImageRedactor
    from workscribe.redact.text import find_hits

    aws = "AKIAZ3MOCKKEY7EXAMPL"
    term, _ = open_window(xdisplay.name, "xterm", "-fa", "DejaVu Sans Mono", "-fs", "12",
                          "-geometry", "90x12+20+20")
    try:
        assert run_cli("consent", "grant", "--apps", "xterm", "--yes", env=recorder.env).returncode == 0
        rec = recorder()
        xdotool(xdisplay.name, "mousemove", "100", "80", "click", "--delay", "0", "1")
        # the secret reaches the screen as program output, not as typed keys
        xdotool(xdisplay.name, "type", "--delay", "20", "printf 'AKIA%s\\n' Z3MOCKKEY7EXAMPL")
        sent = time.monotonic_ns()
        xdotool(xdisplay.name, "key", "Return")
        wait_settled_frame(rec.out, sent)  # the screen after the command, stored
        sent = time.monotonic_ns()
        xdotool(xdisplay.name, "mousemove", "200", "90", "click", "--delay", "0", "1")
        wait_settled_frame(rec.out, sent)  # and after the click, the printed line long on screen
        code, out, err = rec.stop()
        assert code == 0, err
    finally:
        term.kill()
        term.wait()
    spool = Spool(rec.out)
    refs = [e["data"]["ref"] for e in spool.iter_events(spool.recordings()[0]) if e["kind"] == "frame"]
    frames = spool.frames(refs)
    assert len(frames) >= 2
    ocr = ImageRedactor()
    texts = [" ".join(t for _, t in ocr._ocr(img)) for img in frames.values()]
    assert any("printf" in t for t in texts)  # OCR does read these frames
    for text in texts:
        assert aws not in text.replace(" ", "") and "aws_access_key" not in {h.label for h in find_hits(text)}
