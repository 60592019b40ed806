"""Coding exports: agent trajectories (``swe``), next-edit prediction (``next-edit``), next command
(``next-command``), from the shell, files and git steps of episodes (see ``export.source``).

Layout of each::

    OUT/data/train.jsonl, OUT/data/validation.jsonl    one example a line (no file for an empty split)
    OUT/README.md                                      dataset card
    OUT/workscribe_export.json                         the export report (written by the driver)

``datasets.load_dataset("json", data_dir=OUT)`` loads the splits (an empty file would make it fail, so a
split without rows has none). ``datasets`` takes the column types from the first rows of ``train``, so no
column may be null (or an empty list) in all of those and hold values later: absent text is ``""``, and
lists that may be empty are JSON strings (like ``FAIL_TO_PASS`` in SWE-bench). Records are written as
episodes come, keys sorted: the same episodes give the same bytes.

Options read from ``ExportOptions`` (``export.formats``): ``edit_tool`` (``swe``: ``diff`` or
``str_replace``), ``edit_events`` (``next-edit``, ``--edit-events``; default ``EDIT_EVENTS``),
``command_history`` (``next-command``, ``--command-history``; default ``COMMAND_HISTORY``).

Episodes without a ``command`` or ``edit`` step are left out. GUI steps (clicks, typing in apps) are not
written; ``swe`` says how many there were in ``note``.

``swe``: one chat per coding episode, in the tool-call shape of OpenAI's chat API that SFT trainers read
(TRL's ``messages`` + ``tools``)::

    {"id", "episode_id", "session", "contributor", "start", "duration_s", "task", "ticket", "outcome",
     "cut", "repo", "base": {"hash", "branch", "dirty"}, "commit",
     "messages": [
       {"role": "system", "content": "..."},
       {"role": "user", "content": "Task: ...\\nRepository: ~/src/app\\nBranch: main at 1a2b3c4d5e6f"},
       {"role": "assistant", "content": null, "tool_calls": [{"id": "call_3", "type": "function",
         "function": {"name": "bash", "arguments": "{\\"command\\": \\"pytest -x\\"}"}}]},
       {"role": "tool", "tool_call_id": "call_3", "name": "bash", "content": "exit code: 1\\n<output>"},
       {"role": "assistant", "content": null, "tool_calls": [{... "name": "edit", "arguments":
         "{\\"diff\\": \\"--- a/app.py\\\\n+++ b/app.py\\\\n@@ ...\\", \\"path\\": \\"app.py\\"}"}]},
       {"role": "tool", "tool_call_id": "call_4", "name": "edit", "content": "Edited app.py (+1 -1)."}, ...],
     "tools": "<JSON: the tool schemas>", "edit_tool": "diff", "patch": "<net diff>", "patch_error": "",
     "git": "<JSON: [{step, t, kind, hash, branch, message}]>", "note": "", "versions": {...}}

One assistant turn per command or edit, in the order they happened; each is answered by its tool turn.
``bash`` gets ``{"command"}`` and answers with the exit code and the recorded tail of the output
(``(output not recorded)`` without the ``shell-output`` source). ``edit`` (``--edit-tool diff``) gets
``{"path", "diff"}``, the recorded diff, which ``git apply`` applies to the file as it was. With
``--edit-tool str_replace`` an edit becomes ``str_replace_editor`` calls as SWE-agent and OpenHands
define them: ``create`` (``file_text``) for a new file, one ``str_replace`` per hunk (``old_str``: the
hunk's context and removed lines; ``new_str``: its context and added lines) or ``insert``
(``insert_line``, ``new_str``) for a hunk that removes nothing and has no context, and ``bash`` calls
``mv OLD NEW`` / ``rm PATH`` for a rename or a deletion. Paths are relative to the repository root. The
exporter knows only the hunks, so it cannot check that an ``old_str`` occurs once in the whole file.

Git steps are not tool calls (the command that made them is one); they are listed in ``git``. ``patch`` is
the episode's net diff (``patches.compose`` of its edits), which ``git apply`` applies to the working tree
as it was when the episode began (``base.hash`` plus the uncommitted changes when ``base.dirty``);
``""`` when the edits cancel out, or with ``patch_error`` saying why it could not be built.

``next-edit``: one example per edit that has at least one earlier edit in its episode (the first edit
has nothing to predict it from), in the shape of Zed's zeta dataset::

    {"id": "<episode_id>/<step>", "episode_id", "step", "session", "task", "path",
     "events": "User edited \\"a.py\\":\\n```diff\\n@@ -1,3 +1,3 @@\\n...\\n```\\n\\nUser edited ...",
     "input": "```a.py\\n<|start_of_file|>\\n<|editable_region_start|>\\n...<|user_cursor_is_here|>...\\n"
              "<|editable_region_end|>\\n...\\n```",
     "output": "```a.py\\n<|start_of_file|>\\n<|editable_region_start|>\\n...\\n"
               "<|editable_region_end|>\\n...\\n```",
     "cursor": "previous_edit" | "region_start", "editable_start": 12, "editable_lines": 7,
     "previous_edits": 3}

- ``events``: the previous ``edit_events`` edits of the episode (any file), oldest first, each
  ``User edited "PATH":`` and its hunks in a ``diff`` fence; ``User renamed "A" to "B"`` and
  ``User deleted "PATH"`` for those changes.
- the editable region is the span of the edit's hunks, context included, in the file before the edit
  (``editable_start`` is its first line, 1-based). An edit whose hunks are far apart, with lines between
  them that no diff showed, keeps only the hunks around the cursor (else the first hunks): those lines
  cannot be written. Around the region, up to ``EXCERPT_CONTEXT`` lines on each side that earlier diffs
  showed (often none). ``<|start_of_file|>`` when the excerpt begins at the file's first line.
- cursor rule: where the previous edit of the same file ended (after the last line it added, or at the
  start of the line after the lines it removed, in its last hunk) when that lies in the region, which
  grows to take it in when it lies at most ``EXCERPT_CONTEXT`` lines away and the lines between are
  known (``cursor: "previous_edit"``); otherwise the start of the region (``"region_start"``).
- ``output``: the same excerpt after the edit (after the hunks in the region), without the cursor. A
  region whose last line has no newline (the file's end) gets one before ``<|editable_region_end|>``; in
  an empty region the cursor stands alone, the end marker right after it.
- creations and deletions of whole files are not examples (they are events).

``next-command``: one example per command that has at least one earlier command in its episode::

    {"id": "<episode_id>/<step>", "episode_id", "step", "session", "task", "repo", "cwd",
     "history": [{"command", "cwd", "exit_code"}, ...], "next": "pytest -x tests/test_app.py"}

``history`` holds the previous ``command_history`` commands, oldest first; ``cwd`` is where ``next``
ran. ``workscribe score`` scores predictions of both (``evaluate.coding``).
"""

