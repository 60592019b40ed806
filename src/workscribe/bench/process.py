"""``workscribe bench process``: spools to episodes, on one core, in memory that does not grow with hours.

A synthetic spool of ``hours`` of work (``write_synthetic_spool`` without images) is written into a
temporary folder, removed afterwards. A fresh child process, pinned to one core where the system
allows it, then reads it as every export does, ``iter_episodes(open_dataset(...))``: decryption,
decompression, reduction to actions, observation matching and episode cutting (no frame is decoded).
The child reports the wall time of that reading and its own peak resident memory (``VmHWM`` of the new
interpreter, so nothing of the parent counts). The same is measured on a 1-hour spool when ``hours`` is
over 1, so that ``rss_by_hours`` shows whether memory grows with the length of a recording (it should
not: every stage streams).

Figures: ``hours``, ``events`` (written), ``seconds`` (reading), ``realtime_factor`` (recorded seconds
per second of reading), ``peak_rss_mb``, ``rss_by_hours``, ``episodes`` and ``steps`` read.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BASELINE_HOURS = 1.0
"""The shorter spool measured next to ``hours`` to show that memory stays flat."""

_CHILD = "from workscribe.bench.process import child_main; child_main()"

Progress = Callable[[str, float | None], None]
"""``progress(what, fraction)``: what is being done, and how much of it (None: unknown)."""


def bench_process(hours: float = 8.0, seed: int = 0, progress: Progress | None = None) -> dict[str, Any]:
    """Runs the benchmark and returns its figures (see the module docstring)."""
    from workscribe.testing.synthetic import write_synthetic_spool

    if hours <= 0:
        raise ValueError(f"hours must be > 0, got {hours}")
    report = progress or (lambda what, fraction: None)
    key = secrets.token_bytes(32)
    runs = ([BASELINE_HOURS] if hours > BASELINE_HOURS else []) + [hours]
    rss_by_hours: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="workscribe-bench-") as tmp:
        for h in runs:
            folder = Path(tmp) / f"spool-{h:g}h"

            def writing(simulated_s: float, h: float = h) -> None:
                report(f"writing a {h:g} h spool", simulated_s / (h * 3600))

            written = write_synthetic_spool(folder, key, h, seed=seed, frames=False, progress=writing)
            report(f"reading the {h:g} h spool on one core", None)
            read = _measure_in_child(folder, key)
            rss_by_hours[f"{h:g}"] = read["peak_rss_mb"]
    return {
        "hours": hours,
        "events": written["events"],
        "seconds": round(read["seconds"], 3),
        "realtime_factor": round(hours * 3600 / read["seconds"], 1),
        "peak_rss_mb": read["peak_rss_mb"],
        "rss_by_hours": rss_by_hours,
        "episodes": read["episodes"],
        "steps": read["steps"],
        "pinned_cpu": read["pinned_cpu"],
    }


def _measure_in_child(folder: Path, key: bytes) -> dict[str, Any]:
    """Reads ``folder`` in a new interpreter (the key on its stdin) and returns what it printed."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    cpu = str(cpus[-1]) if cpus else "-1"
    done = subprocess.run([sys.executable, "-c", _CHILD, str(folder), cpu], input=key.hex(),
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
        raise RuntimeError(f"the measuring process failed: {lines[-1]}")
    return json.loads(done.stdout)


def child_main() -> None:
    """The child's side: ``argv`` = folder, cpu (-1: do not pin); key in hex on stdin; JSON on stdout."""
    folder, cpu = Path(sys.argv[1]), int(sys.argv[2])
    key = bytes.fromhex(sys.stdin.readline().strip())
    pinned = None
    if cpu >= 0 and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {cpu})
            pinned = cpu
        except OSError:
            pass
    from workscribe.export.source import iter_episodes, open_dataset  # imports are not timed

    start = time.perf_counter()
    episodes = steps = 0
    for ep in iter_episodes(open_dataset([folder], key)):
        episodes += 1
        steps += len(ep["steps"])
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "episodes": episodes, "steps": steps, "pinned_cpu": pinned,
                      "peak_rss_mb": round(_peak_rss_kb() / 1024, 1)}))


def _peak_rss_kb() -> int:
    """This process's peak resident memory since exec (``VmHWM``; ``ru_maxrss`` would include the
    parent's memory when the child was made with vfork, which CPython's subprocess does)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
