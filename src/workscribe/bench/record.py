"""``workscribe bench record``: the recorder's cost and fidelity under scripted workloads.

A real ``workscribe record`` process records a 1280x800 Xvfb display while a human-like
demonstrator works, with every privacy stage on. Workloads:

* ``typing``: steady typing and clicking in a large xterm (little output), then a burst of key
  events injected at ``burst_rate`` events a second (input loss under load);
* ``terminal``: a full-screen 150x45 xterm where commands that print real output (``git status``,
  ``ls -la /usr/lib | head -40``, ``cat /etc/os-release``, ``df -h`` ...) are typed at about 7
  characters a second, with a click every few seconds: the rows that output changes must be read
  for secrets before their frames are stored;
* ``browser``: Chromium showing a long page, read by scrolling three notches every 1.5 s with a click
  every few scrolls, with the browser source on.

Figures per workload, over the steady phase: ``cpu_percent`` of one core, for the recorder and every
process it runs (the OCR child included, also after it exited), counting the redaction of frames that
still waited when the work ended (``catch_up_seconds``: how long the recorder took to stop;
``cpu_percent_during``: the same without it); ``rss_peak_mb``, the peak of the sum
of their resident memory (sampled ten times a second); ``bytes_per_hour`` of spool; frames stored,
frames dropped (``action``: a frame before or after an input; ``change``: a frame taken only because
the screen changed), frames that had to wait sealed on disk, and input events injected (presses and
releases, counted by an independent RECORD observer) and lost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")
COUNTED = ("key_press", "key_release", "button_press", "button_release", "scroll")
WORKLOADS = ("typing", "terminal", "browser")
TERMINAL_COMMANDS = ("git status", "ls -la /usr/lib | head -40", "cat /etc/os-release", "df -h",
                     "git log --oneline | head -20", "ls -la /usr/bin | head -40", "head -30 /etc/services",
                     "seq 1 5 200 | paste - - - -", "ls -la /etc | tail -30", "python3 --version")


class BenchError(RuntimeError):
    """The benchmark could not run (a program is missing, the recorder did not start)."""


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid``."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = []
        for task in Path(f"/proc/{p}/task").glob("*"):  # a child belongs to the thread that forked it
            try:
                kids += [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                pass
        out += kids
        todo += kids
    return out


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid``, its children that ended (waited for) and its live descendants."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
    for child in _children(pid):
        f = _stat(child)
        if f is not None:
            ticks += int(f[11]) + int(f[12])
    return ticks / CLK_TCK


def own_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` itself, without its children."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK if fields else 0.0


def tree_rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants, summed."""
    total = 0
    for p in (pid, *_children(pid)):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
        except OSError:
            pass
    return total


class _RssSampler:
    """Samples the tree's resident memory every ``period`` seconds on a thread; ``peak_kb``."""

    def __init__(self, pid: int, period: float = 0.1) -> None:
        self.pid, self.period, self.peak_kb = pid, period, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.peak_kb = max(self.peak_kb, tree_rss_kb(self.pid))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak_kb


def _vm_hwm_kb(pid: int) -> int:
    try:
        return next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return 0