from __future__ import annotations

import json
import shlex
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from workscribe.export.formats import COMMAND_HISTORY, EDIT_EVENTS, EDIT_TOOLS, ExportOptions
from workscribe.export.source import SPLITS
from workscribe.patches import FileDiff, Hunk, PartialTree, format_file_diff, format_hunk, parse
from workscribe.process.reduce import CODING_TYPES

if TYPE_CHECKING:
    from workscribe.export.frames import FrameStore

DATA_DIR = "data"
EXCERPT_CONTEXT = 5  # next-edit: known lines shown on each side of the editable region, at most

START_OF_FILE = "<|start_of_file|>"
REGION_START = "<|editable_region_start|>"
REGION_END = "<|editable_region_end|>"
CURSOR = "<|user_cursor_is_here|>"

_SYSTEM = {
    "diff": "You are a software engineer working in a git repository. Do the user's task: run shell "
            "commands with the bash tool and change files with the edit tool (a unified diff).",
    "str_replace": "You are a software engineer working in a git repository. Do the user's task: run shell "
                   "commands with the bash tool and create and change files with str_replace_editor.",
}
_BASH = {"type": "function", "function": {
    "name": "bash",
    "description": "Run a command line in a bash shell at the repository. The shell keeps its working "
                   "directory and environment between calls. Returns the exit code and the end of the "
                   "output.",
    "parameters": {"type": "object", "properties": {
        "command": {"type": "string", "description": "The command line to run."}}, "required": ["command"]}}}
