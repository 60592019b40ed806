"""``workscribe bench bc``: the whole behaviour-cloning loop on MiniWoB++, measured.

collect (the scripted demonstrator under ``workscribe record``, seeds ``0..N-1`` per task) ->
export (hf) -> train (CPU by default) -> eval (seeds from ``EVAL_SEED`` on, disjoint from every
collection seed) with the random and demonstrator baselines. Each stage is the real CLI in its own
process, as a user would run it; the folder keeps every artefact (spool, export, model, reports).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TASKS = ("click-test", "click-button", "click-link", "click-dialog", "focus-text", "enter-text", "login-user",
         "click-checkboxes")
EVAL_SEED = 100_000


class BenchError(RuntimeError):
    """A stage of the loop failed (one line)."""


def run_stage(args: list[str], timeout: float) -> dict[str, Any]:
    """Runs `workscribe ARGS --json` in its own process; its JSON, or BenchError with its last line."""
    r = subprocess.run([sys.executable, "-m", "workscribe", *args, "--json"], capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["no message"])[-1]
        raise BenchError(f"workscribe {args[0]} failed: {last}")
    return json.loads(r.stdout)


def bench_bc(out: Path, tasks: tuple[str, ...] = TASKS, episodes: int = 100, eval_episodes: int = 50,
             epochs: int = 15, device: str = "cpu", baselines: str = "random,demonstrator",
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Runs the loop into ``out`` and returns the figures (see the module docstring)."""
    say = progress or (lambda line: None)
    out.mkdir(parents=True, exist_ok=True)
    task_arg = ",".join(tasks)
    t0 = time.perf_counter()
    say(f"collect: {episodes} demonstrations of each of {len(tasks)} tasks")
    collected = run_stage(["collect", "--tasks", task_arg, "--episodes", str(episodes), "--seed", "0",
                      "--out", str(out / "collect")], timeout=episodes * len(tasks) * 30 + 300)
    t_collect = time.perf_counter() - t0
    say("export")
    key = out / "collect" / "home" / "spool.key"
    exported = run_stage(["export", str(out / "collect" / "spool"), "--key", str(key), "--format", "hf",
                     "--out", str(out / "hf"), "--val-fraction", "0"], timeout=3600)
    say("train")
    trained = run_stage(["train", str(out / "hf"), "--out", str(out / "model"), "--epochs", str(epochs),
                    "--device", device], timeout=3600)
    say(f"eval: {eval_episodes} unseen seeds per task")
    t1 = time.perf_counter()
    evaluated = run_stage(["eval", str(out / "model"), "--tasks", task_arg, "--episodes", str(eval_episodes),
                      "--seed", str(EVAL_SEED), "--baselines", baselines, "--device", device],
                     timeout=eval_episodes * len(tasks) * 90 + 300)
    t_eval = time.perf_counter() - t1
    (out / "eval.json").write_text(json.dumps(evaluated, indent=2) + "\n")
    runs = eval_episodes * len(tasks) * (1 + len([b for b in baselines.split(",") if b]))
    return {
        "tasks": {t: v["success_rate"] for t, v in evaluated["tasks"].items()},
        "mean_success": evaluated["mean_success"],
        "baselines": {b: v["mean_success"] for b, v in evaluated["baselines"].items()},
        "demonstrations": sum(v["episodes"] for v in collected["tasks"].values()),
        "demonstrations_successful": sum(v["successes"] for v in collected["tasks"].values()),
        "steps": exported["steps"], "decisions": trained["decisions"],
        "training_seconds": trained["train_seconds"], "device": device,
        "collect_minutes": round(t_collect / 60, 1),
        "eval_episodes_per_minute": round(runs / (t_eval / 60), 1),
        "collect_seeds": collected["seeds"], "eval_seeds": evaluated["seeds"], "out": str(out),
    }