def _wait_with_usage(proc: subprocess.Popen, timeout: float) -> tuple[float, int | None]:
    """Waits for ``proc`` to exit: its CPU seconds in all (its children that it waited for
    included) and its exit code, or ``(0, None)`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_utime + usage.ru_stime, proc.returncode
        time.sleep(0.05)
    return 0.0, None


def _spool_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("seg-*.wss"))


def _burst(display_name: str, n_keys: int, rate: float) -> None:
    """Presses and releases letter keys through XTEST at ``rate`` events a second."""
    from Xlib import XK, X, display
    from Xlib.ext import xtest

    d = display.Display(display_name)
    try:
        codes = [d.keysym_to_keycode(XK.string_to_keysym(c)) for c in "abcdefghij"]
        period = 1.0 / rate
        start = time.perf_counter()
        for k in range(2 * n_keys):
            code = codes[(k // 2) % len(codes)]
            xtest.fake_input(d, X.KeyPress if k % 2 == 0 else X.KeyRelease, code)
            d.flush()
            delay = start + (k + 1) * period - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        d.sync()
    finally:
        d.close()


def _long_page(seed: int, sections: int = 60) -> str:
    """A long article-like page: headings, paragraphs, lists and a table, deterministic by seed."""
    import random

    rng = random.Random(seed)
    words = ("record work data agent screen frame window browser terminal policy dataset episode "
             "action consent privacy redact secret token model train evaluate export spool segment "
             "review delete upload store fleet contributor scope pause clock event source").split()

    def sentence() -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randint(8, 18))).capitalize() + "."

    body = []
    for i in range(sections):
        body.append(f"<h2>Section {i + 1}: {sentence()[:40]}</h2>")
        body += [f"<p>{' '.join(sentence() for _ in range(rng.randint(3, 6)))}</p>" for _ in range(2)]
        if i % 3 == 0:
            body.append("<ul>" + "".join(f"<li>{sentence()}</li>" for _ in range(4)) + "</ul>")
        if i % 5 == 0:
            rows = "".join(f"<tr><td>{rng.choice(words)}</td><td>{rng.randint(1, 9999)}</td>"
                           f"<td>{sentence()[:30]}</td></tr>" for _ in range(5))
            body.append(f"<table border=1>{rows}</table>")
    return ("<!doctype html><html><head><meta charset=utf-8><title>Workscribe bench article</title>"
            "<style>body{font:16px sans-serif;max-width:900px;margin:20px auto;line-height:1.5}</style>"
            "</head><body><h1>A long page to read</h1>" + "".join(body) + "</body></html>")


@contextmanager
def _app(workload: str, display: Any, tmp: Path, seed: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """Opens the workload's window; yields its id and the consent to grant."""
    from workscribe.envs.xdisplay import open_window, terminate

    if workload == "browser":
        from workscribe.envs.chromium import find_browser

        site = tmp / "site"
        site.mkdir()
        page = site / "article.html"
        page.write_text(_long_page(seed))
        profile = tmp / "chromium-profile"
        profile.mkdir()
        proc, wid = open_window(
            display.name, find_browser(), "--no-sandbox", "--remote-debugging-port=0",
            f"--user-data-dir={profile}", "--force-device-scale-factor=1", "--no-first-run",
            "--no-default-browser-check", "--disable-sync", "--password-store=basic",
            "--window-position=0,0", "--window-size=1280,800", page.as_uri(), wm_class="chromium", timeout=60)
        consent = {"apps": ["chromium"], "sources": ["input", "screen", "window", "browser"],
                   "sites": [site.as_uri() + "/*"]}
    else:
        repo = tmp / "project"
        repo.mkdir()
        for i in range(6):
            (repo / f"module_{i}.py").write_text(f"def f{i}():\n    return {i}\n")
        git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
        subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
        subprocess.run([*git, "add", "."], cwd=repo, check=True)
        for i in range(12):
            (repo / "module_0.py").write_text(f"def f0():\n    return {i}\n")
            subprocess.run([*git, "commit", "-qam", f"Change number {i} of the bench project"], cwd=repo,
                           check=True)
        (repo / "notes.txt").write_text("untracked\n")
        geometry = "150x45+0+0" if workload == "terminal" else "200x58+0+0"
        proc, wid = open_window(display.name, "xterm", "-geometry", geometry, "-e", "bash", "-c",
                                f"cd {repo} && exec bash --norc", wm_class="xterm")
        consent = {"apps": ["xterm"], "sources": ["input", "screen", "window"]}
    try:
        yield wid, consent
    finally:
        terminate(proc, timeout=10)


