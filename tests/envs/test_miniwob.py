"""MiniWoB++ in a real Chromium on Xvfb: seeded resets, OS-level input, the demonstrator, collect.

Everything runs for real: Xvfb + openbox, Chromium 156 with chromedriver (apt), miniwob 1.1.0,
xdotool input, the recorder and the hf export. Nothing is mocked.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import run_cli, wait_for
from workscribe.envs.chromium import ChromiumLauncher
from workscribe.envs.xdisplay import XDisplay, missing_programs, xdotool

TASKS = ("click-test", "click-button", "click-link", "click-dialog", "focus-text", "enter-text",
         "login-user", "click-checkboxes")


def _require_browser() -> None:
    missing = missing_programs() + [p for p in ("/usr/bin/chromium", "/usr/bin/chromedriver")
                                    if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"programs missing: {missing}; run `make setup`")


@pytest.fixture(scope="module")
def display() -> Iterator[XDisplay]:
    """One Xvfb + openbox for this module's browser tests (each test opens and closes its own browser)."""
    _require_browser()
    d = XDisplay(640, 480)
    try:
        yield d.start()
    finally:
        d.stop()


@pytest.fixture
def env_for(display: XDisplay) -> Iterator:
    """Opens MiniWobEnv(task) on the module's display; every one opened is closed after the test."""
    from workscribe.envs.miniwob import MiniWobEnv

    opened: list[MiniWobEnv] = []

    def open_env(task: str) -> MiniWobEnv:
        opened.append(MiniWobEnv(task, display))
        return opened[-1]

    try:
        yield open_env
    finally:
        for env in opened:
            env.close()


# -- the launcher script (no browser needed) -------------------------------------------------------


def test_launcher_script_rewrites_the_browser_arguments(tmp_path: Path) -> None:
    fake = tmp_path / "fake-browser"
    fake.write_text('#!/bin/sh\necho "DISPLAY=$DISPLAY"\nfor a do echo "$a"; done\n')
    fake.chmod(0o755)
    with ChromiumLauncher(":77", (420, 340), browser=str(fake), chromedriver="/bin/true") as launcher:
        folder = launcher.folder
        assert folder is not None and (folder.stat().st_mode & 0o777) == 0o700
        assert launcher.env == {"MINIWOB_CHROME_BINARY": str(launcher.script),
                                "MINIWOB_CHROMEDRIVER": "/bin/true"}

        def args(*given: str) -> list[str]:
            out = subprocess.run([str(launcher.script), *given], capture_output=True, text=True,
                                 env={"PATH": os.environ["PATH"]}, check=True)
            return out.stdout.splitlines()

        # as chromedriver starts it: its own port and profile are kept, automation and any address dropped
        got = args("--enable-automation", "--remote-debugging-port=0", "--user-data-dir=/tmp/x",
                   "--remote-debugging-address=0.0.0.0", "--app=file:///a b.html")
        assert got[0] == "DISPLAY=:77"
        assert "--enable-automation" not in got and "--remote-debugging-address=0.0.0.0" not in got
        for flag in ("--no-sandbox", "--force-device-scale-factor=1", "--window-position=0,0",
                     "--window-size=420,340", "--remote-debugging-address=127.0.0.1",
                     "--remote-debugging-port=0", "--user-data-dir=/tmp/x", "--app=file:///a b.html"):
            assert got.count(flag) == 1, flag
        # started by hand: remote debugging on an OS-chosen loopback port, with a private profile
        got = args("--app=file:///x.html")
        assert "--remote-debugging-port=0" in got
        assert f"--user-data-dir={folder / 'profile'}" in got
    assert not folder.exists()


# -- the environment ------------------------------------------------------------------------------


@pytest.mark.x11
@pytest.mark.slow
def test_reset_is_deterministic_for_a_seed(env_for) -> None:
    env = env_for("click-button")
    first = env.reset(seed=11)
    other = env.reset(seed=12)
    again = env.reset(seed=11)
    assert first.instruction.startswith('Click on the "') and first.instruction == again.instruction
    layout = [(e.tag, e.text, e.box) for e in first.elements]
    assert layout == [(e.tag, e.text, e.box) for e in again.elements]
    assert layout != [(e.tag, e.text, e.box) for e in other.elements]
    assert not env.done() and again.seed == 11


