"""``workscribe bench record``: the recorder's cost and fidelity under a scripted workload.

A real ``workscribe record`` process records a 1280x800 Xvfb display while a human-like
demonstrator types and clicks in an xterm for ``duration_s``; then a burst of key events is
injected at ``burst_rate`` events a second. An independent RECORD observer counts what the X server
processed; the spool is read back to count what the recorder kept.

Figures: the recorder's CPU time as a percentage of one core during the steady phase, its peak
resident memory, spool bytes per hour of the steady phase, injected / captured / lost input events
(presses and releases; motion is thinned by design) and the burst rate that was achieved.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")
COUNTED = ("key_press", "key_release", "button_press", "button_release", "scroll")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


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


def bench_record(duration_s: float = 60.0, fps: float = 5.0, burst_rate: int = 500, burst_s: float = 2.0,
                 seed: int = 0, progress: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Runs the benchmark and returns its figures (see the module docstring)."""
    from Xlib import X

    from workscribe import guard
    from workscribe.envs.demonstrator import HumanDemonstrator, window_rect
    from workscribe.envs.observer import InputObserver
    from workscribe.envs.xdisplay import XDisplay, open_window, xdotool
    from workscribe.recorder import spawn_recorder, wait_until_ready
    from workscribe.spool import crypto
    from workscribe.spool.reader import Spool

    with tempfile.TemporaryDirectory(prefix="workscribe-bench-") as tmp, XDisplay(1280, 800) as display:
        home, spool_dir = Path(tmp) / "home", Path(tmp) / "spool"
        home.mkdir(mode=0o700)
        guard.grant(["xterm"], ["input", "screen", "window"], home=home)
        term, wid = open_window(display.name, "xterm", "-geometry", "200x58+0+0")
        rec = spawn_recorder(spool_dir, display.name, home, "--fps", str(fps))
        try:
            wait_until_ready(rec, home)
            x, y, w, h = window_rect(display.name, wid)
            demo = HumanDemonstrator(display.name, seed=seed)
            with InputObserver(display.name) as seen:
                cpu0, wall0 = _cpu_seconds(rec.pid), time.monotonic()
                bytes0 = _spool_bytes(spool_dir)
                i = 0
                while (elapsed := time.monotonic() - wall0) < duration_s:
                    if progress:
                        progress(min(1.0, elapsed / duration_s))
                    demo.click(x + 60 + (i * 97) % (w - 120), y + 60 + (i * 53) % (h - 120))
                    demo.type_text(f"echo line {i} of steady typing")
                    demo.key("Return")
                    if i % 4 == 3:
                        demo.scroll(x + w // 2, y + h // 2, 2)
                    i += 1
                cpu1, wall1 = _cpu_seconds(rec.pid), time.monotonic()
                bytes1 = _spool_bytes(spool_dir)
                rss_peak_kb = _status_kb(rec.pid, "VmHWM")
                # burst: key presses and releases at `burst_rate` events a second, through XTEST
                n_keys = int(burst_rate * burst_s / 2)
                before = len(seen.of(X.KeyPress, X.KeyRelease))
                _burst(display.name, n_keys, burst_rate)
                seen.wait_for(lambda: len(seen.of(X.KeyPress, X.KeyRelease)) - before >= 2 * n_keys, 10)
                burst = seen.of(X.KeyPress, X.KeyRelease)[before:]
                burst_span_s = max(1e-3, (burst[-1][2] - burst[0][2]) / 1000)
                xdotool(display.name, "key", "ctrl+u")
                time.sleep(0.5)
                injected = (len(seen.of(X.KeyPress, X.KeyRelease))
                            + len([e for e in seen.of(X.ButtonPress) if e[1]])
                            + len([e for e in seen.of(X.ButtonRelease) if e[1] not in (4, 5, 6, 7)]))
            rec.send_signal(2)
            rec.wait(timeout=30)
        finally:
            if rec.poll() is None:
                rec.kill()
                rec.wait()
            term.kill()
            term.wait()
        spool = Spool(spool_dir, key=crypto.load_key(home))
        captured = sum(1 for r in spool.recordings() for e in spool.iter_events(r) if e["kind"] in COUNTED)
        summary = spool.summary()
    steady_s = wall1 - wall0
    return {
        "cpu_percent": round(100 * (cpu1 - cpu0) / steady_s, 2),
        "rss_mb": round(rss_peak_kb / 1024, 1),
        "bytes_per_hour": int((bytes1 - bytes0) / steady_s * 3600),
        "events_injected": injected,
        "events_captured": captured,
        "events_lost": injected - captured,
        "burst_events_per_s": round(2 * n_keys / burst_span_s, 1),
        "steady_seconds": round(steady_s, 1),
        "fps": fps,
        "frames_stored": summary["frames"],
        "spool_bytes": summary["bytes"],
    }
