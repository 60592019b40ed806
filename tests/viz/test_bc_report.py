"""The behaviour-cloning report on a tiny hf export and a tiny trained policy: tables, plots, frames."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageDraw

from workscribe.export.hf import SCHEMA
from workscribe.policy.features import ACTION_CLASSES, Observation, candidates
from workscribe.policy.train import Example, train
from workscribe.viz.bc_report import DEMONSTRATED, FRAME_SCALE, render_bc_report

SCREEN = (320, 240)
VIEWPORT = (30, 40, 260, 150)  # origin_x, origin_y, width, height in screen pixels
CLICK = 'Click on the "ok" button.'
ENTER = 'Enter "bob" into the field.'

EVAL = {"tasks": {"click-button": {"success_rate": 0.84, "mean_reward": 0.7, "episodes": 50},
                  "enter-text": {"success_rate": 0.36, "mean_reward": 0.2, "episodes": 50}},
        "mean_success": 0.6, "seeds": [100000, 100049],
        "baselines": {"random": {"tasks": {"click-button": {"success_rate": 0.12, "mean_reward": -0.5,
                                                            "episodes": 50},
                                           "enter-text": {"success_rate": 0.0, "mean_reward": -1.0,
                                                          "episodes": 50}},
                                 "mean_success": 0.06},
                      "demonstrator": {"tasks": {"click-button": {"success_rate": 1.0, "mean_reward": 0.9,
                                                                  "episodes": 50},
                                                 "enter-text": {"success_rate": 0.98, "mean_reward": 0.8,
                                                                "episodes": 50}},
                                       "mean_success": 0.99}}}


def buttons() -> list[dict]:
    return [{"tag": "button", "text": w, "box": [40 + 60 * i, 60, 50, 20]}
            for i, w in enumerate(("ok", "cancel"))]


def field(focused: bool) -> list[dict]:
    return [{"tag": "input", "type": "text", "name": "answer", "focused": focused, "box": [40, 60, 120, 20]},
            {"tag": "button", "text": "submit", "box": [40, 100, 60, 20]}]


def frame(elements: list[dict], shade: int) -> bytes:
    img = Image.new("RGB", SCREEN, (60, 60, 60))
    draw = ImageDraw.Draw(img)
    ox, oy, w, h = VIEWPORT
    draw.rectangle((ox, oy, ox + w - 1, oy + h - 1), fill=(250, 250, shade))
    for el in elements:
        x, y, bw, bh = el["box"]
        draw.rectangle((x, y, x + bw - 1, y + bh - 1), outline=(0, 0, 0), fill=(200, 200, 220))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def row(episode: str, step: int, task: str, action_type: str, elements: list[dict] | None,
        outcome: str = "success", **action: object) -> dict:
    """A step as ``workscribe collect`` exports it: the title is the instruction, the ticket the task."""
    ox, oy, w, h = VIEWPORT
    browser = None if elements is None else json.dumps(
        {"url": "file:///miniwob.html", "origin_x": ox, "origin_y": oy, "width": w, "height": h,
         "elements": elements}, sort_keys=True)
    instruction = CLICK if task == "click-button" else ENTER
    return {"episode_id": episode, "step": step, "task": instruction, "ticket": f"{task}#7",
            "outcome": outcome,
            "action_type": action_type, "screen_w": SCREEN[0], "screen_h": SCREEN[1], "browser": browser,
            "image": {"bytes": frame(elements or [], 200 + step), "path": f"{episode}-{step:05d}.png"},
            **action}


def click_episode(episode: str, outcome: str = "success") -> list[dict]:
    return [row(episode, 0, "click-button", "click", buttons(), outcome, x=65, y=70)]


def enter_episode(episode: str) -> list[dict]:
    return [row(episode, 0, "enter-text", "click", field(False), x=100, y=70),
            row(episode, 1, "enter-text", "drag", field(True), x=50, y=70, x2=90, y2=70),  # not a decision
            row(episode, 2, "enter-text", "type", field(True), text="bob"),
            row(episode, 3, "enter-text", "key", None, keys="enter"),  # no snapshot: not a decision
            row(episode, 4, "enter-text", "key", field(True), keys="enter")]


def write_export(folder: Path, splits: dict[str, list[dict]]) -> Path:
    (folder / "data").mkdir(parents=True)
    for split, rows in splits.items():
        path = folder / "data" / f"{split}-00000-of-00001.parquet"
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), path, row_group_size=2)
    return folder


def examples() -> list[Example]:
    """Hand-made decisions on the same pages: click "ok"; click the field, type the word, press enter."""
    out = []
    for i in range(6):
        out.append(Example(Observation(CLICK, buttons()), ACTION_CLASSES.index("click"), element=0))
        out.append(Example(Observation(ENTER, field(False)), ACTION_CLASSES.index("click"), element=0))
        typing = Observation(ENTER, field(True), history=[{"type": "click", "element": None}])
        span = [c.text for c in candidates(typing)].index("bob")
        out.append(Example(typing, ACTION_CLASSES.index("type"), span=span))
        pressing = Observation(ENTER, field(True),
                               history=[{"type": "click"}, {"type": "type", "text": "bob"}])
        out.append(Example(pressing, ACTION_CLASSES.index("key"), key="enter",
                           split="validation" if i else "train"))
    return out


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bc_report")
    train(examples(), root / "model", epochs=2, seed=0)
    trained_on = click_episode("t-click") + enter_episode("t-enter")
    held_out = click_episode("v-click") + click_episode("v-failed", "fail") + enter_episode("v-enter")
    both = write_export(root / "export", {"train": trained_on, "validation": held_out})
    train_only = write_export(root / "train-only", {"train": trained_on})
    return {"model": root / "model", "export": both, "train_only": train_only}


def images(page: str) -> list[tuple[str, Image.Image]]:
    return [(alt, Image.open(io.BytesIO(base64.b64decode(data))))
            for alt, data in re.findall(r'<img alt="([^"]*)" src="data:image/png;base64,([^"]+)">', page)]


def test_the_page_has_success_per_task_the_curve_and_frames_spread_over_tasks(made: dict[str, Path],
                                                                              tmp_path: Path) -> None:
    out = render_bc_report(made["model"], made["export"], EVAL, tmp_path / "r" / "bc.html", max_frames=3)
    page = out.read_text()
    assert page.count("<img ") == 2 + 3 == len(images(page))
    for text in ("click-button", "enter-text", "random", "demonstrator", "0.84", "0.36", "0.12", "0.98",
                 "0.60", "0.99", "100000..100049"):
        assert text in page, text
    train_report = json.loads((made["model"] / "train.json").read_text())
    assert f'<td class="n">{train_report["decisions"]}</td>' in page and "cpu" in page
    assert "http" not in page and "<script" not in page.lower()
    assert re.findall(r'(?:src|href)="(?!data:image/png;base64,)', page) == []

    # validation decisions: 1 of click-button (the failed episode is left out), 3 of enter-text (click,
    # type, key; the drag and the step without a snapshot are not decisions); 3 frames: 1 + 2, evenly spaced
    captions = re.findall(r"<figcaption>([^<]*)</figcaption>", page)
    assert [c.split(":")[0] for c in captions] == ["click-button, episode v-click step 0",
                                                   "enter-text, episode v-enter step 0",
                                                   "enter-text, episode v-enter step 2"]
    assert all(("match" in c) != ("differs" in c) for c in captions)

    # the frame is the viewport, scaled up, with a caption band under it; the demonstrated click is a
    # green ring around (65, 70) in screen pixels
    alt, img = images(page)[2]
    assert alt.startswith("click-button")
    ox, oy, w, h = VIEWPORT
    assert img.width == w * FRAME_SCALE and img.height > h * FRAME_SCALE
    cx, cy = (65 - ox) * FRAME_SCALE, (70 - oy) * FRAME_SCALE
    assert img.convert("RGB").getpixel((cx + 10, cy)) == DEMONSTRATED
    assert img.convert("RGB").getpixel((1, 1)) == (250, 250, 200)  # the viewport's corner, not the screen's


def test_the_same_inputs_give_the_same_bytes(made: dict[str, Path], tmp_path: Path) -> None:
    a = render_bc_report(made["model"], made["export"], EVAL, tmp_path / "a.html")
    b = render_bc_report(made["model"], made["export"], EVAL, tmp_path / "b.html")
    assert a.read_bytes() == b.read_bytes()
    assert a.read_text().count("<img ") == 2 + 4  # every validation decision when max_frames allows


def test_without_a_validation_split_the_frames_come_from_train(made: dict[str, Path], tmp_path: Path) -> None:
    out = render_bc_report(made["model"], made["train_only"], EVAL, tmp_path / "t.html", max_frames=2)
    page = out.read_text()
    captions = re.findall(r"<figcaption>([^<]*)</figcaption>", page)
    assert [c.split(":")[0] for c in captions] == ["click-button, episode t-click step 0",
                                                   "enter-text, episode t-enter step 0"]
    assert "from the train split" in page


def test_an_eval_result_without_tasks_is_refused(made: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tasks"):
        render_bc_report(made["model"], made["export"], {"mean_success": 0.5}, tmp_path / "x.html")