_EDIT = {"type": "function", "function": {
    "name": "edit",
    "description": "Change one file with a unified diff against its current content: '--- a/PATH' and "
                   "'+++ b/PATH' headers ('/dev/null' to create or delete a file; git's 'rename from' / "
                   "'rename to' headers to rename it) and hunks with 3 lines of context, applied as "
                   "`git apply` would.",
    "parameters": {"type": "object", "properties": {
        "path": {"type": "string", "description": "The file's path, relative to the repository root."},
        "diff": {"type": "string", "description": "The unified diff."}}, "required": ["path", "diff"]}}}
_STR_REPLACE = {"type": "function", "function": {
    "name": "str_replace_editor",
    "description": "Create and edit files. `create` writes file_text to a new file; `str_replace` replaces "
                   "old_str, which must occur exactly once in the file, with new_str; `insert` inserts "
                   "new_str after line insert_line (0: at the start).",
    "parameters": {"type": "object", "properties": {
        "command": {"type": "string", "enum": ["create", "str_replace", "insert"],
                    "description": "The command to run."},
        "path": {"type": "string", "description": "The file's path, relative to the repository root."},
        "file_text": {"type": "string", "description": "create: the content of the new file."},
        "old_str": {"type": "string", "description": "str_replace: the text to replace."},
        "new_str": {"type": "string", "description": "str_replace, insert: the new text."},
        "insert_line": {"type": "integer", "description": "insert: the line after which new_str goes."}},
        "required": ["command", "path"]}}}
TOOLS = {"diff": [_BASH, _EDIT], "str_replace": [_BASH, _STR_REPLACE]}
"""The ``tools`` of ``swe`` records, by ``--edit-tool``."""


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _coding_steps(episode: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in episode["steps"] if s.get("type") in CODING_TYPES]


def _has_coding(episode: dict[str, Any]) -> bool:
    return any(s.get("type") in ("command", "edit") for s in episode["steps"])


def edit_diff(step: dict[str, Any]) -> str:
    """The diff of an edit step; a rename, creation or deletion recorded without one gets its headers."""
    diff = step.get("diff") or ""
    try:
        if parse(diff):
            return diff
    except ValueError:
        return diff  # unreadable: the caller finds out when it parses it
    detail = step.get("detail") or {}
    path, op, old = step.get("path") or "", detail.get("op"), detail.get("old_path")
    sides = {"rename": (old, path), "create": (None, path), "delete": (path, None)}.get(str(op))
    if not path or sides is None or (op == "rename" and not old):
        return diff
    return format_file_diff(FileDiff(sides[0], sides[1], ()))


