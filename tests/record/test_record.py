"""The recorder against the real thing: Xvfb + openbox, xterm windows, xdotool input, the real CLI."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from helpers import run_cli, spool_bytes, spool_events, wait_for
from workscribe.envs.demonstrator import HumanDemonstrator
from workscribe.envs.xdisplay import XDisplay, open_window, xdotool
from workscribe.spool import format as fmt
from workscribe.spool.reader import Spool

pytestmark = pytest.mark.x11

ALLOWED = "allowedterm"  # xterm -name: WM_CLASS instance; the process name `xterm` is not allowed


def _grant(env: dict[str, str], apps: str = ALLOWED, sources: str = "input,screen,window") -> None:
    r = run_cli("consent", "grant", "--apps", apps, "--sources", sources, "--yes", env=env)
    assert r.returncode == 0, r.stderr


def _xterm(d: XDisplay, name: str, geometry: str) -> tuple:
    return open_window(d.name, "xterm", "-name", name, "-geometry", geometry, wm_class=name)


def _geometry(d: XDisplay, wid: int) -> tuple[int, int, int, int]:
    out = xdotool(d.name, "getwindowgeometry", "--shell", str(wid))
    v = dict(line.split("=") for line in out.split())
    return int(v["X"]), int(v["Y"]), int(v["WIDTH"]), int(v["HEIGHT"])


def _actions(out: Path, env: dict[str, str]) -> list[dict]:
    r = run_cli("actions", str(out), "--json", env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _typed_on_disk(out: Path) -> str:
    """The text of the key presses in the spool files as they are now (a recorder may be writing)."""
    return "".join(e["data"].get("text") or "" for e in spool_events(out) if e["kind"] == "key_press")


def _kill_procs(*procs) -> None:
    for p in procs:
        p.kill()
        p.wait()


def test_actions_match_ground_truth(xdisplay: XDisplay, recorder) -> None:
    term, wid = _xterm(xdisplay, ALLOWED, "100x30+40+40")
    try:
        _grant(recorder.env)
        rec = recorder()
        x, y, w, h = _geometry(xdisplay, wid)
        demo = HumanDemonstrator(xdisplay.name, seed=3, cps=10)
        cx, cy = x + w // 2, y + h // 2
        demo.click(cx, cy)
        demo.type_text("echo héłlo wörld")
        demo.key("Return")
        demo.double_click(x + 60, y + 20)
        demo.drag(x + 40, y + 60, x + 240, y + 62)
        demo.scroll(cx, cy, 3)
        demo.hotkey("ctrl+shift+t")
        demo.right_click(cx + 30, cy + 10)
        xdotool(xdisplay.name, "key", "Escape")  # close xterm's menu, not part of the truth
        code, _, err = rec.stop()  # at once: a clean stop drains the input the server has delivered
        assert code == 0, err
    finally:
        _kill_procs(term)
    actions = [a for a in _actions(rec.out, recorder.env) if a["keys"] != "escape"]
    truth = demo.truth
    assert [a["type"] for a in actions] == [t["type"] for t in truth]
    for got, want in zip(actions, truth, strict=True):
        for key in ("text", "keys", "button", "dx", "dy"):
            if want.get(key) is not None:
                assert got[key] == want[key], (key, got, want)
        for kx, ky in (("x", "y"), ("x2", "y2")):
            if want.get(kx) is not None:
                assert math.dist((got[kx], got[ky]), (want[kx], want[ky])) <= 2, (got, want)
        assert got["app"] == ALLOWED
        assert got["frame_before"] is not None
    summary = Spool(rec.out).summary()
    assert summary["frames"] > 0 and summary["complete_segments"] == 1


def test_kill_9_loses_at_most_the_last_second(xdisplay: XDisplay, recorder) -> None:
    term, wid = _xterm(xdisplay, ALLOWED, "80x20+40+40")
    try:
        _grant(recorder.env)
        rec = recorder()
        x, y, w, h = _geometry(xdisplay, wid)
        xdotool(xdisplay.name, "mousemove", str(x + 50), str(y + 50), "click", "--delay", "0", "1")
        xdotool(xdisplay.name, "type", "--delay", "30", "survives the crash")
        # Typed text is held in memory until its run ends (a 1 s pause), then redacted and written
        # within 0.25 s, and flushed to the OS within 0.25 s more: in the file (what a kill -9 keeps)
        # within 1.6 s of the last key on an idle machine; the deadline leaves room for a loaded one
        # (the latency itself is measured by `workscribe bench record`, not by a timed test).
        wait_for(lambda: _typed_on_disk(rec.out) == "survives the crash", timeout=6.0,
                 what="the typed text in the spool file")
        rec.kill9()
    finally:
        _kill_procs(term)
    spool = Spool(rec.out)
    assert not spool.segments[0].complete  # no footer: it really died
    types = [a["text"] for a in _actions(rec.out, recorder.env) if a["type"] == "type"]
    assert types == ["survives the crash"]
    # A new recording into the same folder works and both read back.
    rec2 = recorder()
    rec2.stop()
    assert len(Spool(rec.out).segments) == 2


def test_quota_evicts_oldest_closed_segments(xdisplay: XDisplay, recorder) -> None:
    term, wid = _xterm(xdisplay, ALLOWED, "80x20+40+40")
    try:
        _grant(recorder.env)
        rec = recorder("--segment-seconds", "0.5", "--quota", "20KB")
        x, y, _, _ = _geometry(xdisplay, wid)
        demo = HumanDemonstrator(xdisplay.name, seed=1, cps=12)
        for i in range(6):
            demo.click(x + 40 + 10 * i, y + 40)
            demo.type_text(f"ls -la /tmp {i}")
            demo.key("Return")
        code, _, err = rec.stop()
    finally:
        _kill_procs(term)
    assert code == 0
    assert re.search(r"evicted seg-\S+ \(\d+ bytes\)", err), err
    segments = sorted(rec.out.glob(fmt.SEGMENT_GLOB))
    sizes = [p.stat().st_size for p in segments]
    assert sum(sizes[:-1]) <= 20_000  # all but the segment being written fit the quota
    kinds = {e["kind"] for seg in Spool(rec.out).segments for e in seg.events()}
    assert "evicted" in kinds


def test_record_refuses_without_consent(ws_home: Path, xdisplay: XDisplay, tmp_path: Path) -> None:
    env = {**xdisplay.env, "WORKSCRIBE_HOME": str(ws_home)}
    r = run_cli("record", "--out", str(tmp_path / "s"), "--duration", "1", env=env)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "no consent" in r.stderr
    assert not (tmp_path / "s").exists()
    _grant(env)
    assert run_cli("consent", "revoke", env=env).returncode == 0
    r = run_cli("record", "--out", str(tmp_path / "s"), "--duration", "1", env=env)
    assert r.returncode == 2 and "revoked" in r.stderr
    shown = json.loads(run_cli("consent", "show", "--json", env=env).stdout)
    assert shown["revoked_at"] and shown["apps"] == [ALLOWED]


def test_out_of_scope_window_leaves_no_trace(xdisplay: XDisplay, recorder) -> None:
    secret = "Zq7SECRETnotes"
    allowed, aw = _xterm(xdisplay, ALLOWED, "60x20+10+10")
    other, ow = _xterm(xdisplay, "secretterm", "60x20+620+300")
    try:
        _grant(recorder.env)
        rec = recorder()
        ox, oy, owd, oht = _geometry(xdisplay, ow)
        ax, ay, _, _ = _geometry(xdisplay, aw)
        xdotool(xdisplay.name, "mousemove", str(ox + 40), str(oy + 40), "click", "--delay", "0", "1")
        xdotool(xdisplay.name, "windowactivate", "--sync", str(ow))
        xdotool(xdisplay.name, "type", "--delay", "20", f"echo {secret}")
        xdotool(xdisplay.name, "key", "Return")
        rec.wait_status("the other window out of scope", lambda s: s["state"] == "out of scope")
        assert rec.control("status")["state"] == "out of scope"
        xdotool(xdisplay.name, "mousemove", str(ax + 30), str(ay + 30), "click", "--delay", "0", "1")
        rec.wait_status("the allowed window back in scope", lambda s: s["state"] == "recording")
        xdotool(xdisplay.name, "type", "--delay", "20", "visible")
        assert rec.control("status")["state"] == "recording"
        code, _, err = rec.stop()
        assert code == 0, err
    finally:
        _kill_procs(allowed, other)
    blob = spool_bytes(rec.out)
    assert secret.encode() not in blob and b"secretterm" not in blob
    assert ALLOWED.encode() in blob  # the same check does see what was in scope
    spool = Spool(rec.out)
    events = list(spool.iter_events(spool.recordings()[0]))
    gaps = [e["data"] for e in events if e["kind"] == "gap"]
    assert gaps and gaps[0]["reason"] == "out_of_scope" and gaps[0]["end"] > gaps[0]["start"]
    keys = [e for e in events if e["kind"] == "key_press"]
    assert all(not (g["start"] <= k["t"] <= g["end"]) for g in gaps for k in keys)
    assert "".join(k["data"]["text"] or "" for k in keys) == "visible"
    refs = [e["data"]["ref"] for e in events if e["kind"] == "frame"]
    frames = spool.frames(refs)
    assert frames
    for image in frames.values():  # the other app's window is black in every stored frame
        region = image[oy + 5:oy + oht - 5, ox + 5:ox + owd - 5]
        assert int(region.max()) == 0
    assert any(int(img.max()) > 0 for img in frames.values())


def test_keys_typed_just_before_a_click_are_judged_by_the_window_they_were_typed_into(
        xdisplay: XDisplay, recorder) -> None:
    """Keys into a terminal wait 80 ms for its echo check; a click that moves focus meanwhile must not
    change where they were typed: keys typed into the out-of-scope terminal and followed at once by a
    click into the granted one are not kept, and keys typed into the granted one and followed at once
    by a click into the other are."""
    allowed, aw = _xterm(xdisplay, ALLOWED, "60x20+10+10")
    other, ow = _xterm(xdisplay, "secretterm", "60x20+620+300")
    try:
        _grant(recorder.env)
        rec = recorder()
        ox, oy, _, _ = _geometry(xdisplay, ow)
        ax, ay, _, _ = _geometry(xdisplay, aw)
        xdotool(xdisplay.name, "mousemove", str(ox + 40), str(oy + 40), "click", "--delay", "0", "1")
        rec.wait_status("the other window out of scope", lambda s: s["state"] == "out of scope")
        for _ in range(3):  # the race is won in a few ms: try it more than once
            into_granted = f"xdotool mousemove {ax + 30} {ay + 30} click --delay 0 1"
            subprocess.run(["bash", "-c", f"xdotool type --delay 0 qzx; {into_granted}"],
                           env={**os.environ, "DISPLAY": xdisplay.name}, check=True)
            rec.wait_status("the granted window in scope", lambda s: s["state"] == "recording")
            into_other = f"xdotool mousemove {ox + 40} {oy + 40} click --delay 0 1"
            subprocess.run(["bash", "-c", f"xdotool type --delay 20 ok; {into_other}"],
                           env={**os.environ, "DISPLAY": xdisplay.name}, check=True)
            rec.wait_status("the other window out of scope", lambda s: s["state"] == "out of scope")
        code, _, err = rec.stop()
        assert code == 0, err
    finally:
        _kill_procs(allowed, other)
    spool = Spool(rec.out)
    events = list(spool.iter_events(spool.recordings()[0]))
    typed = "".join(e["data"]["text"] or "" for e in events if e["kind"] == "key_press")
    assert typed == "okokok"


def test_pause_and_resume(xdisplay: XDisplay, recorder) -> None:
    term, wid = _xterm(xdisplay, ALLOWED, "80x20+40+40")
    try:
        _grant(recorder.env)
        rec = recorder()
        x, y, _, _ = _geometry(xdisplay, wid)
        xdotool(xdisplay.name, "mousemove", str(x + 50), str(y + 50), "click", "--delay", "0", "1")
        xdotool(xdisplay.name, "type", "--delay", "20", "before ")
        assert rec.control("pause")["state"] == "paused"
        assert rec.control("status")["state"] == "paused"
        # keys are stamped with the X server's time, so those typed before `resume` returns are in the
        # pause however late the recorder reads them; `resume` ends the typing run (a gap)
        xdotool(xdisplay.name, "type", "--delay", "20", "HIDDENWORD")
        assert rec.control("resume")["state"] == "recording"
        xdotool(xdisplay.name, "type", "--delay", "20", "after")
        code, _, _ = rec.stop()
        assert code == 0
    finally:
        _kill_procs(term)
    assert b"HIDDENWORD" not in spool_bytes(rec.out)
    texts = [a["text"] for a in _actions(rec.out, recorder.env) if a["type"] == "type"]
    assert texts == ["before ", "after"]
    spool = Spool(rec.out)
    gaps = [e["data"] for e in spool.iter_events(spool.recordings()[0]) if e["kind"] == "gap"]
    assert [g["reason"] for g in gaps] == ["paused"]


def test_motion_is_thinned_but_presses_keep_their_position(xdisplay: XDisplay, recorder) -> None:
    term, wid = _xterm(xdisplay, ALLOWED, "100x30+20+20")
    try:
        _grant(recorder.env)
        rec = recorder()
        x, y, _, _ = _geometry(xdisplay, wid)
        chain = []
        for i in range(200):  # 200 moves in about 0.2 s: far above 60 Hz
            chain += ["mousemove", str(x + 10 + i), str(y + 10 + i // 2), "sleep", "0.001"]
        xdotool(xdisplay.name, *chain, "click", "--delay", "0", "1")
        assert rec.stop()[0] == 0  # at once: a clean stop drains the input the server has delivered
    finally:
        _kill_procs(term)
    spool = Spool(rec.out)
    events = list(spool.iter_events(spool.recordings()[0]))
    motion = [e["t"] for e in events if e["kind"] == "motion"]
    assert 3 <= len(motion) < 60
    # at most 60 Hz, except the last position before the press, which is never thinned away
    assert min(np.diff(motion[:-1])) >= 16_000_000
    press = next(e for e in events if e["kind"] == "button_press")
    last = [e for e in events if e["kind"] == "motion"][-1]
    assert last["t"] <= press["t"] and (last["data"]["x"], last["data"]["y"]) == (x + 209, y + 109)
    assert (press["data"]["x"], press["data"]["y"]) == (x + 209, y + 10 + 199 // 2)


def test_bad_spool_folder_gives_one_line_and_exit_2(tmp_path: Path) -> None:
    for args in (["inspect", str(tmp_path / "missing")], ["actions", str(tmp_path), "--json"]):
        r = run_cli(*args)
        assert r.returncode == 2 and r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1
        assert "Traceback" not in r.stderr
    (tmp_path / "seg-20260101T000000-00000000-00001.wss").write_bytes(b"\x00" * 100)
    r = run_cli("inspect", str(tmp_path), "--json")
    assert r.returncode == 2 and "no readable" in r.stderr


@pytest.mark.x11
def test_task_marks_cut_episodes_and_their_titles_are_redacted(xdisplay: XDisplay, recorder) -> None:
    from workscribe.export.source import iter_episodes, open_dataset

    term, wid = _xterm(xdisplay, ALLOWED, "80x20+40+40")
    try:
        _grant(recorder.env)
        rec = recorder()
        r = run_cli("task", "end", env=recorder.env)
        assert r.returncode == 2 and "no task is open" in r.stderr and len(r.stderr.splitlines()) == 1
        r = run_cli("task", "start", "Reply to jane.doe@example.com", "--ticket", "OPS-7", "--json",
                    env=recorder.env)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["task"] == "Reply to <EMAIL>"
        x, y, _, _ = _geometry(xdisplay, wid)
        xdotool(xdisplay.name, "mousemove", str(x + 50), str(y + 50), "click", "--delay", "0", "1")
        xdotool(xdisplay.name, "type", "--delay", "30", "ls")
        # the keys carry the X server's time, before the mark `task end` sets when it returns
        assert run_cli("task", "end", "--success", env=recorder.env).returncode == 0
        xdotool(xdisplay.name, "mousemove", str(x + 90), str(y + 90), "click", "--delay", "0", "1")
        assert rec.stop()[0] == 0
    finally:
        _kill_procs(term)
    assert b"jane.doe" not in spool_bytes(rec.out)
    episodes = list(iter_episodes(open_dataset([rec.out])))
    assert [(e["task"], e["ticket"], e["outcome"], e["cut"]) for e in episodes] == [
        ("Reply to <EMAIL>", "OPS-7", "success", "task_end"), (None, None, None, "recording_end")]
    assert [s["type"] for s in episodes[0]["steps"]] == ["click", "type"]
    assert [s["type"] for s in episodes[1]["steps"]] == ["click"]


def test_a_source_whose_thread_dies_is_restarted_and_its_gap_recorded(
        xdisplay: XDisplay, ws_home: Path, tmp_path: Path) -> None:
    """The input source's RECORD connection fails under a real recorder: the recorder notices, says
    so in status and the log, restarts the source, records the gap, and input is recorded again."""
    import socket
    import threading

    from workscribe import guard, paths
    from workscribe.process.reduce import reduce_actions
    from workscribe.record.control import request
    from workscribe.record.recorder import Recorder, RecordOptions
    from workscribe.sources.x11.input import X11InputSource

    env = {**xdisplay.env, "WORKSCRIBE_HOME": str(ws_home)}
    _grant(env, sources="input,window")
    term, wid = _xterm(xdisplay, ALLOWED, "80x20+40+40")
    logs: list[str] = []
    rec = Recorder(guard.require(), RecordOptions(out=tmp_path / "spool", display=xdisplay.name),
                   log=logs.append)
    summary: dict = {}
    runner = threading.Thread(target=lambda: summary.update(rec.run()), daemon=True)
    runner.start()
    seen: list[str] = []

    def input_health() -> str:
        seen.append(request("status", paths.control_socket(ws_home))["sources"]["input"])
        return seen[-1]

    try:
        wait_for(lambda: rec.ready, timeout=15, what="the recorder's start")
        assert input_health() == "ok"
        source = next(s for s in rec.sources if isinstance(s, X11InputSource))
        source._rec.display.socket.shutdown(socket.SHUT_RDWR)  # its RECORD connection fails
        wait_for(lambda: input_health() == "restarting", timeout=15, what="status 'restarting'")
        wait_for(lambda: input_health() == "ok", timeout=15, what="status 'ok' again")
        assert next(s for s in rec.sources if isinstance(s, X11InputSource)) is not source
        status = json.loads(run_cli("status", "--json", env=env).stdout)
        assert status["sources"] == {"window": "ok", "echo": "ok", "input": "ok"}
        x, y, _, _ = _geometry(xdisplay, wid)
        written = rec.status()["events"]
        xdotool(xdisplay.name, "mousemove", str(x + 50), str(y + 50), "click", "--delay", "0", "1")
        # motion, press and release
        wait_for(lambda: rec.status()["events"] >= written + 3, timeout=15,
                 what="the click in the spool")
    finally:
        rec.request_stop()
        runner.join(timeout=30)
        _kill_procs(term)
    assert not runner.is_alive() and summary["stop_reason"] == "stopped"
    stopped = [line for line in logs if line.startswith("input source stopped")]
    assert len(stopped) == 1 and "ConnectionClosedError" in stopped[0], logs
    assert sum(line.startswith("input source is back after ") for line in logs) == 1, logs
    spool = Spool(rec.options.out)
    events = list(spool.iter_events(spool.recordings()[0]))
    [gap] = [e for e in events if e["kind"] == "source_gap"]
    assert gap["source"] == "recorder" and gap["data"]["source"] == "input"
    assert gap["data"]["start"] < gap["data"]["end"] == gap["t"]
    assert gap["data"]["reason"].startswith("ConnectionClosedError")
    presses = [e for e in events if e["kind"] == "button_press"]
    assert presses and all(p["t"] > gap["t"] for p in presses)  # recorded again after the gap
    assert [a["type"] for a in reduce_actions(events)] == ["click"]


def test_a_click_that_activates_another_window_belongs_to_that_window(xdisplay: XDisplay, recorder) -> None:
    title = "notes of jane.doe@example.com"
    left, left_id = open_window(xdisplay.name, "xterm", "-name", "leftterm", "-title", "left shell",
                                "-geometry", "60x20+10+10", wm_class="leftterm")
    right, right_id = open_window(xdisplay.name, "xterm", "-name", "rightterm", "-title", title,
                                  "-geometry", "60x20+620+10", wm_class="rightterm")

    def click_into(wid: int) -> None:
        x, y, w, h = _geometry(xdisplay, wid)
        xdotool(xdisplay.name, "mousemove", str(x + w // 2), str(y + h // 2), "click", "--delay", "0", "1")
        wait_for(lambda: xdotool(xdisplay.name, "getactivewindow", check=False).strip() == str(wid),
                 timeout=15, what="the click's activation")

    try:
        _grant(recorder.env, apps="leftterm,rightterm", sources="input,window")
        xdotool(xdisplay.name, "windowactivate", "--sync", str(left_id))
        rec = recorder()
        click_into(right_id)
        click_into(left_id)
        # three window/active events and a press and release per click (motions are thinned, and a
        # loaded machine may merge them: not counted)
        rec.wait_status("the clicks in the spool", lambda s: s["events"] >= 7, timeout=15)
        code, _, err = rec.stop()
        assert code == 0, err
    finally:
        _kill_procs(left, right)
    spool = Spool(rec.out)
    events = list(spool.iter_events(spool.recordings()[0]))
    presses = [e for e in events if e["kind"] == "button_press"]
    assert [p["data"]["window"] for p in presses] == [
        {"id": right_id, "title": "notes of <EMAIL>", "app": "rightterm"},
        {"id": left_id, "title": "left shell", "app": "leftterm"}]
    active = [e["data"]["app"] for e in events if e["source"] == "window" and e["t"] <= presses[0]["t"]]
    assert active[-1] == "leftterm"  # the active window when the first click came: not the one clicked
    assert b"jane.doe" not in spool_bytes(rec.out)
    actions = _actions(rec.out, recorder.env)
    assert [(a["type"], a["app"], a["window"]) for a in actions] == [
        ("click", "rightterm", "notes of <EMAIL>"), ("click", "leftterm", "left shell")]
