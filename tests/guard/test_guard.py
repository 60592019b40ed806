"""Scope decisions of the guard, with hand-made window snapshots (pure; no display needed)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from workscribe import guard
from workscribe.events import make_event
from workscribe.guard import AppMatcher, Consent, ConsentError, Guard
from workscribe.sources.base import WindowInfo, WindowState

EDITOR = WindowInfo(1, "notes.txt - Code", "code", "Code", 10, "code", 0, 0, 800, 600)
CHAT = WindowInfo(2, "Private chat", "slack", "Slack", 11, "slack", 600, 100, 400, 400)


def _consent(apps: list[str], sources: tuple[str, ...] = ("input", "screen", "window")) -> Consent:
    return Consent("id", "2026-01-01T00:00:00+00:00", apps, list(sources))


class Clock:
    def __init__(self) -> None:
        self.t = 1_000

    def __call__(self) -> int:
        return self.t


def _key(t: int, code: int = 38, text: str = "a") -> dict:
    return make_event("input", "key_press", {"keycode": code, "key": text, "text": text, "mods": [],
                                             "x": 0, "y": 0}, t=t)


def test_app_matcher_matches_instance_class_or_process_case_insensitively() -> None:
    m = AppMatcher(["CODE", "firefox"])
    assert m.match(EDITOR) == "CODE"
    assert m.match(CHAT) is None
    assert m.match(WindowInfo(3, "", "x", "y", 1, "firefox", 0, 0, 1, 1)) == "firefox"
    assert AppMatcher(["*"]).match(CHAT) == "Slack"
    assert m.match(None) is None


def test_keys_follow_the_active_window_and_gaps_mark_what_was_dropped() -> None:
    clock = Clock()
    g = Guard(_consent(["code"]), now=clock)
    assert g.on_window(WindowState(EDITOR, (EDITOR, CHAT))) == []
    assert g.admit(_key(1_100)) == [_key(1_100)]
    clock.t = 2_000
    assert g.on_window(WindowState(CHAT, (EDITOR, CHAT))) == []
    assert g.status == "out of scope"
    assert g.admit(_key(2_100, 39, "s")) == []  # typed into the chat: dropped
    assert g.admit(make_event("window", "active", {"title": CHAT.title}, t=2_000)) == []
    clock.t = 3_000
    closed = g.on_window(WindowState(EDITOR, (CHAT, EDITOR)))
    assert closed == [make_event("guard", "gap", {"reason": "out_of_scope", "start": 2_000, "end": 3_000},
                                 t=3_000)]
    assert g.status == "recording"


def test_a_key_judged_late_is_judged_by_the_window_it_was_typed_into() -> None:
    clock = Clock()
    g = Guard(_consent(["code"]), now=clock)
    g.on_window(WindowState(CHAT, (EDITOR, CHAT)))
    clock.t = 2_000
    g.on_window(WindowState(EDITOR, (CHAT, EDITOR)))  # a click moved focus into the editor
    assert g.admit(_key(1_500, 39, "s")) == []  # typed into the chat before that, judged after: dropped
    assert g.admit(_key(2_100)) == [_key(2_100)]
    clock.t = 3_000
    g.on_window(WindowState(CHAT, (EDITOR, CHAT)))
    assert g.admit(_key(2_500, 40, "d")) == [_key(2_500, 40, "d")]  # typed into the editor: kept
    assert g.admit(_key(3_100, 41, "f")) == []
    login = WindowInfo(3, "Login - Code", "code", "Code", 10, "code", 0, 0, 800, 600)
    clock.t = 4_000
    g.on_window(WindowState(login, (CHAT, login)))
    clock.t = 5_000
    g.on_window(WindowState(EDITOR, (CHAT, EDITOR)))
    assert g.admit(_key(4_500, 42, "p")) == []  # typed into the login window: secure input
    marker, key = g.admit(_key(5_100, 43, "g"))  # the next kept key ends the secure run
    assert marker["kind"] == "secure_input" and marker["data"]["reason"] == "window_title"
    assert (marker["data"]["start"], marker["data"]["end"]) == (4_500, 4_500) and key == _key(5_100, 43, "g")


def test_pointer_over_another_app_is_dropped_and_its_release_too() -> None:
    g = Guard(_consent(["code"]), now=Clock())
    g.on_window(WindowState(EDITOR, (EDITOR, CHAT)))
    over_chat = {"button": 1, "x": 700, "y": 200}  # CHAT is on top there
    assert g.admit(make_event("input", "button_press", over_chat, t=5)) == []
    assert g.admit(make_event("input", "button_release", over_chat, t=6)) == []
    over_editor = {"button": 1, "x": 100, "y": 100}
    assert len(g.admit(make_event("input", "button_press", over_editor, t=7))) == 1
    # a drag that leaves the allowed window keeps its motion and release
    assert len(g.admit(make_event("input", "motion", {"x": 700, "y": 200}, t=8))) == 1
    assert len(g.admit(make_event("input", "button_release", {"button": 1, "x": 700, "y": 200}, t=9))) == 1
    assert g.admit(make_event("input", "motion", {"x": 700, "y": 200}, t=10)) == []


def test_a_kept_press_or_scroll_names_the_window_under_the_pointer() -> None:
    g = Guard(_consent(["code", "slack"]), now=Clock())
    g.on_window(WindowState(EDITOR, (EDITOR, CHAT)))  # the editor is active, the chat on top of it
    [press] = g.admit(make_event("input", "button_press", {"button": 1, "x": 700, "y": 200}, t=5))
    assert press["data"] == {"button": 1, "x": 700, "y": 200,
                             "window": {"id": CHAT.id, "title": "Private chat", "app": "slack"}}
    [scroll] = g.admit(make_event("input", "scroll", {"dx": 0, "dy": 1, "x": 100, "y": 100}, t=6))
    assert scroll["data"]["window"] == {"id": EDITOR.id, "title": EDITOR.title, "app": "code"}
    [release] = g.admit(make_event("input", "button_release", {"button": 1, "x": 700, "y": 200}, t=7))
    assert "window" not in release["data"]
    no_titles = Guard(_consent(["code"], ("input", "screen")), now=Clock())  # window titles not granted
    no_titles.on_window(WindowState(EDITOR, (EDITOR,)))
    [press] = no_titles.admit(make_event("input", "button_press", {"button": 1, "x": 5, "y": 5}, t=8))
    assert "window" not in press["data"]


def test_click_that_activates_an_allowed_window_is_kept_and_ends_the_gap() -> None:
    clock = Clock()
    g = Guard(_consent(["code"]), now=clock)
    g.on_window(WindowState(CHAT, (EDITOR, CHAT)))
    out = g.admit(make_event("input", "button_press", {"button": 1, "x": 50, "y": 50}, t=4_000))
    assert [e["kind"] for e in out] == ["gap", "button_press"]
    assert out[0]["data"]["end"] == 3_999


def test_pause_drops_everything_and_leaves_one_gap() -> None:
    clock = Clock()
    g = Guard(_consent(["code"]), now=clock)
    g.on_window(WindowState(EDITOR, (EDITOR,)))
    clock.t = 2_000
    assert g.set_paused(True) == []
    assert g.status == "paused"
    assert g.admit(_key(2_500)) == []
    assert g.frame_regions() is None
    clock.t = 3_000
    assert [e["data"]["reason"] for e in g.set_paused(False)] == ["paused"]
    assert g.admit(_key(3_500)) == [_key(3_500)]


def test_frame_regions_black_out_other_apps_in_stacking_order() -> None:
    g = Guard(_consent(["code"]), now=Clock())
    g.on_window(WindowState(EDITOR, (EDITOR, CHAT)))
    assert g.frame_regions() == [((0, 0, 800, 600), True), ((600, 100, 400, 400), False)]
    g.on_window(WindowState(CHAT, (EDITOR, CHAT)))
    assert g.frame_regions() is None


def test_window_events_carry_the_app_and_are_not_kept_without_the_window_source() -> None:
    g = Guard(_consent(["code"]), now=Clock())
    g.on_window(WindowState(EDITOR, (EDITOR,)))
    ev = make_event("window", "active", {"title": EDITOR.title}, t=1)
    assert g.admit(ev)[0]["data"]["app"] == "code"
    g2 = Guard(_consent(["code"], ("input", "screen")), now=Clock())
    g2.on_window(WindowState(EDITOR, (EDITOR,)))
    assert g2.admit(ev) == []


def test_consent_is_validated_stored_owner_only_and_revocable(tmp_path: Path) -> None:
    with pytest.raises(ConsentError, match="unknown source"):
        guard.grant(["code"], ["input", "webcam"], home=tmp_path)
    with pytest.raises(ConsentError, match="no apps"):
        guard.grant([], ["input"], home=tmp_path)
    consent = guard.grant(["code", "xterm"], ["window", "input"], home=tmp_path)
    assert consent.sources == ["input", "window"]
    assert (tmp_path / guard.CONSENT_FILE).stat().st_mode & 0o777 == 0o600
    assert (tmp_path / guard.DEVICE_KEY_FILE).stat().st_mode & 0o777 == 0o600
    import getpass

    assert getpass.getuser() not in (tmp_path / guard.CONSENT_FILE).read_text()
    assert guard.require(tmp_path).apps == ["code", "xterm"]
    guard.revoke(tmp_path)
    with pytest.raises(ConsentError, match="revoked"):
        guard.require(tmp_path)


def test_pseudonym_depends_on_the_key() -> None:
    assert guard.pseudonym("ana", b"k1") == guard.pseudonym("ana", b"k1")
    assert guard.pseudonym("ana", b"k1") != guard.pseudonym("ana", b"k2")
    assert "ana" not in guard.pseudonym("ana", b"k1")


def test_a_login_page_watched_by_the_browser_source_is_secure_only_in_its_password_field() -> None:
    consent = Consent("id", "2026-01-01T00:00:00+00:00", ["Chromium"],
                      ["input", "screen", "window", "browser"], sites=["file:///*"])
    g = Guard(consent, now=Clock())
    page = WindowInfo(id=7, title="Login User Task - Chromium", instance="chromium", cls="Chromium", pid=1,
                      process="chromium", x=0, y=0, w=400, h=330)
    g.on_window(WindowState(active=page, stacking=[page]))
    assert g.admit(_key(2_000)) == []  # page not known yet: out of scope
    g.on_page(7, True)
    assert [e["kind"] for e in g.admit(_key(3_000))] == ["key_press"]  # the user name field: kept
    assert g.admit(_key(4_000), secure="password_field") == []  # the password field: secure
    other = WindowInfo(id=8, title="Login - Passwords", instance="xterm", cls="XTerm", pid=2, process="bash",
                       x=0, y=0, w=400, h=330)
    g2 = Guard(_consent(["xterm"]), now=Clock())
    g2.on_window(WindowState(active=other, stacking=[other]))
    assert g2.admit(_key(2_000)) == []  # elsewhere the title rule stands


def _git_repo(path: Path) -> Path:
    import subprocess

    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


@pytest.fixture
def home_is_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """$HOME is ``tmp_path``: what is made in it is under the contributor's home folder."""
    from workscribe.redact.identity import device_identity

    monkeypatch.setenv("HOME", str(tmp_path.resolve()))
    device_identity.cache_clear()  # the identity is read once per process: again with this HOME...
    yield tmp_path.resolve()
    device_identity.cache_clear()  # ...and with the real one after


