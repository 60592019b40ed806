"""Offline metrics for behaviour-cloning predictions: how close predicted actions are to recorded ones.

A gold step is ``{"episode_id", "step", "action", "screen_w", "screen_h", "target_box"}`` (``target_box``
``[x0, y0, x1, y1]`` or None, optional); a prediction is ``{"episode_id", "step", "action"}``. Actions use
the schema of ``workscribe.process.reduce`` (``type``, ``x``, ``y``, ``x2``, ``y2``, ``button``, ``text``,
``keys``, ``dx``, ``dy``; a missing key reads as None). A prediction is matched to the gold step with the
same ``(episode_id, step)``.

``step_score`` scores one step, each part in [0, 1]:

- type: the predicted ``type`` equals the gold one.
- position (click kinds, ``drag``, ``scroll``): 0 when the predicted type is of another family (every
  click kind is one family; ``drag`` and ``scroll`` are one each). Otherwise 1 when the point lies inside
  ``target_box`` (edges included; only a drag's start point has a box), else, with ``d`` the distance in
  pixels to the gold point and ``r`` 1% of the screen diagonal::

      s(d) = 1                        if d <= r
      s(d) = exp(-(d - r) / (2 * r))  if d >  r

  so ``s`` is exp(-1) = 0.368 at 3% of the diagonal, 0.135 at 5% and 0.011 at 10%. A drag averages the
  scores of its start and end points.
- text (``type``): ``sim = 1 - levenshtein(pred, gold) / max(len(pred), len(gold))``; the score is
  ``sim`` below 0.8 and 1 from 0.8 up.
- keys (``key``, ``hotkey``): the predicted type is ``key`` or ``hotkey`` and ``keys`` is equal after
  normalising (lower case, a few aliases such as ``control`` -> ``ctrl``, modifiers in the order ctrl,
  alt, shift, super, altgr, then the key).
- scroll direction: the signs of ``dx`` and of ``dy`` both match (a missing value counts as 0).
- success: the type is exact and its argument passes: every point scores >= 0.5 (both ends of a drag),
  text ``sim`` >= 0.8, keys equal, scroll direction right and position >= 0.5. A gold step with no
  prediction scores 0 everywhere.

``score`` averages these over the gold steps each applies to (None where none does); ``baselines`` scores
two predictors that never look at the screen, with the same scorer, to compare a model against.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

CLICK_TYPES: tuple[str, ...] = ("click", "double_click", "triple_click", "right_click", "middle_click")
"""Action types that are one press at a point; they share a family for the position score."""
POSITION_TYPES: tuple[str, ...] = (*CLICK_TYPES, "drag", "scroll")
"""Action types with ``x``, ``y``: scored by position."""
KEY_TYPES: tuple[str, ...] = ("key", "hotkey")
"""Action types with ``keys``."""

METRIC_NAMES: tuple[str, ...] = (
    "action_type_accuracy", "click_score", "text_score", "key_accuracy", "scroll_direction_accuracy",
    "step_success", "episode_success",
)  # fmt: skip
"""The averaged metrics of ``score``, in the order they are shown."""

GOLD_COLUMNS: tuple[str, ...] = ("episode_id", "step", "action", "screen_w", "screen_h")
"""Columns read from the Parquet files of an ``hf`` export (and ``target_box`` where present)."""

RADIUS_FRACTION = 0.01  # r: full position score within 1% of the screen diagonal
TEXT_PASS = 0.8  # text similarity counted as a full match, and needed for success
PASS = 0.5  # position score needed for success

_FAMILY = {**dict.fromkeys(CLICK_TYPES, "click"), "drag": "drag", "scroll": "scroll", "type": "type",
           "key": "keys", "hotkey": "keys"}
_MOD_ORDER = ("ctrl", "alt", "shift", "super", "altgr")  # as the reducer writes ``keys``
_KEY_ALIASES = {
    "control": "ctrl", "ctl": "ctrl", "option": "alt", "opt": "alt", "cmd": "super", "command": "super",
    "win": "super", "windows": "super", "return": "enter", "esc": "escape",
    "pageup": "page_up", "pagedown": "page_down", "pgup": "page_up", "pgdn": "page_down",
}  # fmt: skip
_ACTION_FIELDS = ("type", "x", "y", "x2", "y2", "button", "text", "keys", "dx", "dy")


# ----- one step


def step_score(pred_action: dict | None, gold_step: dict) -> dict[str, Any]:
    """Scores one predicted action against one gold step.

    Args:
        pred_action: the predicted action, or None when there is no prediction for this step.
        gold_step: a gold step (see the module docstring).

    Returns:
        ``type`` (gold), ``predicted_type``, ``missing``, ``type_ok``, ``success``, and the argument scores
        that apply to the gold type (None otherwise): ``position`` (mean of ``points``, one score per
        point: two for a drag), ``text_similarity`` and ``text``, ``keys_ok``, ``direction_ok``.

    Raises:
        ValueError: ``gold_step`` is malformed.
    """
    gold_step = _check_gold(gold_step, "gold step")
    gold = gold_step["action"]
    gtype = gold["type"]
    pred = pred_action if isinstance(pred_action, dict) else {}
    ptype = pred.get("type")
    same_family = ptype in _FAMILY and _FAMILY.get(ptype) == _FAMILY.get(gtype)
    out: dict[str, Any] = {
        "type": gtype, "predicted_type": ptype, "missing": pred_action is None, "type_ok": ptype == gtype,
        "position": None, "points": None, "text_similarity": None, "text": None, "keys_ok": None,
        "direction_ok": None,
    }  # fmt: skip
    args_ok = True
    if gtype in POSITION_TYPES:
        points = _point_scores(pred, gold_step) if same_family else [0.0] * (2 if gtype == "drag" else 1)
        out["points"] = points
        out["position"] = sum(points) / len(points)
        args_ok = all(p >= PASS for p in points)
    if gtype == "scroll":
        out["direction_ok"] = same_family and all(
            _sign(_num(pred.get(k)) or 0) == _sign(_num(gold.get(k)) or 0) for k in ("dx", "dy"))
        args_ok = args_ok and out["direction_ok"]
    elif gtype == "type":
        ptext = pred.get("text") if same_family and isinstance(pred.get("text"), str) else None
        sim = text_similarity(ptext, gold.get("text") or "") if ptext is not None else 0.0
        out["text_similarity"] = sim
        out["text"] = 1.0 if sim >= TEXT_PASS else sim
        args_ok = sim >= TEXT_PASS
    elif gtype in KEY_TYPES:
        pkeys = pred.get("keys")
        out["keys_ok"] = bool(same_family and isinstance(pkeys, str)
                              and normalize_keys(pkeys) == normalize_keys(gold.get("keys") or ""))
        args_ok = out["keys_ok"]
    out["success"] = out["type_ok"] and args_ok
    return out


def position_score(distance: float, diagonal: float) -> float:
    """1 within ``r`` = 1% of ``diagonal``, then ``exp(-(distance - r) / (2 r))``."""
    r = RADIUS_FRACTION * diagonal
    if distance <= r:
        return 1.0
    return math.exp(-(distance - r) / (2 * r))


def _point_scores(pred: dict, gold_step: dict) -> list[float]:
    gold = gold_step["action"]
    diagonal = math.hypot(gold_step["screen_w"], gold_step["screen_h"])
    ends = [("x", "y", gold_step.get("target_box"))]
    if gold.get("type") == "drag":
        ends.append(("x2", "y2", None))
    scores = []
    for kx, ky, box in ends:
        px, py = _num(pred.get(kx)), _num(pred.get(ky))
        if px is None or py is None:
            scores.append(0.0)
        elif box is not None and _inside(px, py, box):
            scores.append(1.0)
        else:
            scores.append(position_score(math.hypot(px - gold[kx], py - gold[ky]), diagonal))
    return scores


def _inside(x: float, y: float, box: list[float]) -> bool:
    x0, y0, x1, y1 = box
    return min(x0, x1) <= x <= max(x0, x1) and min(y0, y1) <= y <= max(y0, y1)


def text_similarity(a: str, b: str) -> float:
    """``1 - levenshtein(a, b) / max(len(a), len(b))``; 1 for two empty strings."""
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1.0 - levenshtein(a, b) / longest


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions of one character each)."""
    if len(a) < len(b):
        a, b = b, a
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def normalize_keys(keys: str) -> str:
    """``"Shift+Control+T"`` -> ``"ctrl+shift+t"``: lower case, aliases, modifiers in the reducer's order."""
    parts = [_KEY_ALIASES.get(p, p) for p in (p.strip().lower() for p in keys.split("+")) if p]
    mods = [m for m in _MOD_ORDER if m in parts]
    return "+".join([*mods, *(p for p in parts if p not in _MOD_ORDER)])


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return value


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


