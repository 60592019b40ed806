"""Training the policy from an ``hf`` export, and acting with it.

``load_examples(folder)`` reads the export's Parquet shards (not the images: this policy reads the
page snapshot) and turns each step of each successful episode into one decision with its labels:
the action class, the element that contains the click point (the smallest box around it), the
typed string among the candidates, the key. Steps this policy cannot take (drags, scrolls) are
skipped; steps without a page snapshot are skipped.

``train(...)`` fits ``model.Policy`` with Adam, one decision at a time (episodes are short), and
records a training curve: loss, and the share of held-out (validation split) decisions taken right.
``PolicyAgent`` loads a saved model and turns an observation into an action.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from workscribe.export.source import ACTION_FIELDS
from workscribe.policy.features import (
    ACTION_CLASSES,
    Observation,
    candidates,
    element_features,
    element_key,
    history_features,
    ids,
    words,
)
from workscribe.policy.model import Policy

MODEL_FILE = "policy.pt"
REPORT_FILE = "train.json"
POLICY_CLASS = {"click": "click", "double_click": "click", "triple_click": "click", "type": "type",
                "key": "key", "hotkey": "key"}
"""The policy's action class of each recorded action type (actions of other types are not learnt)."""


@dataclass
class Example:
    """One decision of a demonstration, with its labels (None where the step gives none)."""

    obs: Observation
    kind: int
    element: int | None = None
    span: int | None = None
    key: str | None = None
    split: str = "train"
    episode: str = ""
    ticket: str | None = None  # ``TASK#SEED`` for collected MiniWoB++ demonstrations
    gold: dict[str, Any] | None = None  # the step as ``workscribe score`` reads it
    inputs: dict[str, Any] = field(default_factory=dict)


def encode(obs: Observation) -> dict[str, Any]:
    """The model's input for one observation."""
    el_ids, el_feats = element_features(obs)
    return {"instruction": ids(words(obs.instruction), 48) or [0], "history": history_features(obs),
            "element_ids": el_ids, "element_features": el_feats, "focused": obs.focused,
            "candidates": candidates(obs)}


def observation_of(row: dict[str, Any], history: list[dict[str, Any]]) -> Observation | None:
    """The observation of an exported step (None without a page snapshot)."""
    if not row.get("browser"):
        return None
    snap = json.loads(row["browser"])
    origin = (float(snap.get("origin_x") or 0), float(snap.get("origin_y") or 0))
    return Observation(row.get("task") or "", list(snap.get("elements") or []), origin, list(history))


def target_element(elements: list[dict[str, Any]], x: float | None, y: float | None) -> int | None:
    """The smallest element whose box holds (x, y)."""
    if x is None or y is None:
        return None
    best, area = None, None
    for i, el in enumerate(elements):
        bx, by, bw, bh = (el.get("box") or [0, 0, 0, 0])[:4]
        if bx <= x <= bx + bw and by <= y <= by + bh and bw > 0 and bh > 0:
            if area is None or bw * bh < area:
                best, area = i, bw * bh
    return best


def load_rows(folder: Path) -> list[dict[str, Any]]:
    """The steps of an hf export (without images), in episode and step order, with their split."""
    import pyarrow.parquet as pq

    files = sorted(Path(folder).rglob("*.parquet"))
    if not files:
        raise ValueError(f"{folder}: no Parquet files (expected an hf export: workscribe export --format hf)")
    rows = []
    columns = ["episode_id", "step", "task", "ticket", "outcome", "action_type", "x", "y", "x2", "y2",
               "button", "text", "keys", "dx", "dy", "screen_w", "screen_h", "browser"]
    for path in files:
        split = "validation" if path.name.startswith("validation") else "train"
        try:
            table = pq.read_table(path, columns=columns)
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"{path}: not an hf export shard ({exc})") from None
        rows += [{**r, "split": split} for r in table.to_pylist()]
    rows.sort(key=lambda r: (r["episode_id"], r["step"]))
    return rows


