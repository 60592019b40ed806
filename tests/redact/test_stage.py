"""The one redaction stage: every source has a rule, and no event passes without one."""

from __future__ import annotations

from workscribe.guard import SOURCES
from workscribe.redact.identity import find_private
from workscribe.redact.keystrokes import KeystrokeRedactor
from workscribe.redact.stage import RULES, RedactionStage

AWS = "AKIAQ3MOCKKEY7EXAMPL"


def _stage() -> RedactionStage:
    return RedactionStage(KeystrokeRedactor(find_private))


def test_every_source_a_consent_can_name_has_a_rule() -> None:
    emitted = {"shell" if s == "shell-output" else s for s in SOURCES}  # output is part of shell events
    assert emitted <= set(RULES), emitted - set(RULES)
    assert all(rule.fields for rule in RULES.values())


def test_an_event_of_a_source_without_a_rule_is_not_stored() -> None:
    stage = _stage()
    out = stage.events([{"t": 1, "source": "clipboard", "kind": "copy", "data": {"text": AWS}}])
    assert out == [] and stage.refused == {"clipboard": 1}


def test_titles_pages_and_commands_are_redacted_and_typed_text_waits_for_its_run() -> None:
    stage = _stage()
    window = {"t": 1, "source": "window", "kind": "active", "data": {"title": f"notes {AWS} - vim"}}
    click = {"t": 2, "source": "input", "kind": "button_press",
             "data": {"button": 1, "x": 3, "y": 4, "window": {"id": 7, "title": "mail jane.doe@example.org",
                                                            "app": "xterm"}}}
    page = {"t": 3, "source": "browser", "kind": "page", "data": {"url": f"https://x.org/?key={AWS}",
                                                                  "title": "t"}}
    shell = {"t": 4, "source": "shell", "kind": "command",
             "data": {"text": f"export AWS_ACCESS_KEY_ID={AWS}", "cwd": "/tmp", "exit_code": 0}}
    out = stage.events([window, click, page, shell])
    text = repr(out)
    assert AWS not in text and "jane.doe" not in text
    assert "<SECRET:aws_access_key>" in text and "<EMAIL>" in text
    keys = [{"t": 10 + i, "source": "input", "kind": kind, "data": {"key": c, "text": c, "keycode": 38}}
            for i, (c, kind) in enumerate((c, k) for c in AWS for k in ("key_press", "key_release"))]
    assert stage.events(keys) == []  # held: the run of typing has not ended
    released = stage.flush()
    assert AWS not in repr(released) and any(e["kind"] == "text" for e in released)
