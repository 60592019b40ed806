"""The export formats: one registry, the options they read and the protocol every writer implements.

Each format is a writer class in its own module (``export/hf.py``, ``export/lerobot.py``, ...); the
registry names it as ``"module:Class"`` and imports it only when the format is used, so that asking
which formats exist loads neither pyarrow nor PyAV. The driver (``export.driver``) reads the spools,
cuts the episodes and hands them to the writer that ``make_writer`` builds::

    writer = make_writer(out, ExportOptions(format="sft", actions="anthropic"))
    for episode, split, frames in ...:
        writer.add(episode, split, frames)
    report_part = writer.close()

Adding a format: write ``export/<format>.py`` with a class that follows ``Writer``, add one ``Format`` to
``REGISTRY``, and the contract tests (``tests/export/test_formats.py``) run it with every other one.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from workscribe.export.vocab import STYLES as ACTION_STYLES
from workscribe.process.episodes import IDLE_S

if TYPE_CHECKING:
    from workscribe.export.frames import FrameStore

KINDS = ("screen", "coding")
"""``screen``: steps with the frame each was taken from; ``coding``: command, edit, git steps, no pixels."""

SPLIT_BY = ("session", "contributor")
EDIT_TOOLS = ("diff", "str_replace")
EDIT_EVENTS = 5
"""next-edit: previous edits given in each example's ``events`` (default)."""
COMMAND_HISTORY = 10
"""next-command: previous commands given in each example's ``history`` (default)."""


class ExportError(ValueError):
    """The export cannot be done as asked (one line, for the CLI)."""


@dataclass(frozen=True)
class Format:
    """One export format: its name, the writer that makes it and what it is for."""

    name: str  # what --format takes
    writer: str  # "module:Class" of the writer, imported on first use (heavy dependencies stay unloaded)
    kind: str  # one of KINDS: which steps the driver gives the writer, and whether frames are decoded
    help: str  # one line for people choosing a format
    reported: tuple[str, ...] = ()  # ExportOptions fields it reads that the report's "options" names

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Format {self.name!r}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if ":" not in self.writer:
            raise ValueError(f"Format {self.name!r}: writer {self.writer!r} must be 'module:Class'")

    def load(self) -> type[Writer]:
        """The writer class (imports its module)."""
        module, _, name = self.writer.partition(":")
        cls: type[Writer] = getattr(importlib.import_module(module), name)
        return cls


REGISTRY: dict[str, Format] = {f.name: f for f in (
    Format("hf", "workscribe.export.hf:HfWriter", "screen",
           "Parquet shards that `datasets` loads: one row per step with its screenshot."),
    Format("lerobot", "workscribe.export.lerobot:LeRobotWriter", "screen",
           "A LeRobot v3.0 dataset: episodes as videos, actions and states as vectors."),
    Format("sft", "workscribe.export.sft:SftWriter", "screen",
           "Chat JSONL with a screenshot and the next action per step (pyautogui or tool calls).",
           reported=("actions",)),
    Format("swe", "workscribe.export.coding:SweWriter", "coding",
           "One bash/edit tool-call chat per coding episode, with its net patch.",
           reported=("edit_tool",)),
    Format("next-edit", "workscribe.export.coding:NextEditWriter", "coding",
           "Zeta-style next-edit prediction: recent edits and an excerpt, the edit made next."),
    Format("next-command", "workscribe.export.coding:NextCommandWriter", "coding",
           "Next shell command prediction from the commands before it."),
)}
"""Format name -> ``Format``, in the order the CLI lists them."""

FORMATS: tuple[str, ...] = tuple(REGISTRY)
SCREEN_FORMATS: tuple[str, ...] = tuple(n for n, f in REGISTRY.items() if f.kind == "screen")
CODING_FORMATS: tuple[str, ...] = tuple(n for n, f in REGISTRY.items() if f.kind == "coding")


