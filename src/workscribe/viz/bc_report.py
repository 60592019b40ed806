"""The behaviour-cloning loop on one page: how the policy did, how it learnt, what it does on frames.

``render_bc_report(model_dir, export_dir, eval_result, out)`` writes one self-contained HTML page:

1. success per task of the model beside its baselines (the JSON of ``workscribe eval``), as a table
   and as a grouped bar chart;
2. the training curve of ``model_dir/train.json`` (loss; train and validation accuracy per epoch) and
   the training facts (decisions, episodes, seconds, device);
3. up to ``max_frames`` decisions of the hf export with the demonstrated action (green: a ring at
   the click point, the text or keys in the caption) and the policy's (red: a cross at its click
   point) drawn on the frame the step was taken on, cropped to the browser viewport and scaled up.

The decisions are those ``load_examples`` gives (steps of successful episodes with a page snapshot,
each with the history of its episode), from the validation split when it has any, spread evenly
over tasks. Only the chosen rows' images are read. Plots and frames are inline PNGs; there is no
script and no network resource, and the same inputs give the same bytes (as in ``viz.report``).
"""

from __future__ import annotations

import base64
import html
import io
import json
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from workscribe.policy.features import ACTION_CLASSES, element_key
from workscribe.policy.train import POLICY_CLASS, REPORT_FILE, Example, PolicyAgent, load_examples, load_rows
from workscribe.viz import drawing, plotting

DEMONSTRATED = (30, 200, 70)
"""Colour of the demonstrated action: a ring at its click point and its caption line."""

PREDICTED = (235, 40, 40)
"""Colour of the policy's action: a cross at its click point and its caption line."""

FRAME_SCALE = 2
"""Each cropped frame is scaled up this many times (nearest neighbour) for legibility."""

MIN_FRAME_WIDTH = 480
"""Frames narrower than this (after scaling) sit on a canvas this wide, so captions fit."""

SERIES_COLOURS = ("#4878a8", "#a0a0a0", "#e08a3c", "#6aa36f", "#9467bd")
"""Bar colours: the model first, then each baseline in the order ``eval_result`` lists them."""

StepImage = tuple[bytes, int | None]
"""A step's frame: its PNG bytes and the screen width its action coordinates are in (None: the PNG's)."""

_BAND_LINE = 20  # pixels per caption line under a frame
_BACKGROUND = (32, 32, 36)


@dataclass
class Decision:
    """One decision of the export: its row (without the image) and its example (observation, labels)."""

    row: dict[str, Any]
    example: Example

    @property
    def key(self) -> tuple[str, int]:
        return self.row["episode_id"], self.row["step"]

    @property
    def task(self) -> str:
        """The task's name: from the ticket of a collected demonstration (``TASK#SEED``), else its title."""
        name, _, seed = (self.row["ticket"] or "").rpartition("#")
        return name if name and seed.lstrip("-").isdigit() else self.row["task"] or ""