def load_examples(folder: Path, successful_only: bool = True) -> tuple[list[Example], Counter[str]]:
    """Every decision of the export's episodes (see the module docstring), and what was skipped."""
    skipped: Counter[str] = Counter()
    episodes: dict[str, list[dict[str, Any]]] = {}
    for row in load_rows(folder):
        episodes.setdefault(row["episode_id"], []).append(row)
    examples = []
    for episode_id, rows in episodes.items():
        if successful_only and rows[0]["outcome"] == "fail":
            skipped["failed_episodes"] += 1
            continue
        history: list[dict[str, Any]] = []
        for row in rows:
            kind = POLICY_CLASS.get(row["action_type"])
            obs = observation_of(row, history)
            if kind is None or obs is None:
                skipped["no_snapshot" if obs is None else f"type_{row['action_type']}"] += 1
                continue
            ex = Example(obs, ACTION_CLASSES.index(kind), split=row["split"], episode=episode_id,
                         ticket=row["ticket"])
            ex.gold = {"episode_id": episode_id, "step": row["step"], "screen_w": row["screen_w"],
                       "screen_h": row["screen_h"],
                       "action": {"type": row["action_type"], **{k: row[k] for k in ACTION_FIELDS[1:]}}}
            done: dict[str, Any] = {"type": kind, "element": None, "text": row["text"], "keys": row["keys"]}
            if kind == "click":
                ex.element = target_element(obs.elements, row["x"], row["y"])
                if ex.element is not None:
                    done["element"] = element_key(obs.elements[ex.element])
                    bx, by, bw, bh = obs.elements[ex.element]["box"][:4]
                    ex.gold["target_box"] = [bx, by, bx + bw, by + bh]  # a click anywhere on it is right
            elif kind == "type":
                texts = [c.text for c in candidates(obs)]
                ex.span = texts.index(row["text"]) if row["text"] in texts else None
                skipped["type_text_not_a_candidate"] += ex.span is None
            else:
                ex.key = row["keys"]
            examples.append(ex)
            history.append(done)
    return examples, skipped


def _loss(model: Policy, ex: Example, ce: nn.CrossEntropyLoss) -> tuple[torch.Tensor, bool]:
    """The summed cross-entropy of the heads this example has labels for, and whether all were right."""
    device = model.words.weight.device
    out = model(ex.inputs)
    loss = ce(out["kind"][None], torch.tensor([ex.kind], device=device))
    right = int(out["kind"].argmax()) == ex.kind
    if ex.element is not None and out["element"].numel():
        loss = loss + ce(out["element"][None], torch.tensor([ex.element], device=device))
        right = right and int(out["element"].argmax()) == ex.element
    if ex.span is not None and out["span"].numel():
        loss = loss + ce(out["span"][None], torch.tensor([ex.span], device=device))
        right = right and int(out["span"].argmax()) == ex.span
    if ex.key is not None and ex.key in model.keys:
        loss = loss + ce(out["key"][None], torch.tensor([model.keys.index(ex.key)], device=device))
        right = right and model.keys[int(out["key"].argmax())] == ex.key
    return loss, right