# ----- averages


def score(preds: Iterable[dict], gold: Iterable[dict]) -> dict[str, Any]:
    """Scores predictions against gold steps.

    Args:
        preds: predictions ``{"episode_id", "step", "action"}``; those matching no gold step are counted
            as ``unmatched_predictions`` and otherwise ignored.
        gold: gold steps; one without a prediction scores 0.

    Returns:
        Each name in ``METRIC_NAMES`` -> its mean over the gold steps it applies to (None where none does),
        ``per_type`` ({gold type: {"n", "step_success"}}) and ``counts`` (``steps``, ``episodes``,
        ``predictions``, ``missing_predictions``, ``unmatched_predictions``).

    Raises:
        ValueError: a malformed step or prediction, or two for the same ``(episode_id, step)``.
    """
    steps = _unique([_check_gold(s, f"gold step {i}") for i, s in enumerate(gold, 1)], "gold step")
    by_key = _unique([_check_pred(p, f"prediction {i}") for i, p in enumerate(preds, 1)], "prediction")
    results = [step_score(by_key[k]["action"] if k in by_key else None, s) for k, s in steps.items()]

    episodes: dict[str, bool] = {}
    per_type: dict[str, list[bool]] = defaultdict(list)
    for (episode, _), r in zip(steps, results, strict=True):
        episodes[episode] = episodes.get(episode, True) and r["success"]
        per_type[r["type"]].append(r["success"])
    metrics: dict[str, Any] = {
        "action_type_accuracy": _mean(results, "type_ok"),
        "click_score": _mean(results, "position"),
        "text_score": _mean(results, "text"),
        "key_accuracy": _mean(results, "keys_ok"),
        "scroll_direction_accuracy": _mean(results, "direction_ok"),
        "step_success": _mean(results, "success"),
        "episode_success": sum(episodes.values()) / len(episodes) if episodes else None,
    }
    metrics["per_type"] = {t: {"n": len(v), "step_success": sum(v) / len(v)}
                           for t, v in sorted(per_type.items())}
    metrics["counts"] = {
        "steps": len(steps), "episodes": len(episodes), "predictions": len(by_key),
        "missing_predictions": sum(r["missing"] for r in results),
        "unmatched_predictions": sum(k not in steps for k in by_key),
    }  # fmt: skip
    return metrics


