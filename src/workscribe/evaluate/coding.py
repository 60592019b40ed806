"""Offline metrics for the coding exports: predicted next commands and next edits against recorded ones.

Gold examples are the rows of a ``next-command`` or ``next-edit`` export (see ``dataset.coding``): a
folder whose ``workscribe_export.json`` names the format, read from every ``data/*.jsonl`` (train and
validation; give ``data/validation.jsonl`` to score one split), or one JSONL file of such rows. A
prediction is ``{"id", "prediction"}`` a line, ``id`` the example's; one without a prediction scores 0.

next-command (``prediction``: a command line):

- ``exact_match``: the prediction equals ``next``, both stripped of surrounding whitespace.
- ``token_f1``: F1 of the multisets of shell tokens (``shell_tokens``: ``shlex`` in POSIX mode with the
  operators ``; & | ( ) < >`` split off as their own tokens and no comments; ``str.split`` when the line
  does not parse, e.g. an open quote). Precision = shared tokens / predicted tokens, recall = shared
  tokens / gold tokens; 1 when both have no tokens, 0 when only one has none.

next-edit (``prediction``: the rewritten excerpt as zeta's ``output`` holds it, or only its editable
region; the region is the text after ``<|editable_region_start|>\\n`` and before
``<|editable_region_end|>``, cursor markers dropped, a final newline added when missing):

- ``exact_match``: the predicted region equals the gold ``output``'s region.
- ``delta_chrf``: a character n-gram F-score of the change made, not of the text (an unchanged copy of
  a long region would otherwise score high). With ``O`` the region before the edit (the gold ``input``'s),
  ``E`` the expected region and ``P`` the predicted one, and ``G_n(x)`` the multiset of the character
  n-grams of ``x`` (whitespace kept), for n = 1..6::

      added_X   = G_n(X) - G_n(O)        removed_X = G_n(O) - G_n(X)      (multiset differences)
      match_n   = |added_P & added_E| + |removed_P & removed_E|           (multiset intersections)
      P_n = match_n / (|added_P| + |removed_P|)   (1 when P changes no n-gram of this order)
      R_n = match_n / (|added_E| + |removed_E|)   (1 when E changes none)

  P and R are the means of P_n and R_n over the orders n where P or E changes something, and
  ``delta_chrf = (1 + b^2) P R / (b^2 P + R)`` with b = 2 (recall weighs more, as in chrF), 0 when
  P = R = 0, and 1 when neither P nor E changes any n-gram. In [0, 1]; predicting no change scores 0
  on every example that has one.

``baselines`` scores predictors that use no model: next-command ``repeat_last`` (the last command of
``history``), next-edit ``no_edit`` (the region unchanged).
"""

from __future__ import annotations

import json
import shlex
from collections import Counter
from pathlib import Path
from typing import Any

from workscribe.evaluate.metrics import jsonl_rows

TASKS: tuple[str, ...] = ("next-command", "next-edit")
METRICS: dict[str, tuple[str, ...]] = {"next-command": ("exact_match", "token_f1"),
                                       "next-edit": ("exact_match", "delta_chrf")}
"""The averaged metrics of each task, in the order they are shown."""
BASELINES: dict[str, tuple[str, ...]] = {"next-command": ("repeat_last",), "next-edit": ("no_edit",)}
MAX_N = 6
BETA = 2.0
REPORT_FILE = "workscribe_export.json"
REGION_START = "<|editable_region_start|>"
REGION_END = "<|editable_region_end|>"
CURSOR = "<|user_cursor_is_here|>"
_FIELDS = {"next-command": ("id", "history", "next"), "next-edit": ("id", "input", "output")}


# ----- next command