class _JsonlWriter:
    """``data/<split>.jsonl`` files, a report and a dataset card; subclasses write the records."""

    format = ""
    card_fields = ""

    def __init__(self, out: Path, options: ExportOptions) -> None:
        self.out = out
        self.options = options
        (out / DATA_DIR).mkdir(parents=True, exist_ok=True)
        self._files: dict[str, TextIO] = {}
        self.rows: dict[str, int] = dict.fromkeys(SPLITS, 0)
        self.not_written: Counter[str] = Counter()

    def _write(self, split: str, record: dict[str, Any]) -> None:
        if split not in self._files:
            self._files[split] = open(self.out / DATA_DIR / f"{split}.jsonl", "w", encoding="utf-8",  # noqa: SIM115
                                      newline="\n")
        self._files[split].write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        self.rows[split] += 1

    def add(self, episode: dict[str, Any], split: str, frames: FrameStore | None = None) -> None:
        if not _has_coding(episode):
            self.not_written["episodes_without_coding_steps"] += 1
            return
        self._add(episode, split)

    def _add(self, episode: dict[str, Any], split: str) -> None:
        raise NotImplementedError

    def _report(self) -> dict[str, Any]:
        return {}

    def close(self) -> dict[str, Any]:
        for f in self._files.values():
            f.close()
        (self.out / "README.md").write_text(self._card(), encoding="utf-8")
        return {"files": {s: [f"{DATA_DIR}/{s}.jsonl"] for s in SPLITS if self.rows[s]},
                "rows": dict(self.rows), "not_written": dict(sorted(self.not_written.items())),
                **self._report()}

    def _card(self) -> str:
        files = "".join(f"  - split: {s}\n    path: {DATA_DIR}/{s}.jsonl\n" for s in SPLITS if self.rows[s])
        configs = f"configs:\n- config_name: default\n  data_files:\n{files}" if files else ""
        counts = ", ".join(f"{s} {self.rows[s]}" for s in SPLITS)
        skipped = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(self.not_written.items()))
        return (f"---\n{configs}tags:\n- code\n---\n\n"
                f"# workscribe `{self.format}` export\n\n{self.card_intro()}\n\n"
                f"Rows: {counts}.{f' Not written: {skipped}.' if skipped else ''}\n\n"
                "## Load\n\n```python\nimport datasets\n"
                "ds = datasets.load_dataset(\"json\", data_dir=\"OUT\")\n```\n\n"
                f"## Fields\n\n{self.card_fields}\n\n"
                "Absent text is `\"\"`, not null, so that every column keeps one type in every split. All "
                "text was redacted by the recorder (secrets, personal data, the contributor's home, user and "
                "host names). `workscribe_export.json` names the recorder and redaction versions.\n")

    def card_intro(self) -> str:
        return ""


# ----- swe