def render_bc_report(model_dir: Path, export_dir: Path, eval_result: dict[str, Any], out: Path,
                     max_frames: int = 12, title: str = "workscribe behaviour cloning") -> Path:
    """Writes the behaviour-cloning report (see the module docstring) to ``out``.

    Args:
        model_dir: A folder of ``workscribe train``: ``policy.pt`` and ``train.json``.
        export_dir: The hf export the model was trained on (``workscribe export --format hf``).
        eval_result: The JSON of ``workscribe eval``: ``{"tasks": {task: {success_rate, mean_reward,
            episodes}}, "mean_success", "seeds": [first, last], "baselines": {name: same shape}}``.
        out: Path of the HTML page to write; missing folders are created.
        max_frames: The most decisions drawn on frames.
        title: Title of the page.

    Returns:
        ``out``.

    Raises:
        ValueError: ``eval_result`` has no ``tasks``, ``max_frames`` is negative, the model folder has no
            model, or the export holds no Parquet shards.
    """
    if not isinstance(eval_result.get("tasks"), dict):
        raise ValueError("eval_result has no 'tasks': pass the JSON of `workscribe eval --json`")
    if max_frames < 0:
        raise ValueError(f"max_frames must be >= 0, got {max_frames}")
    model_dir, export_dir = Path(model_dir), Path(export_dir)
    agent = PolicyAgent(model_dir)
    report_path = model_dir / REPORT_FILE
    trained = json.loads(report_path.read_text()) if report_path.exists() else {}
    decisions = export_decisions(export_dir)
    split = "validation" if any(d.row["split"] == "validation" for d in decisions) else "train"
    chosen = spread_over_tasks([d for d in decisions if d.row["split"] == split], max_frames)
    images = read_images(export_dir, {d.key for d in chosen})

    esc = html.escape
    page = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
            f"<title>{esc(title)}</title>", f"<style>{plotting.STYLE}{_FRAME_STYLE}</style>", "</head>",
            "<body>",
            f"<h1>{esc(title)}</h1>", f"<p>Model: {esc(str(model_dir))}; export: {esc(str(export_dir))}</p>"]
    page += _success_section(eval_result)
    page += _training_section(trained)
    page += _frames_section(agent, chosen, images, split, len(decisions))
    page += ["</body>", "</html>", ""]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes("\n".join(page).encode("utf-8"))
    return out


def export_decisions(export_dir: Path) -> list[Decision]:
    """The decisions ``load_examples`` makes of the export, each with the row it came from."""
    rows = {(r["episode_id"], r["step"]): r for r in load_rows(export_dir)}
    return [Decision(rows[ex.gold["episode_id"], ex.gold["step"]], ex)  # type: ignore[index]
            for ex in load_examples(export_dir)[0]]