def test_coding_sources_need_repos_that_are_git_work_trees_and_no_apps(tmp_path: Path,
                                                                       home_is_tmp_path: Path) -> None:
    repo = _git_repo(tmp_path / "app")
    with pytest.raises(ConsentError, match="need repos"):
        guard.grant([], ["shell"], home=tmp_path)
    with pytest.raises(ConsentError, match="not a git work tree"):
        guard.grant([], ["files"], home=tmp_path, repos=[str(tmp_path)])
    with pytest.raises(ConsentError, match="not a folder"):
        guard.grant([], ["git"], home=tmp_path, repos=[str(tmp_path / "nope")])
    with pytest.raises(ConsentError, match="shell-output adds output"):
        guard.grant([], ["shell-output", "files"], home=tmp_path, repos=[str(repo)])
    with pytest.raises(ConsentError, match="--repos scopes"):
        guard.grant(["xterm"], ["input"], home=tmp_path, repos=[str(repo)])
    consent = guard.grant([], ["shell", "files", "git"], home=tmp_path, repos=[str(repo / ".")])
    assert consent.repos == [str(repo.resolve())] and not consent.gui
    assert Guard(consent).status == "recording"  # no window scope without display sources
    scope = consent.scope()  # stored in every segment header: the repo as ~/app, no home path
    assert scope["repos"] == ["~/app"] and str(home_is_tmp_path) not in json.dumps(scope)


