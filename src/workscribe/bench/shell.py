"""``workscribe bench shell``: the latency the shell hook adds to every prompt.

Real interactive shells in pseudo-terminals, side by side: one without the hook (the baseline), one
hooked while no recorder runs (no port file), one hooked while a shell source receives its records,
and one hooked with output capture (``shell-output``: the shell runs inside the pty proxy, whose
records go to the same source). Each prompt is timed from the Enter of a command that does nothing
(``:``) to the next prompt on the terminal, which covers the DEBUG trap or preexec, the command, the
precmd and the send. The shells take turns, prompt by prompt, so machine noise falls on all alike.

Reported per shell and state: median and 99th percentile of the prompt time (ms), and the hook's
added latency: the hooked figure minus the baseline's (median minus median, p99 minus p99).
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workscribe.envs.coding import InteractiveShell
from workscribe.sources.shell import ShellSource, hook_code, install_init

HOOKED = ("hook, recorder down", "hook, recorder up", "hook + output capture, recorder up")


def _prompt_ms(sh: InteractiveShell) -> float:
    """Time (ms) from the Enter of ``:`` to the next prompt."""
    t0 = time.perf_counter()
    sh.run(":", timeout=10)
    return (time.perf_counter() - t0) * 1000


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"median_ms": round(statistics.median(ordered), 3), "p99_ms": round(p99, 3)}


def bench_shell(prompts: int = 400, shells: tuple[str, ...] = ("bash", "zsh"),
                progress: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Times ``prompts`` prompts of each shell in each state; see the module docstring."""
    shells = tuple(s for s in shells if shutil.which(s))
    if not shells:
        raise RuntimeError("neither bash nor zsh is installed")
    with tempfile.TemporaryDirectory(prefix="ws-bench-shell-") as tmp:
        folder = Path(tmp)
        up_file, down_file = folder / "up.port", folder / "down.port"  # down.port never exists
        received: list[Any] = []
        source = ShellSource(up_file)
        source.start(received.append)
        for shell in shells:
            install_init(shell, up_file)
        opened: dict[tuple[str, str], InteractiveShell] = {}
        times: dict[tuple[str, str], list[float]] = {}
        try:
            for shell in shells:
                for state, rc in (("baseline", ""), ("hook, recorder down", hook_code(shell, down_file)),
                                  ("hook, recorder up", hook_code(shell, up_file)),
                                  ("hook + output capture, recorder up",
                                   hook_code(shell, up_file, wrap_output=True))):
                    home = folder / f"{shell}-{len(opened)}"
                    opened[(shell, state)] = InteractiveShell(shell, rc, home, home)
                    times[(shell, state)] = []
            for _ in range(20):  # warm up
                for sh in opened.values():
                    _prompt_ms(sh)
            for i in range(prompts):
                for key, sh in opened.items():
                    times[key].append(_prompt_ms(sh))
                if progress:
                    progress((i + 1) / prompts)
        finally:
            for sh in opened.values():
                sh.close()
            source.stop()
    result: dict[str, Any] = {"prompts": prompts, "shells": {}}
    for shell in shells:
        base = _stats(times[(shell, "baseline")])
        states: dict[str, Any] = {"baseline": base}
        for state in HOOKED:
            s = _stats(times[(shell, state)])
            s["added_median_ms"] = round(s["median_ms"] - base["median_ms"], 3)
            s["added_p99_ms"] = round(s["p99_ms"] - base["p99_ms"], 3)
            states[state] = s
        result["shells"][shell] = states
    result["records_received"] = len(received)
    result["records_expected"] = (prompts + 20) * 2 * len(shells)  # two shells send to the source
    result["target"] = {"added_median_ms": 2.0, "added_p99_ms": 5.0}
    result["met"] = all(st[s]["added_median_ms"] <= 2.0 and st[s]["added_p99_ms"] <= 5.0
                        for st in result["shells"].values() for s in HOOKED)
    return result