def _listening_address(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp) with a listening TCP socket on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


@pytest.mark.x11
@pytest.mark.slow
def test_an_os_level_click_on_the_button_solves_click_test(display: XDisplay, env_for) -> None:
    env = env_for("click-test")
    obs = env.reset(seed=3)
    assert obs.instruction == "Click the button."
    (button,) = obs.find(role="button")
    assert obs.screen_origin == (obs.viewport[0], obs.viewport[1])
    x, y = button.center
    xdotool(display.name, "mousemove", str(x), str(y), "click", "--delay", "0", "1")
    assert env.wait_done(5.0)
    assert env.reward() > 0
    # A stray click on the START cover that follows the episode does not start an unseeded one.
    xdotool(display.name, "click", "--delay", "0", "1")
    assert env.done() and env.reward() > 0
    # What the recorder's browser source relies on: the DevTools port, on loopback only.
    pid = xdotool(display.name, "getwindowpid", str(env.window)).strip()
    args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    assert "--remote-debugging-port=0" in args and "--enable-automation" not in args
    profile = next(a.split("=", 1)[1] for a in args if a.startswith("--user-data-dir="))
    port = int((Path(profile) / "DevToolsActivePort").read_text().split()[0])
    assert _listening_address(port) == {"0100007F"}  # 127.0.0.1, nothing else


@pytest.mark.x11
@pytest.mark.slow
def test_clicking_a_wrong_place_does_not_solve_click_test(display: XDisplay, env_for) -> None:
    env = env_for("click-test")
    obs = env.reset(seed=5)
    ox, oy = obs.screen_origin
    x, y = ox + 80, oy + 25  # on the instruction, above the area where the button can be
    assert not obs.find(role="button")[0].contains(x, y)
    xdotool(display.name, "mousemove", str(x), str(y), "click", "--delay", "0", "1")
    assert not env.wait_done(0.3)
    assert env.reward() == 0


# -- the demonstrator -----------------------------------------------------------------------------


@pytest.mark.x11
@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
def test_the_demonstrator_solves_the_task(task: str, env_for) -> None:
    from workscribe.envs.miniwob_demo import MiniWobDemonstrator

    env = env_for(task)
    demo = MiniWobDemonstrator(env, seed=1)
    for seed in (20, 21):
        obs = env.reset(seed)
        assert demo.solve(obs), f"{task} seed {seed} ended before the demonstrator finished"
        assert env.wait_done(12.0), f"{task} seed {seed}: not done"
        assert env.reward() == 1.0, f"{task} seed {seed}: {env.result()} for {obs.instruction!r}"
        assert demo.steps and all(s["element"]["box"] for s in demo.steps)
    kinds = {t["type"] for t in demo.human.truth}
    assert kinds <= {"click", "type"}, "the demonstrator only clicks and types, at the OS level"


def test_the_demonstrator_refuses_a_task_it_has_no_script_for() -> None:
    from workscribe.envs.miniwob_demo import SUPPORTED_TASKS, UnsupportedTask, solver_for

    assert set(TASKS) <= set(SUPPORTED_TASKS)
    assert solver_for("click-test") is not None
    with pytest.raises(UnsupportedTask, match="choose-date"):
        solver_for("choose-date")


# -- workscribe collect ---------------------------------------------------------------------------


