"""``sft`` export: chat JSONL for fine-tuning vision-language computer-use agents.

Layout::

    OUT/train.jsonl, OUT/validation.jsonl     one conversation per step
    OUT/images/<episode_id>/<step>.png        the screenshot each user turn shows
    OUT/workscribe_export.json                the export report

Each line::

    {"id": "<episode_id>/<step>", "episode_id", "step", "images": ["images/.../00003.png"],
     "tools": [<tool definition>] (anthropic, openai),
     "messages": [
       {"role": "system", "content": "<what the assistant does, in this action vocabulary>"},
       {"role": "user", "content": [{"type": "text", "text": "Task: ...\\nApp: ...\\nWindow: ...\\n
                                      Previous actions: ..."}, {"type": "image", "image": "images/..."}]},
       {"role": "assistant", ...the action...}]}

The assistant turn follows ``--actions``:

- ``pyautogui``: ``{"role": "assistant", "content": "pyautogui.click(x=0.4219, y=0.1700)"}``, the
  coordinates normalised to [0, 1] of the screen.
- ``anthropic`` / ``openai``: ``{"role": "assistant", "content": null, "tool_calls": [{"id",
  "type": "function", "function": {"name": "computer", "arguments": "<JSON>"}}]}`` where the
  arguments are the ``input`` of Anthropic's ``computer`` tool or the ``action`` of OpenAI's
  ``computer_call``, in screen pixels (see ``export.vocab``). This is the tool-call shape chat
  templates and SFT trainers (TRL) read.

Episodes without a task (cut by app session) say ``Task: (not stated; continue the work in <app>)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from workscribe.export import vocab
from workscribe.export.formats import ExportOptions
from workscribe.export.frames import FrameStore
from workscribe.export.source import SPLITS, action_of

_SYSTEM = {
    "pyautogui": "You operate a computer to do the user's task. Given the task, the previous actions and a "
                 "screenshot, answer with the next action as one line of pyautogui code; coordinates are "
                 "fractions of the screen width and height.",
    "anthropic": "You operate a computer to do the user's task. Given the task, the previous actions and a "
                 "screenshot, call the computer tool with the next action.",
    "openai": "You operate a computer to do the user's task. Given the task, the previous actions and a "
              "screenshot, call the computer tool with the next action.",
}


class SftWriter:
    """Writes one chat conversation per step (see the module docstring)."""

    def __init__(self, out: Path, options: ExportOptions) -> None:
        self.out = out
        self.style = options.actions
        self.history = options.history
        self._files: dict[str, TextIO] = {}
        self.rows: dict[str, int] = dict.fromkeys(SPLITS, 0)
        self.images = 0

    def _file(self, split: str) -> TextIO:
        if split not in self._files:
            self._files[split] = open(self.out / f"{split}.jsonl", "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        return self._files[split]

    def add(self, episode: dict[str, Any], split: str, frames: FrameStore) -> None:
        folder = self.out / "images" / episode["episode_id"]
        folder.mkdir(parents=True, exist_ok=True)
        previous: list[str] = []
        f = self._file(split)
        for step in episode["steps"]:
            screen = (step["screen_w"], step["screen_h"])
            image = f"images/{episode['episode_id']}/{step['step']:05d}.png"
            (self.out / image).write_bytes(frames.png(step["frame"]))
            self.images += 1
            calls = vocab.convert(action_of(step), self.style, screen)
            record: dict[str, Any] = {"id": f"{episode['episode_id']}/{step['step']}",
                                      "episode_id": episode["episode_id"], "step": step["step"],
                                      "images": [image]}
            tool = vocab.tool_schema(self.style, screen)
            if tool is not None:
                record["tools"] = [tool]
            record["messages"] = [
                {"role": "system", "content": _SYSTEM[self.style]},
                {"role": "user", "content": [{"type": "text", "text": _prompt(episode, step, previous)},
                                             {"type": "image", "image": image}]},
                self._assistant(calls, step),
            ]
            f.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
            self.rows[split] += 1
            previous = [*previous, _short(calls, self.style)][-self.history:] if self.history else []

    def _assistant(self, calls: list[Any], step: dict[str, Any]) -> dict[str, Any]:
        if self.style == "pyautogui":
            return {"role": "assistant", "content": calls[0]}
        return {"role": "assistant", "content": None, "tool_calls": [
            {"id": f"call_{step['episode_id']}_{step['step']}_{i}", "type": "function",
             "function": {"name": "computer",
                          "arguments": json.dumps(call, ensure_ascii=False, sort_keys=True)}}
            for i, call in enumerate(calls)]}

    def close(self) -> dict[str, Any]:
        for f in self._files.values():
            f.close()
        for split in SPLITS:  # both files exist, even when a split is empty
            (self.out / f"{split}.jsonl").touch()
        return {"files": {s: [f"{s}.jsonl"] for s in SPLITS}, "rows": dict(self.rows), "images": self.images,
                "actions": self.style}


def _prompt(episode: dict[str, Any], step: dict[str, Any], previous: list[str]) -> str:
    task = episode["task"] or f"(not stated; continue the work in {step['app'] or 'this app'})"
    lines = [f"Task: {task}", f"App: {step['app'] or ''}", f"Window: {step['window'] or ''}"]
    lines.append("Previous actions: " + ("; ".join(previous) if previous else "none"))
    return "\n".join(lines)


def _short(calls: list[Any], style: str) -> str:
    if style == "pyautogui":
        return str(calls[0])
    return " then ".join(json.dumps(c, ensure_ascii=False, sort_keys=True) for c in calls)