def train(examples: list[Example], out: Path, epochs: int = 15, lr: float = 3e-3, seed: int = 0,
          device: str = "cpu", progress: Callable[[int, dict[str, float]], None] | None = None,
          threads: int = 1) -> dict[str, Any]:
    """Trains a policy on ``examples`` and saves it to ``out``; returns the training report.

    On the CPU one thread is the default: the model is small, and more threads only contend (a step
    took 30 ms with 2 threads on a busy 2-core machine, under 2 ms with one).
    """
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available here")
    if device == "cpu":
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    keys = sorted({ex.key for ex in examples if ex.key})
    model = Policy(keys).to(device)
    for ex in examples:
        ex.inputs = encode(ex.obs)
    train_set = [ex for ex in examples if ex.split == "train"]
    held_out = [ex for ex in examples if ex.split != "train"]
    if not train_set:
        raise ValueError("no training decisions: the export holds no usable steps (see the skipped counts)")
    dense = [p for name, p in model.named_parameters() if not name.startswith("words.")]
    opts = [torch.optim.Adam(dense, lr=lr), torch.optim.SparseAdam(list(model.words.parameters()), lr=lr)]
    ce = nn.CrossEntropyLoss()
    curve = []
    t0 = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = list(train_set)
        rng.shuffle(order)
        total, right = 0.0, 0
        for ex in order:
            loss, ok = _loss(model, ex, ce)
            for opt in opts:
                opt.zero_grad()
            loss.backward()
            for opt in opts:
                opt.step()
            total += float(loss.detach())
            right += ok
        point = {"epoch": epoch + 1, "loss": round(total / len(order), 4),
                 "train_accuracy": round(right / len(order), 4)}
        if held_out:
            model.eval()
            with torch.no_grad():
                ok = sum(_loss(model, ex, ce)[1] for ex in held_out)
            point["validation_accuracy"] = round(ok / len(held_out), 4)
        curve.append(point)
        if progress:
            progress(epoch + 1, point)
    seconds = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"state": model.state_dict(), "keys": keys, "dim": model.dim}, out / MODEL_FILE)
    seeds: dict[str, set[int]] = {}
    for ex in examples:  # every seed the data came from: evaluation must use others
        task, _, seed_text = (ex.ticket or "").rpartition("#")
        if task and seed_text.lstrip("-").isdigit():
            seeds.setdefault(task, set()).add(int(seed_text))
    scores = held_out_scores(model, examples)
    report = {"decisions": len(train_set), "held_out": len(held_out), "epochs": epochs, "keys": keys,
              **({"held_out_scores": scores} if scores else {}),
              "seeds": {t: sorted(v) for t, v in sorted(seeds.items())},
              "episodes": len({ex.episode for ex in examples}), "train_seconds": round(seconds, 1),
              "device": device, "curve": curve}
    (out / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    return report


class PolicyAgent:
    """A trained policy that picks the next action for an observation."""

    def __init__(self, folder: Path, device: str = "cpu") -> None:
        if device == "cpu":
            torch.set_num_threads(1)
        path = Path(folder) / MODEL_FILE
        if not path.exists():
            raise ValueError(f"{folder}: no {MODEL_FILE} (train one: workscribe train EXPORT --out {folder})")
        saved = torch.load(path, map_location=device, weights_only=True)
        self.model = Policy(saved["keys"], saved["dim"]).to(device)
        self.model.load_state_dict(saved["state"])
        self.model.eval()

    def act(self, obs: Observation) -> dict[str, Any]:
        """``{"type": click|type|key, "x", "y", "text", "keys", "element"}`` in screen pixels."""
        return act(self.model, obs)


@torch.no_grad()
def act(model: Policy, obs: Observation) -> dict[str, Any]:
    """The action ``model`` takes for ``obs`` (see ``PolicyAgent.act``)."""
    x = encode(obs)
    out = model(x)
    kind = ACTION_CLASSES[int(out["kind"].argmax())]
    action: dict[str, Any] = {"type": kind, "x": None, "y": None, "text": None, "keys": None, "element": None}
    if kind == "click" and out["element"].numel():
        i = int(out["element"].argmax())
        bx, by, bw, bh = (obs.elements[i].get("box") or [0, 0, 0, 0])[:4]
        action.update(x=round(bx + bw / 2), y=round(by + bh / 2), element=element_key(obs.elements[i]))
    elif kind == "type" and out["span"].numel():
        action["text"] = x["candidates"][int(out["span"].argmax())].text
    elif kind == "key" and model.keys:
        action["keys"] = model.keys[int(out["key"].argmax())]
    return action


def held_out_scores(model: Policy, examples: list[Example]) -> dict[str, Any] | None:
    """Offline step scores (``workscribe score`` metrics) of ``model`` on held-out decisions, with the
    baselines; None when there is no held-out decision."""
    from workscribe.evaluate.metrics import baselines, score

    held = [ex for ex in examples if ex.split != "train" and ex.gold]
    if not held:
        return None
    model.eval()
    preds = []
    for ex in held:
        a = act(model, ex.obs)
        kind = a["type"] if a["type"] != "key" else ("hotkey" if "+" in (a["keys"] or "") else "key")
        action = {"type": kind, "x": a["x"], "y": a["y"], "text": a["text"], "keys": a["keys"]}
        preds.append({"episode_id": ex.gold["episode_id"], "step": ex.gold["step"],  # type: ignore[index]
                      "action": action})
    gold = [ex.gold for ex in held]
    return {"model": score(preds, gold), "baselines": baselines(gold)}