def _work(workload: str, demo: Any, rect: tuple[int, int, int, int], i: int) -> None:
    """One round of the workload's scripted work."""
    x, y, w, h = rect
    if workload == "typing":
        demo.click(x + 60 + (i * 97) % (w - 120), y + 60 + (i * 53) % (h - 120))
        demo.type_text(f"echo line {i} of steady typing")
        demo.key("Return")
        if i % 4 == 3:
            demo.scroll(x + w // 2, y + h // 2, 2)
    elif workload == "terminal":
        demo.type_text(TERMINAL_COMMANDS[i % len(TERMINAL_COMMANDS)])
        demo.key("Return")
        demo.pause(1.0)
        if i % 2 == 1:
            demo.click(x + 100 + (i * 97) % (w - 200), y + 40 + (i * 53) % (h - 80))
    else:
        for k in range(3):
            demo.scroll(x + w // 2, y + h // 2 + 40 * (k % 2), 3 if (i // 12) % 2 == 0 else -3)
            demo.pause(1.5)
        demo.click(x + 200 + (i * 131) % (w - 400), y + 150 + (i * 71) % (h - 300))


def bench_workload(workload: str, duration_s: float = 60.0, fps: float = 5.0, burst_rate: int = 500,
                   burst_s: float = 2.0, seed: int = 0,
                   progress: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Runs one workload and returns its figures (see the module docstring)."""
    from Xlib import X

    from workscribe import guard
    from workscribe.envs.demonstrator import HumanDemonstrator, window_rect
    from workscribe.envs.observer import InputObserver
    from workscribe.envs.xdisplay import XDisplay, xdotool
    from workscribe.record.process import recorder_log_tail, spawn_recorder, wait_until_ready
    from workscribe.spool import crypto
    from workscribe.spool.reader import Spool

    if workload not in WORKLOADS:
        raise BenchError(f"unknown workload {workload!r}; use one of {', '.join(WORKLOADS)}")
    with tempfile.TemporaryDirectory(prefix="workscribe-bench-") as tmp_name, XDisplay(1280, 800) as display:
        tmp = Path(tmp_name)
        home, spool_dir, log = tmp / "home", tmp / "spool", tmp / "recorder.log"
        home.mkdir(mode=0o700)
        with _app(workload, display, tmp, seed) as (wid, consent):
            guard.grant(consent["apps"], consent["sources"], home=home, sites=consent.get("sites"))
            rec = spawn_recorder(spool_dir, display.name, home, "--fps", str(fps), "--json", log=log)
            try:
                wait_until_ready(rec, home, timeout=60, log=log)
                rect = window_rect(display.name, wid)
                demo = HumanDemonstrator(display.name, seed=seed, cps=7.0 if workload == "terminal" else 6.0)
                with InputObserver(display.name) as seen:
                    sampler = _RssSampler(rec.pid)
                    cpu0, wall0 = tree_cpu_seconds(rec.pid), time.monotonic()
                    own0 = own_cpu_seconds(rec.pid)
                    bytes0 = _spool_bytes(spool_dir)
                    i = 0
                    while (elapsed := time.monotonic() - wall0) < duration_s:
                        if progress:
                            progress(min(1.0, elapsed / duration_s))
                        _work(workload, demo, rect, i)
                        i += 1
                    cpu1, wall1 = tree_cpu_seconds(rec.pid), time.monotonic()
                    own1 = own_cpu_seconds(rec.pid)
                    bytes1 = _spool_bytes(spool_dir)
                    burst: dict[str, Any] = {}
                    burst_cpu = tree_cpu_seconds(rec.pid)
                    if workload == "typing":  # key events at `burst_rate` a second, through XTEST
                        n_keys = int(burst_rate * burst_s / 2)
                        before = len(seen.of(X.KeyPress, X.KeyRelease))
                        _burst(display.name, n_keys, burst_rate)
                        seen.wait_for(lambda: len(seen.of(X.KeyPress, X.KeyRelease)) - before
                                      >= 2 * n_keys, 10)
                        keys = seen.of(X.KeyPress, X.KeyRelease)[before:]
                        span_s = max(1e-3, (keys[-1][2] - keys[0][2]) / 1000)
                        burst["burst_events_per_s"] = round(2 * n_keys / span_s, 1)
                        xdotool(display.name, "key", "ctrl+u")
                    time.sleep(0.5)  # the last releases reach the recorder
                    burst_cpu = tree_cpu_seconds(rec.pid) - burst_cpu  # not part of the steady work
                    injected = (len(seen.of(X.KeyPress, X.KeyRelease))
                                + len([e for e in seen.of(X.ButtonPress) if e[1]])
                                + len([e for e in seen.of(X.ButtonRelease) if e[1] not in (4, 5, 6, 7)]))
                recorder_hwm_kb = _vm_hwm_kb(rec.pid)
                rec.send_signal(signal.SIGINT)
                stop_t = time.monotonic()
                cpu_total, code = _wait_with_usage(rec, timeout=300)
                if code is None:
                    raise BenchError("the recorder did not stop within 300 s of SIGINT: "
                                     + recorder_log_tail(rec, log))
                drain_s = time.monotonic() - stop_t
                rss_peak_kb = sampler.stop()
                out = rec.stdout.read() if rec.stdout else ""
            finally:
                if rec.poll() is None:
                    rec.kill()
                    rec.wait()
            if rec.returncode != 0:
                why = recorder_log_tail(rec, log)
                raise BenchError(f"the recorder exited with code {rec.returncode}: {why}")
        summary = json.loads(out)
        spool = Spool(spool_dir, key=crypto.load_key(home))
        captured = sum(1 for r in spool.recordings() for e in spool.iter_events(r) if e["kind"] in COUNTED)
        stored = spool.summary()
    steady_s = wall1 - wall0
    return {
        # everything the work cost, the redaction that caught up after it included
        "cpu_percent": round(100 * (cpu_total - burst_cpu - cpu0) / steady_s, 2),
        "cpu_percent_during": round(100 * (cpu1 - cpu0) / steady_s, 2),
        "cpu_percent_recorder_during": round(100 * (own1 - own0) / steady_s, 2),  # without the OCR child
        "catch_up_seconds": round(drain_s, 1),
        "rss_peak_mb": round(rss_peak_kb / 1024, 1),
        "rss_peak_mb_recorder": round(recorder_hwm_kb / 1024, 1),  # the recorder alone, without OCR
        "bytes_per_hour": int((bytes1 - bytes0) / steady_s * 3600),
        "frames_stored": stored["frames"],
        "frames_dropped": {"action": summary.get("frames_dropped_action", 0),
                           "change": summary.get("frames_dropped", 0)},
        "frames_waited_on_disk": summary.get("frames_parked", 0),
        "frames_waiting_peak": summary.get("frames_waiting_peak", 0),
        "text_reads": summary.get("ocr", {}),
        "events_injected": injected,
        "events_captured": captured,
        "events_lost": injected - captured,
        "steady_seconds": round(steady_s, 1),
        **burst,
    }


def bench_record(workloads: tuple[str, ...] = WORKLOADS, duration_s: float = 60.0, fps: float = 5.0,
                 burst_rate: int = 500, burst_s: float = 2.0, seed: int = 0,
                 progress: Callable[[str, float], None] | None = None) -> dict[str, Any]:
    """Runs each workload in turn; ``{"workloads": {name: figures}, "duration_s", "fps"}``."""
    results = {}
    for name in workloads:
        results[name] = bench_workload(name, duration_s, fps, burst_rate, burst_s, seed,
                                       progress=(lambda f, n=name: progress(n, f)) if progress else None)
    return {"workloads": results, "duration_s": duration_s, "fps": fps}