def shell_tokens(command: str) -> list[str]:
    """The shell tokens of a command line (module docstring)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError:
        return command.split()


def token_f1(pred: str, gold: str) -> float:
    """F1 of the shell-token multisets of two command lines."""
    p, g = Counter(shell_tokens(pred)), Counter(shell_tokens(gold))
    if not p and not g:
        return 1.0
    shared = sum((p & g).values())
    if not shared:
        return 0.0
    precision, recall = shared / sum(p.values()), shared / sum(g.values())
    return 2 * precision * recall / (precision + recall)


# ----- next edit


def edit_region(text: str) -> str:
    """The editable region of an excerpt (or the text itself when it has no markers), cursor dropped."""
    start, end = text.find(REGION_START), text.rfind(REGION_END)
    if start != -1 and end > start:
        text = text[start + len(REGION_START):end]
        text = text[1:] if text.startswith("\n") else text
    text = text.replace(CURSOR, "")
    return text if not text or text.endswith("\n") else text + "\n"


def _ngrams(text: str, n: int) -> Counter[str]:
    return Counter(text[i:i + n] for i in range(len(text) - n + 1))


def delta_chrf(original: str, predicted: str, expected: str, max_n: int = MAX_N, beta: float = BETA) -> float:
    """The character n-gram F-score of the change original -> predicted against original -> expected."""
    precisions, recalls = [], []
    for n in range(1, max_n + 1):
        o, p, e = _ngrams(original, n), _ngrams(predicted, n), _ngrams(expected, n)
        added_p, removed_p, added_e, removed_e = p - o, o - p, e - o, o - e
        pred_n = sum(added_p.values()) + sum(removed_p.values())
        exp_n = sum(added_e.values()) + sum(removed_e.values())
        if not pred_n and not exp_n:
            continue
        match = sum((added_p & added_e).values()) + sum((removed_p & removed_e).values())
        precisions.append(match / pred_n if pred_n else 1.0)
        recalls.append(match / exp_n if exp_n else 1.0)
    if not precisions:
        return 1.0
    precision, recall = sum(precisions) / len(precisions), sum(recalls) / len(recalls)
    if precision == 0 and recall == 0:
        return 0.0
    b2 = beta * beta
    return (1 + b2) * precision * recall / (b2 * precision + recall)


# ----- scores


def example_score(task: str, prediction: str | None, gold: dict[str, Any]) -> dict[str, float]:
    """The metrics of one example (0 for all when ``prediction`` is None)."""
    if task == "next-command":
        if prediction is None:
            return {"exact_match": 0.0, "token_f1": 0.0}
        return {"exact_match": float(prediction.strip() == gold["next"].strip()),
                "token_f1": token_f1(prediction, gold["next"])}
    if prediction is None:
        return {"exact_match": 0.0, "delta_chrf": 0.0}
    predicted, expected = edit_region(prediction), edit_region(gold["output"])
    return {"exact_match": float(predicted == expected),
            "delta_chrf": delta_chrf(edit_region(gold["input"]), predicted, expected)}


def score(task: str, preds: dict[str, str], gold: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean metrics of predictions ``{id: prediction}`` over the gold examples of ``task``.

    Returns:
        Each name of ``METRICS[task]`` -> its mean (None without examples), and ``counts``: ``examples``,
        ``predictions``, ``missing_predictions``, ``unmatched_predictions``.
    """
    _check_task(task)
    results = [example_score(task, preds.get(g["id"]), g) for g in gold]
    ids = {g["id"] for g in gold}
    out: dict[str, Any] = {m: (sum(r[m] for r in results) / len(results) if results else None)
                           for m in METRICS[task]}
    out["counts"] = {"examples": len(gold), "predictions": len(preds),
                     "missing_predictions": sum(g["id"] not in preds for g in gold),
                     "unmatched_predictions": sum(k not in ids for k in preds)}
    return out