def _shell(t: int, cwd: str, cwd_after: str | None = None, start: int | None = None) -> dict:
    return make_event("shell", "command", {"text": "make", "cwd": cwd, "cwd_after": cwd_after or cwd,
                                           "start": t - 5 if start is None else start, "end": t}, t=t)


def test_commands_are_kept_only_inside_granted_repos_and_never_across_a_pause(tmp_path: Path) -> None:
    repo = _git_repo(tmp_path / "app")
    consent = Consent(contributor_id="c", granted_at="-", apps=[], sources=["shell", "git"],
                      repos=[str(repo)])
    clock = Clock()
    g = Guard(consent, now=clock)
    assert g.admit(_shell(10, str(repo / "src")))
    assert g.admit(_shell(11, str(tmp_path), cwd_after=str(repo)))  # `cd app` counts
    assert g.admit(_shell(12, str(tmp_path))) == []
    assert g.admit(_shell(13, str(tmp_path) + "/app-other")) == []  # a prefix is not inside
    clock.t = 100
    g.set_paused(True)
    clock.t = 200
    g.set_paused(False)
    assert g.admit(_shell(250, str(repo), start=150)) == []  # it ran while the pause began... or ended
    assert g.admit(_shell(90, str(repo), start=50)) != []
    assert g.admit(make_event("git", "commit", {"repo": "~/app"}, t=150)) == []
    assert g.admit(make_event("git", "commit", {"repo": "~/app"}, t=201)) != []