def _mean(results: list[dict], key: str) -> float | None:
    """Mean of ``key`` over the results where it applies (is not None); None where it never does."""
    values = [r[key] for r in results if r[key] is not None]
    return sum(values) / len(values) if values else None


def _unique(items: list[dict], what: str) -> dict[tuple[str, int], dict]:
    out: dict[tuple[str, int], dict] = {}
    for item in items:
        key = (item["episode_id"], item["step"])
        if key in out:
            raise ValueError(f"two {what}s for episode {key[0]!r} step {key[1]}")
        out[key] = item
    return out


# ----- baselines


def baselines(gold: list[dict]) -> dict[str, dict]:
    """Scores of two predictors that never look at the screen, for comparison with a model.

    - ``most_frequent``: every step gets ``most_frequent_action(gold)``.
    - ``repeat_last``: every step gets the previous gold action of its episode (by ``step``); an
      episode's first step gets the most frequent action.

    Returns:
        ``{"most_frequent": score(...), "repeat_last": score(...)}``.
    """
    steps = [_check_gold(s, f"gold step {i}") for i, s in enumerate(gold, 1)]
    common = most_frequent_action(steps)
    repeat: list[dict] = []
    previous: dict[str, dict] = {}
    for s in sorted(steps, key=lambda s: (s["episode_id"], s["step"])):
        action = previous.get(s["episode_id"], common)
        repeat.append({"episode_id": s["episode_id"], "step": s["step"], "action": action})
        previous[s["episode_id"]] = s["action"]
    mostly = [{"episode_id": s["episode_id"], "step": s["step"], "action": common} for s in steps]
    return {"most_frequent": score(mostly, steps), "repeat_last": score(repeat, steps)}