@dataclass(frozen=True)
class ExportOptions:
    """How to export: the format and the settings its writer reads (``workscribe export`` flags)."""

    format: str = "hf"  # one of FORMATS
    split_by: str = "session"  # what goes wholly to train or to validation: one of SPLIT_BY
    val_fraction: float = 0.1  # share of sessions (or contributors) in validation, in [0, 1)
    idle_s: float = IDLE_S  # outside tasks, an idle time this long (seconds, > 0) ends an episode
    actions: str = "pyautogui"  # sft: the action vocabulary of the assistant turns, one of ACTION_STYLES
    history: int = 5  # sft: previous actions given in each user turn (0: none)
    edit_tool: str = "diff"  # swe: edits as edit(path, diff) calls or str_replace_editor calls (EDIT_TOOLS)
    edit_events: int = EDIT_EVENTS  # next-edit: previous edits given in each example's events, >= 1
    command_history: int = COMMAND_HISTORY  # next-command: previous commands in each history, >= 1

    def __post_init__(self) -> None:
        if self.format not in REGISTRY:
            raise ExportError(f"unknown format {self.format!r}; use one of {', '.join(FORMATS)}")
        if self.split_by not in SPLIT_BY:
            raise ExportError(f"unknown --split-by {self.split_by!r}; use session or contributor")
        if not 0 <= self.val_fraction < 1:
            raise ExportError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        if not self.idle_s > 0:
            raise ExportError(f"--idle-seconds must be > 0, got {self.idle_s}")
        if self.actions not in ACTION_STYLES:
            raise ExportError(f"unknown --actions {self.actions!r}; use one of {', '.join(ACTION_STYLES)}")
        if not _is_int(self.history) or self.history < 0:
            raise ExportError(f"history must be an integer >= 0 (0: none), got {self.history!r}")
        if self.edit_tool not in EDIT_TOOLS:
            raise ExportError(f"unknown --edit-tool {self.edit_tool!r}; use one of {', '.join(EDIT_TOOLS)}")
        if not _is_int(self.edit_events) or self.edit_events < 1:
            raise ExportError(f"--edit-events must be an integer >= 1, got {self.edit_events!r}")
        if not _is_int(self.command_history) or self.command_history < 1:
            raise ExportError(f"--command-history must be an integer >= 1, got {self.command_history!r}")

    @property
    def kind(self) -> str:
        """The kind of the format: ``screen`` or ``coding``."""
        return REGISTRY[self.format].kind

    def reported(self) -> dict[str, Any]:
        """The options the export report names: the split rule, the idle time and the format's own."""
        return {"split_by": self.split_by, "val_fraction": self.val_fraction, "idle_s": self.idle_s,
                **{name: getattr(self, name) for name in REGISTRY[self.format].reported}}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Writer(Protocol):
    """What every format's writer does: the driver makes one per export, adds episodes, closes it once.

    ``__init__`` creates what it needs under ``out`` (which exists and is empty); ``add`` gets the
    episodes of each recording in order of start, with the split they belong to and, for screen formats,
    the ``FrameStore`` that decodes their frames (coding formats get no pixels); ``close`` finishes the
    files and returns what it wrote (at least ``files``), which the driver merges into the report.
    """

    def __init__(self, out: Path, options: ExportOptions) -> None: ...

    def add(self, episode: dict[str, Any], split: str, frames: FrameStore | None) -> None: ...

    def close(self) -> dict[str, Any]: ...


def get_format(name: str) -> Format:
    """The registered format ``name``.

    Raises:
        ExportError: no format has that name.
    """
    if name not in REGISTRY:
        raise ExportError(f"unknown format {name!r}; use one of {', '.join(FORMATS)}")
    return REGISTRY[name]


def make_writer(out: Path, options: ExportOptions) -> Writer:
    """The writer of ``options.format``, writing into ``out``."""
    return get_format(options.format).load()(out, options)


__all__ = ["CODING_FORMATS", "COMMAND_HISTORY", "EDIT_EVENTS", "EDIT_TOOLS", "FORMATS", "KINDS", "REGISTRY",
           "SCREEN_FORMATS", "SPLIT_BY", "ExportError", "ExportOptions", "Format", "Writer", "get_format",
           "make_writer"]