class SweWriter(_JsonlWriter):
    """One tool-call chat per coding episode (module docstring)."""

    format = "swe"
    card_fields = (
        "- `messages`: system, user (the task, repository and branch), then one assistant turn per command "
        "or edit with its `tool_calls` (OpenAI chat format; `arguments` is a JSON string) and the `tool` "
        "turn that answers it (exit code and output tail, or a short confirmation of the edit).\n"
        "- `tools`: the tool schemas as a JSON string (`json.loads` it for "
        "`apply_chat_template(tools=...)`).\n"
        "- `patch`: the episode's net diff; `git apply` applies it to the working tree as it was when the "
        "episode began (`base`). `patch_error` says why it is empty when it could not be built.\n"
        "- `git`: JSON list of the git steps (commits, checkouts, merges...) with their hashes and "
        "messages.\n"
        "- `task`, `ticket`, `outcome`, `cut`, `repo`, `base` {`hash`, `branch`, `dirty`}, `commit` (the "
        "commit that ended the episode), `note` (GUI steps left out), provenance: `session`, "
        "`contributor`, `start`, `duration_s`, `versions`.")

    def __init__(self, out: Path, options: ExportOptions) -> None:
        super().__init__(out, options)
        self.edit_tool = options.edit_tool
        self.patch_errors = 0

    def card_intro(self) -> str:
        tool = "edit" if self.edit_tool == "diff" else "str_replace_editor"
        return ("One chat per coding episode in OpenAI's tool-call format: the commands a person ran and the "
                f"edits they saved, as `bash` and `{tool}` calls, with the episode's net patch.")

    def _add(self, episode: dict[str, Any], split: str) -> None:
        try:
            edits = {s["step"]: parse(edit_diff(s)) for s in episode["steps"] if s.get("type") == "edit"}
        except ValueError:
            self.not_written["episodes_with_unreadable_diffs"] += 1
            return
        base = episode.get("base") or {}
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": _SYSTEM[self.edit_tool]},
            {"role": "user", "content": _task_prompt(episode)},
        ]
        git_steps = []
        tree = PartialTree()
        patch_error = ""
        for step in _coding_steps(episode):
            if step["type"] == "git":
                detail = step.get("detail") or {}
                git_steps.append({"step": step["step"], "t": step["t"], "kind": detail.get("kind"),
                                  "hash": detail.get("hash"), "branch": detail.get("branch"),
                                  "message": step.get("text")})
                continue
            if step["type"] == "command":
                calls = [("bash", {"command": _text(step.get("text"))}, _command_result(step))]
            else:
                diff = edit_diff(step)
                if not patch_error:
                    try:
                        tree.apply(diff, what=f"step {step['step']}")
                    except ValueError as exc:
                        patch_error = str(exc)
                calls = self._edit_calls(step, diff, edits[step["step"]])
            ids = [f"call_{step['step']}" + (f"_{k}" if len(calls) > 1 else "") for k in range(len(calls))]
            messages.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": i, "type": "function", "function": {
                    "name": name, "arguments": json.dumps(args, ensure_ascii=False, sort_keys=True)}}
                for i, (name, args, _) in zip(ids, calls, strict=True)]})
            messages.extend({"role": "tool", "tool_call_id": i, "name": name, "content": result}
                            for i, (name, _, result) in zip(ids, calls, strict=True))
        patch = ""
        if not patch_error:
            try:
                patch = tree.diff()
            except ValueError as exc:
                patch_error = str(exc)
        self.patch_errors += bool(patch_error)
        gui = [s for s in episode["steps"] if s.get("type") not in CODING_TYPES]
        apps = sorted({s.get("app") for s in gui if s.get("app")})
        note = (f"Left out {len(gui)} GUI step{'s' if len(gui) != 1 else ''}"
                + (f" (in {', '.join(apps)})" if apps else "") + ".") if gui else ""
        versions = episode.get("versions") or {}
        record = {
            "id": episode["episode_id"], "episode_id": episode["episode_id"],
            "session": _text(episode.get("session")), "contributor": _text(episode.get("contributor")),
            "start": _text(episode.get("start")), "duration_s": float(episode.get("duration_s") or 0.0),
            "task": _text(episode.get("task")), "ticket": _text(episode.get("ticket")),
            "outcome": _text(episode.get("outcome")), "cut": _text(episode.get("cut")),
            "repo": _text(episode.get("repo")),
            "base": {"hash": _text(base.get("hash")), "branch": _text(base.get("branch")),
                     "dirty": bool(base.get("dirty"))},
            "commit": _text(episode.get("commit")),
            "messages": messages, "tools": json.dumps(TOOLS[self.edit_tool], sort_keys=True),
            "edit_tool": self.edit_tool, "patch": patch, "patch_error": patch_error,
            "git": json.dumps(git_steps, ensure_ascii=False, sort_keys=True), "note": note,
            "versions": {"recorder": _text(versions.get("recorder")),
                         "redaction": json.dumps(versions.get("redaction"), sort_keys=True),
                         "policy": _text(versions.get("policy"))},
        }
        self._write(split, record)

    def _edit_calls(self, step: dict[str, Any], diff: str,
                    fds: list[FileDiff]) -> list[tuple[str, dict[str, Any], str]]:
        """``(tool name, arguments, tool result)`` of each call that makes one recorded edit."""
        if self.edit_tool == "diff" or not fds:
            return [("edit", {"path": _text(step.get("path")), "diff": diff}, _edit_result(step, fds))]
        calls: list[tuple[str, dict[str, Any], str]] = []
        for fd in fds:
            calls.extend(str_replace_calls(fd))
        return calls

    def _report(self) -> dict[str, Any]:
        return {"edit_tool": self.edit_tool, "patch_errors": self.patch_errors}


def _task_prompt(episode: dict[str, Any]) -> str:
    base = episode.get("base") or {}
    lines = [f"Task: {episode.get('task') or '(not stated)'}"]
    if episode.get("ticket"):
        lines.append(f"Ticket: {episode['ticket']}")
    lines.append(f"Repository: {episode.get('repo') or '(unknown)'}")
    if base:
        at = f" at {base['hash'][:12]}" if base.get("hash") else ""
        dirty = ", with uncommitted changes" if base.get("dirty") else ""
        lines.append(f"Branch: {base.get('branch') or '(detached HEAD)'}{at}{dirty}")
    return "\n".join(lines)


def _command_result(step: dict[str, Any]) -> str:
    head = f"exit code: {step.get('exit_code')}"
    output = step.get("output")
    if output is None:
        return f"{head}\n(output not recorded)"
    if (step.get("detail") or {}).get("output_truncated"):
        head += "\n(the end of the output)"
    return f"{head}\n{output}" if output else head


