"""``workscribe bench bc``: the whole behaviour-cloning loop on MiniWoB++, measured.

collect (the scripted demonstrator under ``workscribe record``, seeds ``0..N-1`` per task) ->
export (hf) -> train (CPU by default) -> eval (seeds from ``pipeline.EVAL_SEED`` on, disjoint from every
collection seed) with the random and demonstrator baselines: ``jobs.bc.run_bc``, each stage
the real CLI in its own process, as a user would run it; the folder keeps every artefact (spool,
export, model, reports) and ``eval.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workscribe.jobs.bc import run_bc

TASKS = ("click-test", "click-button", "click-link", "click-dialog", "focus-text", "enter-text", "login-user",
         "click-checkboxes")


def bench_bc(out: Path, tasks: tuple[str, ...] = TASKS, episodes: int = 100, eval_episodes: int = 50,
             epochs: int = 15, device: str = "cpu", baselines: str = "random,demonstrator",
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Runs the loop into ``out`` and returns the figures (see the module docstring); ``StageError`` if a
    stage fails."""
    say = progress or (lambda line: None)
    lines = {"collect": f"collect: {episodes} demonstrations of each of {len(tasks)} tasks",
             "export": "export", "train": "train", "eval": f"eval: {eval_episodes} unseen seeds per task"}
    loop = run_bc(out, tasks, episodes, eval_episodes, epochs=epochs, device=device, baselines=baselines,
                  progress=lambda stage: say(lines[stage]))
    collected, evaluated = loop["collect"], loop["eval"]
    (out / "eval.json").write_text(json.dumps(evaluated, indent=2) + "\n")
    runs = eval_episodes * len(tasks) * (1 + len([b for b in baselines.split(",") if b]))
    return {
        "tasks": {t: v["success_rate"] for t, v in evaluated["tasks"].items()},
        "mean_success": evaluated["mean_success"],
        "baselines": {b: v["mean_success"] for b, v in evaluated["baselines"].items()},
        "demonstrations": sum(v["episodes"] for v in collected["tasks"].values()),
        "demonstrations_successful": sum(v["successes"] for v in collected["tasks"].values()),
        "steps": loop["export"]["steps"], "decisions": loop["train"]["decisions"],
        "training_seconds": loop["train"]["train_seconds"], "device": device,
        "collect_minutes": round(loop["collect_seconds"] / 60, 1),
        "eval_episodes_per_minute": round(runs / (loop["eval_seconds"] / 60), 1),
        "collect_seeds": collected["seeds"], "eval_seeds": evaluated["seeds"], "out": str(out),
    }