def most_frequent_action(gold: list[dict]) -> dict | None:
    """The most frequent gold type, with the most frequent arguments of that type.

    Points are per-coordinate medians (the lower middle value); ``button``, ``text``, ``keys`` (normalised)
    and the ``(dx, dy)`` of a scroll are the most common values. Ties go to the smaller value. None
    when ``gold`` is empty.
    """
    if not gold:
        return None
    kind = _mode([s["action"].get("type") for s in gold])
    actions = [s["action"] for s in gold if s["action"].get("type") == kind]
    out: dict[str, Any] = dict.fromkeys(_ACTION_FIELDS)
    out["type"] = kind
    if kind in POSITION_TYPES:
        for k in ("x", "y", *(("x2", "y2") if kind == "drag" else ())):
            out[k] = statistics.median_low(a[k] for a in actions)
        out["button"] = _mode([a.get("button") for a in actions])
    if kind == "scroll":
        out["dx"], out["dy"] = _mode([(a.get("dx") or 0, a.get("dy") or 0) for a in actions])
    elif kind == "type":
        out["text"] = _mode([a.get("text") or "" for a in actions])
    elif kind in KEY_TYPES:
        out["keys"] = _mode([normalize_keys(a.get("keys") or "") for a in actions])
    return out


def _mode(values: list[Any]) -> Any:
    """The most common value; ties go to the smallest (None last)."""
    counts = Counter(values)
    return min(counts.items(), key=lambda kv: (-kv[1], kv[0] is None, "" if kv[0] is None else kv[0]))[0]


# ----- files


def load_gold(path: Path) -> list[dict]:
    """Gold steps from a JSONL file, or from every ``*.parquet`` under a folder (an ``hf`` export).

    Raises:
        ValueError: one line naming the file and line (or row): unreadable, malformed, a repeated step,
            or no steps at all.
    """
    path = Path(path)
    rows = _parquet_rows(path) if path.is_dir() else jsonl_rows(path)
    steps = _no_repeats([(_check_gold(obj, where), where) for obj, where in rows])
    if not steps:
        raise ValueError(f"no gold steps in {path}")
    return steps


def load_predictions(path: Path) -> list[dict]:
    """Predictions from a JSONL file, one ``{"episode_id", "step", "action"}`` a line (blank lines skipped).

    Raises:
        ValueError: one line naming the file and line: unreadable, malformed, or a repeated step.
    """
    return _no_repeats([(_check_pred(obj, where), where) for obj, where in jsonl_rows(Path(path))])


def _no_repeats(items: list[tuple[dict, str]]) -> list[dict]:
    seen: dict[tuple[str, int], str] = {}
    for item, where in items:
        key = (item["episode_id"], item["step"])
        if key in seen:
            raise ValueError(f"{where}: episode {key[0]!r} step {key[1]} is already at {seen[key]}")
        seen[key] = where
    return [item for item, _ in items]