def spread_over_tasks(decisions: list[Decision], limit: int) -> list[Decision]:
    """Up to ``limit`` decisions: as many from each task as the others (tasks by name, round robin),
    evenly spaced within a task's decisions (which are in episode and step order).

    A task is named by the ticket of a collected demonstration (``click-test#7``: ``click-test``), so
    that the seeds of a task, each with its own instruction, count as one task."""
    by_task: dict[str, list[Decision]] = {}
    for d in decisions:
        by_task.setdefault(d.task, []).append(d)
    tasks = sorted(by_task)
    quota = dict.fromkeys(tasks, 0)
    left = limit
    while left > 0 and any(quota[t] < len(by_task[t]) for t in tasks):
        for t in tasks:
            if left > 0 and quota[t] < len(by_task[t]):
                quota[t] += 1
                left -= 1
    chosen = []
    for t in tasks:
        items, k = by_task[t], quota[t]
        chosen += [items[j * len(items) // k] for j in range(k)]
    return chosen


def read_images(export_dir: Path, wanted: set[tuple[str, int]]) -> dict[tuple[str, int], StepImage]:
    """The images of the ``(episode_id, step)`` rows wanted that have one; only the row groups holding
    a wanted row are read."""
    import pyarrow.parquet as pq

    found: dict[tuple[str, int], StepImage] = {}
    if not wanted:
        return found
    for path in sorted(Path(export_dir).rglob("*.parquet")):
        shard = pq.ParquetFile(path)
        for group in range(shard.num_row_groups):
            keys = shard.read_row_group(group, columns=["episode_id", "step"]).to_pylist()
            hits = [i for i, k in enumerate(keys) if (k["episode_id"], k["step"]) in wanted]
            if not hits:
                continue
            table = shard.read_row_group(group, columns=["image", "screen_w"]).take(hits)
            for i, image, screen_w in zip(hits, table.column("image").to_pylist(),
                                          table.column("screen_w").to_pylist(), strict=True):
                if image and image.get("bytes"):
                    found[keys[i]["episode_id"], keys[i]["step"]] = (image["bytes"], screen_w)
    return found


# -- success per task ----------------------------------------------------------------------------------

def _success_section(result: dict[str, Any]) -> list[str]:
    esc = html.escape
    series = {"model": result, **(result.get("baselines") or {})}
    tasks = list(result["tasks"])
    seeds = result.get("seeds") or []
    seeds_note = f" on seeds {seeds[0]}..{seeds[-1]}" if seeds else ""
    out = ["<h2>Success per task</h2>",
           f"<p>Share of episodes with a positive reward{esc(seeds_note)}, the model beside its "
           f"baselines (the same seeds).</p>",
           "<table>", "<tr><th>task</th>" + "".join(f"<th>{esc(s)}</th>" for s in series)
           + "<th>episodes</th></tr>"]
    for task in tasks:
        cells = "".join(f'<td class="n">{_rate(_task_rate(s, task))}</td>' for s in series.values())
        out.append(f'<tr><td>{esc(task)}</td>{cells}<td class="n">{result["tasks"][task].get("episodes", "")}'
                   f"</td></tr>")
    cells = "".join(f'<td class="n">{_rate(s.get("mean_success"))}</td>' for s in series.values())
    out += [f"<tr><th>mean</th>{cells}<td></td></tr>", "</table>"]
    chart = _grouped_bars({name: {**{t: _task_rate(s, t) for t in tasks}, "mean": s.get("mean_success")}
                           for name, s in series.items()})
    out += _img("Success per task", chart,
                "Success rate per task and over tasks (mean), one bar per policy; a missing bar is a task "
                "the policy was not run on.")
    return out


def _task_rate(summary: dict[str, Any], task: str) -> float | None:
    return (summary.get("tasks") or {}).get(task, {}).get("success_rate")


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _grouped_bars(series: dict[str, dict[str, float | None]]) -> bytes:
    """Horizontal bars grouped by task (first task on top), one bar per series in each group."""
    groups = list(next(iter(series.values())))
    fig = plotting.figure(len(groups) * max(2, len(series)) // 2 + 2)
    ax = fig.add_subplot()
    height = 0.8 / len(series)
    for j, (name, values) in enumerate(series.items()):
        ys = [len(groups) - 1 - i + (len(series) / 2 - j - 0.5) * height for i in range(len(groups))]
        shown = [(y, values[g]) for y, g in zip(ys, groups, strict=True) if values[g] is not None]
        bars = ax.barh([y for y, _ in shown], [v for _, v in shown], height=height, label=name,
                       color=SERIES_COLOURS[j % len(SERIES_COLOURS)])
        ax.bar_label(bars, labels=[f"{v:.2f}" for _, v in shown], padding=3, fontsize=8)
    ax.set_yticks(range(len(groups)), groups[::-1])
    ax.set_xlim(0, 1.12)
    ax.set_xlabel("success rate")
    fig.legend(loc="outside right upper", fontsize=8)
    return plotting.png(fig)


# -- training --------------------------------------------------------------------------------------------

def _training_section(trained: dict[str, Any]) -> list[str]:
    esc = html.escape
    out = ["<h2>Training</h2>"]
    if not trained:
        return [*out, f"<p>No {REPORT_FILE} in the model folder: no training curve.</p>"]
    curve = trained.get("curve") or []
    last = curve[-1] if curve else {}
    facts = [("decisions (train)", trained.get("decisions")),
             ("decisions (validation)", trained.get("held_out")),
             ("episodes", trained.get("episodes")), ("epochs", trained.get("epochs")),
             ("train seconds", trained.get("train_seconds")), ("device", trained.get("device")),
             ("final loss", last.get("loss")), ("final train accuracy", last.get("train_accuracy")),
             ("final validation accuracy", last.get("validation_accuracy"))]
    out += ["<table>", "<tr><th>figure</th><th>value</th></tr>"]
    out += [f'<tr><td>{esc(k)}</td><td class="n">{esc(str(v))}</td></tr>' for k, v in facts if v is not None]
    out.append("</table>")
    out += _img("Training curve", _curve(curve),
                "Mean loss per decision over each epoch (left); share of decisions taken right (every head "
                "with a label right) on the training split during the epoch and on the validation split "
                "after it (right).")
    return out


def _curve(curve: list[dict[str, float]]) -> bytes:
    fig = plotting.figure(10)
    loss_ax, acc_ax = fig.subplots(1, 2)
    epochs = [p["epoch"] for p in curve]
    if curve:
        loss_ax.plot(epochs, [p["loss"] for p in curve], marker="o", color="#4878a8")
        acc_ax.plot(epochs, [p["train_accuracy"] for p in curve], marker="o", color="#4878a8", label="train")
        if any("validation_accuracy" in p for p in curve):
            points = [(p["epoch"], p["validation_accuracy"]) for p in curve if "validation_accuracy" in p]
            acc_ax.plot(*zip(*points, strict=True), marker="o", color="#e08a3c", label="validation")
        acc_ax.legend(loc="lower right", fontsize=8)
    else:
        plotting.no_data(loss_ax)
        plotting.no_data(acc_ax)
    acc_ax.set_ylim(0, 1.05)
    for ax, label in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        plotting.integer_ticks(ax.xaxis)
    return plotting.png(fig)


# -- decisions on frames ---------------------------------------------------------------------------------

_FRAME_STYLE = """
figure { margin: 1.5em 0; }
figcaption { color: #555; }
.demo { color: #1a8a3a; } .pred { color: #c02020; }
"""


def _frames_section(agent: PolicyAgent, chosen: list[Decision],
                    images: dict[tuple[str, int], StepImage],
                    split: str, total: int) -> list[str]:
    esc = html.escape
    out = ["<h2>Predicted and demonstrated actions</h2>"]
    if not chosen:
        return [*out, "<p>No decision to show: the export has no step of a successful episode with a page "
                      "snapshot.</p>"]
    drawn = []
    for d in chosen:
        predicted = agent.act(d.example.obs)
        drawn.append((d, predicted, _matches(d, predicted)))
    matching = sum(m for _, _, m in drawn)
    out.append(f"<p>{len(chosen)} of the {total} decisions of the export, from the {esc(split)} split, "
               f"spread over tasks; the policy's action matches the demonstrated one in {matching} of them. "
               f'<span class="demo">Green</span>: demonstrated (a ring at the click point); '
               f'<span class="pred">red</span>: predicted (a cross at the click point).</p>')
    for d, predicted, match in drawn:
        png = _frame(d, predicted, match, images.get(d.key))
        data = base64.b64encode(png).decode("ascii")
        verdict = "match" if match else "differs"
        caption = (f"{d.task}, episode {d.row['episode_id']} step {d.row['step']}: {verdict}. "
                   f"{textwrap.shorten(d.example.obs.instruction, 100)}")
        out += ["<figure>", f'<img alt="{esc(caption)}" src="data:image/png;base64,{data}">',
                f"<figcaption>{esc(caption)}</figcaption>", "</figure>"]
    return out


def _matches(d: Decision, predicted: dict[str, Any]) -> bool:
    """The same class of action on the same element, with the same text, or the same keys."""
    ex = d.example
    kind = ACTION_CLASSES[ex.kind]
    if predicted["type"] != kind:
        return False
    if kind == "click":
        return ex.element is not None and predicted["element"] == element_key(ex.obs.elements[ex.element])
    if kind == "type":
        return predicted["text"] == d.row["text"]
    return predicted["keys"] == d.row["keys"]


def _describe(action: dict[str, Any]) -> str:
    kind = action.get("type")
    if kind == "type":
        return f'type "{action.get("text") or ""}"'
    if kind in ("key", "hotkey"):
        return f"{kind} {action.get('keys') or ''}"
    if action.get("x") is None:
        return f"{kind} (no element)"
    return f"{kind} at {action['x']}, {action['y']}"


def _frame(d: Decision, predicted: dict[str, Any], match: bool, image: StepImage | None) -> bytes:
    """The frame cropped to the viewport, scaled up, with both actions drawn and a caption band."""
    row = d.row
    demonstrated = {"type": row["action_type"], "x": row["x"], "y": row["y"], "text": row["text"],
                    "keys": row["keys"]}
    place: tuple[float, float, float] | None = None  # (scale, left, top): screen pixels to frame pixels
    if image is not None:
        img = Image.open(io.BytesIO(image[0])).convert("RGB")
        scale = img.width / image[1] if image[1] else 1.0
        box = _viewport(row, scale, img.size)
        frame = img.crop(box)
        frame = frame.resize((frame.width * FRAME_SCALE, frame.height * FRAME_SCALE),
                             Image.Resampling.NEAREST)
        place = (scale, box[0], box[1])
    else:
        frame = Image.new("RGB", (MIN_FRAME_WIDTH, MIN_FRAME_WIDTH * 3 // 4), (128, 128, 128))
        drawing.text(ImageDraw.Draw(frame), (frame.width / 2, frame.height / 2), "no frame", drawing.font(16),
                     (40, 40, 40), "mm")
    x_off = (max(frame.width, MIN_FRAME_WIDTH) - frame.width) // 2

    def at(action: dict[str, Any]) -> tuple[float, float] | None:
        if place is None or action.get("x") is None or action.get("y") is None:
            return None
        scale, left, top = place
        return (action["x"] * scale - left) * FRAME_SCALE + x_off, (action["y"] * scale - top) * FRAME_SCALE

    font = drawing.font(14)
    width = max(frame.width, MIN_FRAME_WIDTH)
    band = 3 * _BAND_LINE + 8
    canvas = Image.new("RGBA", (width, frame.height + band), (*_BACKGROUND, 255))
    canvas.paste(frame, (x_off, 0))
    layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    p = at(demonstrated) if POLICY_CLASS.get(row["action_type"]) == "click" else None
    if p:
        drawing.ring(draw, p, 11, DEMONSTRATED)
        drawing.dot(draw, p, 2, DEMONSTRATED)
    q = at(predicted) if predicted["type"] == "click" else None
    if q:
        _cross(draw, q, 8, PREDICTED)
    verdict = "match" if match else "differs"
    header = f"step {row['step']}  {verdict}  {d.example.obs.instruction}"
    lines = [(header, (235, 235, 235)), (f"demonstrated: {_describe(demonstrated)}", DEMONSTRATED),
             (f"predicted: {_describe(predicted)}", PREDICTED)]
    for i, (text, colour) in enumerate(lines):
        line = drawing.fit(text, font, width - 12)
        drawing.text(draw, (6, frame.height + 4 + _BAND_LINE * (i + 0.5)), line, font, (*colour, 255), "lm")
    out = io.BytesIO()
    Image.alpha_composite(canvas, layer).convert("RGB").save(out, format="PNG")
    return out.getvalue()


def _viewport(row: dict[str, Any], scale: float, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The browser viewport of the row's page snapshot in frame pixels, else the whole frame."""
    snap = json.loads(row["browser"]) if row.get("browser") else {}
    whole = (0, 0, *size)
    if not all(isinstance(snap.get(k), int | float) for k in ("origin_x", "origin_y", "width", "height")):
        return whole
    left, top = max(0, round(snap["origin_x"] * scale)), max(0, round(snap["origin_y"] * scale))
    right = min(size[0], round((snap["origin_x"] + snap["width"]) * scale))
    bottom = min(size[1], round((snap["origin_y"] + snap["height"]) * scale))
    return (left, top, right, bottom) if right > left and bottom > top else whole


def _cross(draw: ImageDraw.ImageDraw, p: tuple[float, float], r: float, colour: tuple[int, int, int]) -> None:
    """An x centred on ``p`` with arms ``r`` long, on a dark halo (visible on light and dark frames)."""
    arms = [((p[0] - r, p[1] - r), (p[0] + r, p[1] + r)), ((p[0] - r, p[1] + r), (p[0] + r, p[1] - r))]
    for fill, width in (((0, 0, 0, 220), 6), ((*colour, 255), 3)):
        for a, b in arms:
            draw.line([a, b], fill=fill, width=width)


def _img(heading: str, png: bytes, note: str) -> list[str]:
    esc = html.escape
    data = base64.b64encode(png).decode("ascii")
    return [f"<h3>{esc(heading)}</h3>", f'<img alt="{esc(heading)}" src="data:image/png;base64,{data}">',
            f'<p class="note">{esc(note)}</p>']