def baseline_predictions(task: str, gold: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """``{baseline name: {id: prediction}}`` (module docstring)."""
    _check_task(task)
    if task == "next-command":
        return {"repeat_last": {g["id"]: g["history"][-1]["command"] if g["history"] else "" for g in gold}}
    return {"no_edit": {g["id"]: edit_region(g["input"]) for g in gold}}


def baselines(task: str, gold: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``{baseline name: score(...)}``: the scores of the predictors that use no model."""
    return {name: score(task, preds, gold) for name, preds in baseline_predictions(task, gold).items()}


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")


# ----- files


def gold_task(path: Path) -> str | None:
    """``next-command`` or ``next-edit`` when ``path`` holds such gold examples, else None.

    A folder is one when its ``workscribe_export.json`` names that format; a file when its first record
    has their fields (``history`` and ``next``; ``input``, ``output`` and ``events``).

    Raises:
        ValueError: a folder that is an export of another coding format (``swe``), which has no gold.
    """
    path = Path(path)
    if path.is_dir():
        try:
            fmt = json.loads((path / REPORT_FILE).read_text(encoding="utf-8")).get("format")
        except (OSError, ValueError, AttributeError):
            return None
        if fmt in TASKS:
            return fmt
        if fmt == "swe":
            raise ValueError(f"{path} is a swe export; score takes next-command or next-edit examples "
                             "(or the steps of an hf export)")
        return None
    try:
        first = next(jsonl_rows(path), None)
    except ValueError:
        return None
    record = first[0] if first else None
    if isinstance(record, dict):
        if "history" in record and "next" in record:
            return "next-command"
        if {"input", "output", "events"} <= set(record):
            return "next-edit"
    return None


def load_gold(path: Path, task: str) -> list[dict[str, Any]]:
    """The gold examples of ``task`` in a folder (its ``data/*.jsonl``) or a JSONL file.

    Raises:
        ValueError: one line naming the file and line: unreadable, a missing field, a repeated id, or no
            examples at all.
    """
    _check_task(task)
    path = Path(path)
    files = sorted((path / "data").glob("*.jsonl")) if path.is_dir() else [path]
    seen: dict[str, str] = {}
    out = []
    for file in files:
        for obj, where in jsonl_rows(file):
            example = _check_gold(obj, where, task)
            if example["id"] in seen:
                raise ValueError(f"{where}: id {example['id']!r} is already at {seen[example['id']]}")
            seen[example["id"]] = where
            out.append(example)
    if not out:
        raise ValueError(f"no {task} examples in {path}")
    return out


def load_predictions(path: Path) -> dict[str, str]:
    """``{id: prediction}`` from a JSONL file of ``{"id", "prediction"}`` (blank lines skipped).

    Raises:
        ValueError: one line naming the file and line: unreadable, malformed, or a repeated id.
    """
    out: dict[str, str] = {}
    where_of: dict[str, str] = {}
    for obj, where in jsonl_rows(Path(path)):
        if not isinstance(obj, dict):
            raise ValueError(f"{where}: expected a JSON object, found {type(obj).__name__}")
        key, prediction = obj.get("id"), obj.get("prediction")
        if not isinstance(key, str):
            raise ValueError(f"{where}: id must be a string, found {key!r}")
        if not isinstance(prediction, str):
            raise ValueError(f"{where}: prediction must be a string, found {type(prediction).__name__}")
        if key in out:
            raise ValueError(f"{where}: id {key!r} is already at {where_of[key]}")
        out[key], where_of[key] = prediction, where
    return out


def _check_gold(obj: Any, where: str, task: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a JSON object, found {type(obj).__name__}")
    missing = [f for f in _FIELDS[task] if f not in obj]
    if missing:
        raise ValueError(f"{where}: no {', '.join(missing)} (a {task} example needs "
                         f"{', '.join(_FIELDS[task])})")
    if not isinstance(obj["id"], str):
        raise ValueError(f"{where}: id must be a string, found {obj['id']!r}")
    if task == "next-command":
        history = obj["history"]
        if not isinstance(obj["next"], str) or not isinstance(history, list) or not all(
                isinstance(h, dict) and isinstance(h.get("command"), str) for h in history):
            raise ValueError(f"{where}: next must be a string and history a list of {{command, ...}}")
    elif not isinstance(obj["input"], str) or not isinstance(obj["output"], str):
        raise ValueError(f"{where}: input and output must be strings")
    return obj


__all__ = ["BASELINES", "METRICS", "TASKS", "baseline_predictions", "baselines", "delta_chrf", "edit_region",
           "example_score", "gold_task", "load_gold", "load_predictions", "score", "shell_tokens", "token_f1"]