def jsonl_rows(path: Path) -> Iterator[tuple[Any, str]]:
    """``(object, "PATH line N")`` for each non-blank line of a JSONL file."""
    try:
        with open(path, "rb") as f:
            for n, raw in enumerate(f, 1):
                where = f"{path} line {n}"
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise ValueError(f"{where}: not UTF-8 text") from None
                if not text.strip():
                    continue
                try:
                    yield json.loads(text), where
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from None
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None


def _parquet_rows(folder: Path) -> Iterator[tuple[Any, str]]:
    """``(row, "FILE row N")`` for each row of every ``*.parquet`` under ``folder``, ``action`` parsed."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ValueError(f"{folder} is a folder of Parquet files; reading them needs pyarrow "
                         "(pip install pyarrow)") from None
    files = sorted(p for p in folder.rglob("*.parquet") if p.is_file())
    if not files:
        raise ValueError(f"no gold steps in {folder}: it is a folder without *.parquet files")
    for file in files:
        try:
            pf = pq.ParquetFile(file)
            names = pf.schema_arrow.names
            missing = [c for c in GOLD_COLUMNS if c not in names]
            if missing:
                raise ValueError(f"{file}: no column {', '.join(missing)} (a gold step needs "
                                 f"{', '.join(GOLD_COLUMNS)})")
            rows = pf.read(columns=[*GOLD_COLUMNS, *(["target_box"] if "target_box" in names else [])])
        except (pa.ArrowException, OSError) as exc:
            first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
            raise ValueError(f"cannot read {file}: {first_line}") from None
        for n, row in enumerate(rows.to_pylist(), 1):
            where = f"{file} row {n}"
            if isinstance(row["action"], str):
                try:
                    row["action"] = json.loads(row["action"])
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{where}: action is not JSON ({exc.msg})") from None
            yield row, where


# ----- checks


def _check_gold(step: Any, where: str) -> dict:
    """A normalised copy of a gold step, or ``ValueError("WHERE: problem")``."""
    out = _check_pred(step, where)
    action = out["action"]
    if not isinstance(action.get("type"), str):
        raise ValueError(f"{where}: action has no type")
    for k in ("screen_w", "screen_h"):
        value = _num(step.get(k))
        if value is None or value <= 0:
            raise ValueError(f"{where}: {k} must be a number > 0, found {step.get(k)!r}")
        out[k] = value
    box = step.get("target_box")
    if box is not None and (not isinstance(box, list | tuple) or len(box) != 4
                            or any(_num(v) is None for v in box)):
        raise ValueError(f"{where}: target_box must be [x0, y0, x1, y1] or null, found {box!r}")
    out["target_box"] = list(box) if box is not None else None
    needs = ("x", "y", "x2", "y2") if action["type"] == "drag" else ("x", "y")
    if action["type"] in POSITION_TYPES:
        for k in needs:
            if _num(action.get(k)) is None:
                raise ValueError(f"{where}: a {action['type']} action needs a number in {k}, "
                                 f"found {action.get(k)!r}")
    return out


def _check_pred(pred: Any, where: str) -> dict:
    """A normalised copy of a prediction (``episode_id`` a str), or ``ValueError("WHERE: problem")``."""
    if not isinstance(pred, dict):
        raise ValueError(f"{where}: expected a JSON object, found {type(pred).__name__}")
    episode, step, action = pred.get("episode_id"), pred.get("step"), pred.get("action")
    if isinstance(episode, bool) or not isinstance(episode, str | int):
        raise ValueError(f"{where}: episode_id must be a string, found {episode!r}")
    if isinstance(step, bool) or not isinstance(step, int):
        raise ValueError(f"{where}: step must be an integer, found {step!r}")
    if not isinstance(action, dict):
        raise ValueError(f"{where}: action must be an object, found {action!r}")
    return {"episode_id": str(episode), "step": step,
            "action": {k: action.get(k) for k in (*_ACTION_FIELDS, *action)}}