def _edit_result(step: dict[str, Any], fds: list[FileDiff]) -> str:
    if not fds:
        return f"Edited {step.get('path')}."
    out = []
    for fd in fds:
        counts = f" (+{fd.added} -{fd.removed})"
        if fd.op == "create":
            out.append(f"Created {fd.path}{counts}.")
        elif fd.op == "delete":
            out.append(f"Deleted {fd.path}.")
        elif fd.op == "rename":
            out.append(f"Renamed {fd.old_path} to {fd.new_path}" + (counts if fd.hunks else "") + ".")
        else:
            out.append(f"Edited {fd.path}{counts}.")
    return " ".join(out)


def str_replace_calls(fd: FileDiff) -> list[tuple[str, dict[str, Any], str]]:
    """The ``str_replace_editor`` (and ``bash`` for ``mv``/``rm``) calls that make one file's diff."""
    path = fd.path
    if fd.op == "create":
        text = "".join(line for h in fd.hunks for line in h.new_lines)
        return [("str_replace_editor", {"command": "create", "path": path, "file_text": text},
                 f"File created successfully at: {path}")]
    if fd.op == "delete":
        return [("bash", {"command": f"rm {shlex.quote(path)}"}, "exit code: 0")]
    calls: list[tuple[str, dict[str, Any], str]] = []
    if fd.op == "rename":
        calls.append(("bash", {"command": f"mv {shlex.quote(str(fd.old_path))} {shlex.quote(path)}"},
                      "exit code: 0"))
    for h in fd.hunks:
        new = "".join(h.new_lines)
        if h.old_len == 0:
            calls.append(("str_replace_editor", {"command": "insert", "path": path,
                                                 "insert_line": h.old_start, "new_str": new},
                          f"The file {path} has been edited."))
        else:
            calls.append(("str_replace_editor", {"command": "str_replace", "path": path,
                                                 "old_str": "".join(h.old_lines), "new_str": new},
                          f"The file {path} has been edited."))
    return calls


# ----- next-edit