@pytest.mark.parametrize("args, message", [
    (["--tasks", "click-test,no-such-task"], "unknown task(s) no-such-task"),
    (["--tasks", "click-test", "--env", "atari"], "unknown --env 'atari'"),
    (["--tasks", "click-test", "--episodes", "0"], "--episodes must be at least 1"),
])
def test_collect_rejects_bad_input_in_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    r = run_cli("collect", *args, "--out", str(tmp_path / "out"), timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and message in r.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.x11
@pytest.mark.slow
def test_collect_records_episodes_that_export_with_instruction_and_clicks_on_target(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from workscribe.export.driver import ExportOptions, export
    from workscribe.spool import crypto

    _require_browser()
    out = tmp_path / "mw"
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}  # as in CI: no display of its own
    r = run_cli("collect", "--tasks", "click-test,enter-text", "--episodes", "2", "--seed", "40",
                "--out", str(out), "--json", env=env, timeout=180)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["seeds"] == [40, 41]
    assert result["tasks"] == {"click-test": {"episodes": 2, "successes": 2},
                               "enter-text": {"episodes": 2, "successes": 2}}
    assert Path(result["spool"]) == out / "spool"
    assert "recording to" in Path(result["recorder_log"]).read_text()  # the recorder's stderr, kept
    consent = json.loads((out / "home" / "consent.json").read_text())
    assert consent["apps"] == ["Chromium"] and {"input", "screen", "window"} <= set(consent["sources"])
    lines = (out / "episodes.jsonl").read_text().splitlines()
    truth = {f"{e['task']}#{e['seed']}": e for e in map(json.loads, lines)}
    assert sorted(truth) == ["click-test#40", "click-test#41", "enter-text#40", "enter-text#41"]

    ds = tmp_path / "hf"
    report = export([out / "spool"], ds, ExportOptions(format="hf"), key=crypto.load_key(out / "home"))
    assert report["episodes"] == 4
    columns = ["episode_id", "step", "task", "ticket", "outcome", "action_type", "x", "y", "text"]
    rows = [row for f in sorted((ds / "data").glob("*.parquet"))  # train and validation
            for row in pq.read_table(f, columns=columns).to_pylist()]
    episodes: dict[str, list[dict]] = {}
    for row in sorted(rows, key=lambda r: (r["episode_id"], r["step"])):
        episodes.setdefault(row["episode_id"], []).append(row)
    assert len(episodes) == 4
    targets = {"click-test": ["subbtn"], "enter-text": ["tt", "subbtn"]}
    for steps in episodes.values():
        gt = truth[steps[0]["ticket"]]
        assert {s["task"] for s in steps} == {gt["instruction"]} and steps[0]["outcome"] == "success"
        clicks = [s for s in steps if s["action_type"] == "click"]
        aimed = [s["element"] for s in gt["steps"] if s["action"] == "click"]
        assert [a["id"] for a in aimed] == targets[gt["task"]]
        assert len(clicks) == len(aimed)
        ox, oy = gt["screen_origin"]
        for click, element in zip(clicks, aimed, strict=True):
            left, top, width, height = element["page_box"]
            px, py = click["x"] - ox, click["y"] - oy  # the click on the page
            assert left <= px < left + width and top <= py < top + height, (click, element)
        if gt["task"] == "enter-text":
            typed = [s["text"] for s in steps if s["action_type"] == "type"]
            assert typed == [gt["instruction"].split('"')[1]]


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (zombies, already ended, excluded)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.x11
@pytest.mark.slow
def test_collect_stopped_by_sigterm_stops_everything_it_started(tmp_path: Path) -> None:
    _require_browser()
    out = tmp_path / "mw"
    proc = subprocess.Popen([sys.executable, "-m", "workscribe", "collect", "--tasks", "click-test",
                             "--episodes", "100", "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        log = out / "episodes.jsonl"

        def an_episode_done() -> bool:  # mid-run
            assert proc.poll() is None, proc.communicate()[1]
            return log.exists() and log.read_text().count("\n") >= 1

        wait_for(an_episode_done, timeout=60, interval=0.1, what="the first episode's line")
        started = _descendants(proc.pid)
        names = {Path(f"/proc/{p}/comm").read_text().strip() for p in started if _alive(p)}
        assert {"Xvfb", "openbox", "chromedriver", "chromium"} <= names
        driver = next(p for p in started if Path(f"/proc/{p}/comm").read_text().strip() == "chromedriver")
        browser = next(p for p in started if _parent(p) == driver)  # chromedriver started the browser
        environ = dict(v.split("=", 1) for v in Path(f"/proc/{browser}/environ").read_text().split("\0")
                       if "=" in v)
        launcher_folder = Path(environ["TMPDIR"]).parent
        assert launcher_folder.name.startswith("workscribe-chromium-")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # the test failed early: stop it the way that cleans up, then for sure
            proc.terminate()
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 1 and "Aborted." in err, err  # as Ctrl-C
    wait_for(lambda: not [p for p in started if _alive(p)], timeout=10, interval=0.1,
             what="every process collect started to end")
    assert not launcher_folder.exists()  # the wrapper script and Chromium's private files are gone
