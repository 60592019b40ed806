"""The behaviour-cloning loop at small scale, as a user runs it: collect -> export (hf) -> train -> eval.

Each stage is the real CLI in its own process (``workscribe collect ... --json`` and so on), so a
stage's display, browser and recorder end with it; ``run_bc`` returns each stage's JSON. The
demonstrations use seeds ``COLLECT_SEED..`` per task, the evaluation seeds from ``EVAL_SEED`` on,
disjoint from every collection seed. ``workscribe bench bc`` and ``workscribe demo`` both run it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

COLLECT_SEED = 0
EVAL_SEED = 100_000
STAGES = ("collect", "export", "train", "eval")


class StageError(RuntimeError):
    """A stage of the loop failed (one line)."""


def run_stage(args: list[str], timeout: float) -> dict[str, Any]:
    """Runs `workscribe ARGS --json` in its own process; its JSON, or StageError with its last line."""
    r = subprocess.run([sys.executable, "-m", "workscribe", *args, "--json"], capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["no message"])[-1]
        raise StageError(f"workscribe {args[0]} failed: {last}")
    return json.loads(r.stdout)


def default_timeouts(tasks: int, episodes: int, eval_episodes: int) -> dict[str, float]:
    """Seconds each stage may take: about 30 s per demonstration and 90 s per evaluation seed, at most."""
    return {"collect": episodes * tasks * 30 + 300, "export": 3600, "train": 3600,
            "eval": eval_episodes * tasks * 90 + 300}


def run_bc(out: Path, tasks: tuple[str, ...] | list[str], episodes: int, eval_episodes: int,
           epochs: int = 15, device: str = "cpu", baselines: str = "random,demonstrator",
           timeouts: Mapping[str, float] | None = None,
           progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Runs the loop into ``out``: ``out/collect`` (spool, state, episodes.jsonl), ``out/hf``,
    ``out/model``.

    Args:
        out: folder for every artefact (created if missing).
        tasks: MiniWoB++ tasks the demonstrator solves.
        episodes: demonstrations per task (seeds ``COLLECT_SEED`` on).
        eval_episodes: evaluation episodes per task (seeds ``EVAL_SEED`` on).
        epochs: training epochs.
        device: ``cpu`` or ``cuda``, for training and evaluation.
        baselines: the ``--baselines`` of ``workscribe eval`` (comma-separated, empty for none).
        timeouts: seconds per stage name (``STAGES``); ``default_timeouts`` by default.
        progress: called with a stage's name (``STAGES``) as it starts.

    Returns:
        ``{"collect", "export", "train", "eval"}``: each stage's JSON; ``collect_seconds`` and
        ``eval_seconds``: how long those two stages took.

    Raises:
        StageError: a stage failed (its last line of stderr).
        subprocess.TimeoutExpired: a stage ran past its timeout.
    """
    say = progress or (lambda stage: None)
    limit = {**default_timeouts(len(tasks), episodes, eval_episodes), **(timeouts or {})}
    out.mkdir(parents=True, exist_ok=True)
    task_arg = ",".join(tasks)
    t0 = time.perf_counter()
    say("collect")
    collected = run_stage(["collect", "--tasks", task_arg, "--episodes", str(episodes), "--seed",
                           str(COLLECT_SEED), "--out", str(out / "collect")], timeout=limit["collect"])
    t_collect = time.perf_counter() - t0
    say("export")
    exported = run_stage(["export", collected["spool"], "--key", collected["key"], "--format", "hf",
                          "--out", str(out / "hf"), "--val-fraction", "0"], timeout=limit["export"])
    say("train")
    trained = run_stage(["train", str(out / "hf"), "--out", str(out / "model"), "--epochs", str(epochs),
                         "--device", device], timeout=limit["train"])
    say("eval")
    t1 = time.perf_counter()
    evaluated = run_stage(["eval", str(out / "model"), "--tasks", task_arg, "--episodes", str(eval_episodes),
                           "--seed", str(EVAL_SEED), "--baselines", baselines, "--device", device],
                          timeout=limit["eval"])
    t_eval = time.perf_counter() - t1
    return {"collect": collected, "export": exported, "train": trained, "eval": evaluated,
            "collect_seconds": t_collect, "eval_seconds": t_eval}