class NextEditWriter(_JsonlWriter):
    """Zeta-style next-edit examples (module docstring)."""

    format = "next-edit"
    card_fields = (
        "- `events`: the previous edits of the episode (`User edited \"PATH\":` and a diff fence), oldest "
        "first.\n"
        f"- `input`: an excerpt of the file before the edit: the editable region between `{REGION_START}` "
        f"and `{REGION_END}` (the span of the edit's hunks), a few known lines around it, `{CURSOR}` "
        f"where the previous edit of this file ended (else at the region's start; `cursor` says which), "
        f"`{START_OF_FILE}` when the excerpt starts at the file's first line.\n"
        "- `output`: the same excerpt after the edit.\n"
        "- `path`, `editable_start` (1-based line of the region in the file before the edit), "
        "`editable_lines`, `previous_edits`, ids: `id`, `episode_id`, `step`, `session`; `task`.")

    def __init__(self, out: Path, options: ExportOptions) -> None:
        super().__init__(out, options)
        self.events = options.edit_events

    def card_intro(self) -> str:
        return ("Next-edit prediction in the format of Zed's zeta dataset: given the recent edits and an "
                "excerpt of a file, rewrite its editable region as the person did next. Only edits with at "
                "least one earlier edit in their episode are examples.")

    def _add(self, episode: dict[str, Any], split: str) -> None:
        tree = PartialTree()
        events: list[str] = []
        cursors: dict[str, tuple[int, int]] = {}
        for step in episode["steps"]:
            if step.get("type") != "edit":
                continue
            try:
                fds = parse(edit_diff(step))
            except ValueError:
                self.not_written["edits_with_unreadable_diff"] += 1
                continue
            if len(fds) != 1:
                self.not_written["edits_of_several_files"] += 1
            elif not events:
                self.not_written["first_edits_of_episode"] += 1
            elif fds[0].op in ("create", "delete"):
                self.not_written["file_creations_and_deletions"] += 1
            elif not fds[0].hunks:
                self.not_written["edits_without_hunks"] += 1  # a rename or mode change alone
            else:
                record = self._example(episode, step, fds[0], tree, events, cursors.get(str(fds[0].old_path)))
                if record is None:
                    self.not_written["regions_not_known"] += 1
                else:
                    self._write(split, record)
            for fd in fds:
                try:
                    tree.apply_file(fd, what=f"step {step['step']}")
                except ValueError:
                    self.not_written["diffs_not_fitting_earlier_ones"] += 1
                    tree = PartialTree()  # start over: what is known from here on is still right
                cursors.pop(str(fd.old_path), None)
                end = _edit_end(fd)
                if fd.new_path is not None and end is not None:
                    cursors[fd.new_path] = end
                events.append(format_event(fd))

    def _example(self, episode: dict[str, Any], step: dict[str, Any], fd: FileDiff, tree: PartialTree,
                 events: list[str], cursor: tuple[int, int] | None) -> dict[str, Any] | None:
        path = str(fd.old_path)
        hunks = _hunks_around(fd.hunks, tree, path, cursor)
        if hunks is None:
            return None
        start, stop = hunks[0].index, hunks[-1].index + hunks[-1].old_len
        if cursor is not None:  # a cursor just outside the region, with known lines between, joins it
            line = cursor[0]
            if start - EXCERPT_CONTEXT <= line < start and _all_known(tree, path, line, start):
                start = line
            elif stop <= line < stop + EXCERPT_CONTEXT and _all_known(tree, path, stop, line + 1):
                stop = line + 1
        before = _region(tree, path, start, stop, hunks)
        after = list(before)
        for h in reversed(hunks):
            after[h.index - start:h.index - start + h.old_len] = h.new_lines
        above = _known_run(tree.lines(path, start - EXCERPT_CONTEXT, start), from_end=True)
        below = _known_run(tree.lines(path, stop, stop + EXCERPT_CONTEXT), from_end=False)
        first = start - len(above)
        if cursor is not None and start <= cursor[0] < stop:
            line = before[cursor[0] - start]
            col = min(cursor[1], len(line.rstrip("\n")))
            marked = list(before)
            marked[cursor[0] - start] = line[:col] + CURSOR + line[col:]
            rule = "previous_edit"
        else:
            marked = [CURSOR + (before[0] if before else "")] + before[1:]
            rule = "region_start"
        return {
            "id": f"{episode['episode_id']}/{step['step']}", "episode_id": episode["episode_id"],
            "step": step["step"], "session": _text(episode.get("session")),
            "task": _text(episode.get("task")), "path": fd.path, "events": "\n\n".join(events[-self.events:]),
            "input": excerpt(fd.path, above, marked, below, first == 0),
            "output": excerpt(fd.path, above, after, below, first == 0),
            "cursor": rule, "editable_start": start + 1, "editable_lines": stop - start,
            "previous_edits": len(events),
        }

    def _report(self) -> dict[str, Any]:
        return {"edit_events": self.events}


def format_event(fd: FileDiff) -> str:
    """One edit as zeta's ``events`` show it: ``User edited "PATH":`` and its hunks in a diff fence."""
    if fd.op == "delete":
        return f'User deleted "{fd.old_path}"'
    out = []
    if fd.op == "rename":
        out.append(f'User renamed "{fd.old_path}" to "{fd.new_path}"')
    if fd.hunks or fd.op == "create":
        out.append(f'User edited "{fd.path}":\n```diff\n{"".join(format_hunk(h) for h in fd.hunks)}\n```')
    return "\n\n".join(out)


def excerpt(path: str, above: list[str], region: list[str], below: list[str], start_of_file: bool) -> str:
    """A zeta excerpt: the fence with the path, the known lines above, the marked region, those below."""
    def block(lines: list[str]) -> str:
        text = "".join(lines)
        return text if not text or text.endswith("\n") else text + "\n"

    marked = CURSOR if region == [CURSOR] else block(region)  # an empty region: the cursor alone, no line
    return (f"```{path}\n" + (f"{START_OF_FILE}\n" if start_of_file else "") + block(above)
            + f"{REGION_START}\n" + marked + f"{REGION_END}\n" + block(below) + "```")


def _hunks_around(hunks: tuple[Hunk, ...], tree: PartialTree, path: str,
                  cursor: tuple[int, int] | None) -> list[Hunk] | None:
    """The hunks whose span is all known: the run around the cursor, else the first run."""
    runs: list[list[Hunk]] = [[hunks[0]]]
    for h in hunks[1:]:
        prev = runs[-1][-1]
        if _all_known(tree, path, prev.index + prev.old_len, h.index):
            runs[-1].append(h)
        else:
            runs.append([h])
    if cursor is not None:
        for run in runs:
            if run[0].index <= cursor[0] < run[-1].index + run[-1].old_len:
                return run
    return runs[0]


def _all_known(tree: PartialTree, path: str, start: int, stop: int) -> bool:
    lines = tree.lines(path, start, stop)
    return len(lines) == stop - start and None not in lines


def _region(tree: PartialTree, path: str, start: int, stop: int, hunks: list[Hunk]) -> list[str]:
    """Lines ``start`` to ``stop`` of the file before the edit: the hunks' lines, the known lines between."""
    region = [line or "" for line in tree.lines(path, start, stop)]
    region += [""] * (stop - start - len(region))
    for h in hunks:
        region[h.index - start:h.index - start + h.old_len] = h.old_lines
    return region


def _known_run(lines: list[str | None], from_end: bool) -> list[str]:
    """The known lines next to the region: the run at the end (above) or at the start (below)."""
    run: list[str] = []
    for line in reversed(lines) if from_end else lines:
        if line is None:
            break
        run.append(line)
    return run[::-1] if from_end else run


def _edit_end(fd: FileDiff) -> tuple[int, int] | None:
    """Where an edit ended, in the file after it: ``(line, column)``, 0-based (module docstring)."""
    if not fd.hunks:
        return None
    h = fd.hunks[-1]
    line = h.new_start - 1 if h.new_len else h.new_start
    end = None
    for tag, text in h.lines:
        if tag == "+":
            end = (line, len(text.rstrip("\n")))
            line += 1
        elif tag == " ":
            line += 1
        else:
            end = (line, 0)
    return end


# ----- next-command


class NextCommandWriter(_JsonlWriter):
    """Next-command examples (module docstring)."""

    format = "next-command"
    card_fields = (
        "- `history`: the previous commands of the episode, oldest first: `command`, `cwd` (where it ran), "
        "`exit_code`.\n"
        "- `cwd`: where the next command ran; `next`: the command line to predict.\n"
        "- `repo`, `task`, ids: `id`, `episode_id`, `step`, `session`.")

    def __init__(self, out: Path, options: ExportOptions) -> None:
        super().__init__(out, options)
        self.history = options.command_history

    def card_intro(self) -> str:
        return ("Next shell command prediction: given the commands a person ran before in the episode "
                "(with their working directories and exit codes), predict the next command line. Only "
                "commands with at least one earlier command in their episode are examples.")

    def _add(self, episode: dict[str, Any], split: str) -> None:
        history: list[dict[str, Any]] = []
        for step in episode["steps"]:
            if step.get("type") != "command":
                continue
            command = {"command": _text(step.get("text")), "cwd": _text(step.get("cwd")),
                       "exit_code": step.get("exit_code")}
            if not history:
                self.not_written["first_commands_of_episode"] += 1
            else:
                self._write(split, {
                    "id": f"{episode['episode_id']}/{step['step']}", "episode_id": episode["episode_id"],
                    "step": step["step"], "session": _text(episode.get("session")),
                    "task": _text(episode.get("task")), "repo": _text(episode.get("repo")),
                    "cwd": command["cwd"], "history": history[-self.history:], "next": command["command"],
                })
            history.append(command)

    def _report(self) -> dict[str, Any]:
        return {"command_history": self.history}


__all__ = ["COMMAND_HISTORY", "EDIT_EVENTS", "EDIT_TOOLS", "TOOLS", "NextCommandWriter", "NextEditWriter",
           "SweWriter", "edit_diff", "excerpt", "format_event", "str_replace_calls"]
