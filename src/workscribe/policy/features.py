"""What the behaviour-cloning policy sees: the instruction, the page snapshot, its own past actions.

All of it comes from a recording: the task title (``workscribe task start``, the instruction in
MiniWoB), the browser source's snapshot before the action (visible elements with tag, role, name,
text, value, type, focused, checked and a screen box), and the previous steps of the episode.

Text is cut into lower-case word pieces and hashed into ``BUCKETS`` ids (crc32: stable across runs
and machines), so there is no vocabulary to build or ship and unseen words still get an id.

Per element: its token ids and ``ELEMENT_FEATURES`` numbers (kind of element, state, position in
the viewport, how its words overlap the instruction, how often the episode already clicked it).
For typing: the candidate strings (quoted strings, words and short phrases of the instruction, and
``SECURE_TEXT`` for a secret the policy never sees), each with its own ids, the ids of the words
just before it in the instruction, and ``SPAN_FEATURES``.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from typing import Any

from workscribe.process.reduce import SECURE_TEXT

BUCKETS = 8192
MAX_TOKENS = 24
MAX_ELEMENTS = 96
ACTION_CLASSES = ("click", "type", "key")
"""What the policy can do next: click an element, type a string or press a key."""

_WORD = re.compile(r"[a-z0-9]+")
_QUOTED = re.compile(r"\"([^\"]+)\"|'([^']+)'|“([^”]+)”")
_SPLIT = re.compile(r"\S+")
_INPUT_TYPES = {"text", "search", "email", "url", "tel", "number", "password", ""}

ELEMENT_FEATURES = 19
SPAN_FEATURES = 8
HISTORY_FEATURES = len(ACTION_CLASSES) + 6  # see history_features


def words(text: str | None) -> list[str]:
    """Lower-case word pieces of ``text``."""
    return _WORD.findall((text or "").lower())


def ids(tokens: list[str], limit: int = MAX_TOKENS) -> list[int]:
    """Hashed ids (1..BUCKETS-1; 0 pads) of up to ``limit`` tokens."""
    return [1 + zlib.crc32(t.encode()) % (BUCKETS - 1) for t in tokens[:limit]]


def quoted(instruction: str) -> list[str]:
    """The quoted strings of an instruction, in order."""
    return [next(g for g in m.groups() if g is not None) for m in _QUOTED.finditer(instruction)]


def element_text(el: dict[str, Any]) -> str:
    return " ".join(str(el.get(k) or "") for k in ("tag", "role", "type", "name", "text", "value", "id"))


def _is_input(el: dict[str, Any]) -> bool:
    tag = (el.get("tag") or "").lower()
    return tag == "textarea" or tag == "input" and (el.get("type") or "").lower() in _INPUT_TYPES


@dataclass
class Candidate:
    """A string the policy may type."""

    text: str
    ids: list[int]
    before: list[int]  # ids of the two words before it in the instruction
    features: list[float]


@dataclass
class Observation:
    """One decision point."""

    instruction: str
    elements: list[dict[str, Any]]
    origin: tuple[float, float] = (0.0, 0.0)  # screen pixels of the viewport's top-left
    history: list[dict[str, Any]] = field(default_factory=list)  # earlier steps: type, element, text, keys

    @property
    def focused(self) -> int | None:
        return next((i for i, el in enumerate(self.elements) if el.get("focused")), None)


def element_features(obs: Observation) -> tuple[list[list[int]], list[list[float]]]:
    """Token ids and numbers for each element (at most ``MAX_ELEMENTS``)."""
    instr = set(words(obs.instruction))
    raw_quotes = {q.strip() for q in quoted(obs.instruction)}
    quotes = [q.lower() for q in raw_quotes]
    clicked: dict[str, int] = {}
    for h in obs.history:
        if h.get("element") is not None:
            clicked[h["element"]] = clicked.get(h["element"], 0) + 1
    all_ids, feats = [], []
    ox, oy = obs.origin
    for el in obs.elements[:MAX_ELEMENTS]:
        toks = words(element_text(el))
        text_toks = words(el.get("text")) or words(el.get("name"))
        overlap = len(set(text_toks) & instr) / len(set(text_toks)) if text_toks else 0.0
        text = " ".join(text_toks)
        x, y, w, h = (el.get("box") or [0, 0, 0, 0])[:4]
        tag = (el.get("tag") or "").lower()
        kind = (el.get("type") or "").lower()
        value = str(el.get("value") or "")
        feats.append([
            float(bool(el.get("focused"))), float(bool(el.get("checked"))), float(_is_input(el)),
            float(kind == "password"), float(tag == "button" or kind in ("button", "submit")),
            float(tag == "a"),
            float(kind in ("checkbox", "radio")), (x - ox) / 500, (y - oy) / 500, w / 500, h / 500,
            overlap, float(bool(text) and any(text == " ".join(words(q)) for q in quotes)),
            float(bool(text) and f" {text} " in f" {' '.join(words(obs.instruction))} "),
            min(3, clicked.get(element_key(el), 0)) / 3, float(bool(value)),
            float(bool(value) and value.lower() in quotes), float(not text_toks),
            float(_own_text(el) in raw_quotes),  # exact, case included: "Cancel" is not "cancel"
        ])
        all_ids.append(ids(toks) or [0])
    return all_ids, feats


def _own_text(el: dict[str, Any]) -> str:
    return str(el.get("text") or el.get("name") or "").strip()


def element_key(el: dict[str, Any]) -> str:
    """A stable name for an element within an episode (to count clicks on it)."""
    box = el.get("box") or [0, 0, 0, 0]
    return f"{el.get('tag')}|{el.get('text') or el.get('name') or ''}|{box[0]:.0f},{box[1]:.0f}"


def history_features(obs: Observation) -> list[float]:
    """The last action's class, how many steps so far, whether the focused field holds text."""
    last = obs.history[-1]["type"] if obs.history else None
    one_hot = [float(last == c) for c in ACTION_CLASSES]
    focus = obs.focused
    el = obs.elements[focus] if focus is not None and focus < len(obs.elements) else {}
    typed_here = bool(obs.history and obs.history[-1]["type"] == "type")
    return [*one_hot, float(last is None), min(len(obs.history), 10) / 10, float(bool(el)),
            float(_is_input(el)) if el else 0.0, float(bool(el.get("value"))) if el else 0.0,
            float(typed_here)]


def candidates(obs: Observation) -> list[Candidate]:
    """What may be typed now: quoted strings, words and short phrases of the instruction, a secret."""
    text = obs.instruction
    focus = obs.focused
    el = obs.elements[focus] if focus is not None and focus < len(obs.elements) else {}
    field_words = set(words(" ".join(str(el.get(k) or "") for k in ("name", "id", "text", "placeholder"))))
    password = (el.get("type") or "").lower() == "password"
    out: list[Candidate] = []
    seen: set[str] = set()
    spans = [(m.start(), m.end(), next(g for g in m.groups() if g is not None), 1.0)
             for m in _QUOTED.finditer(text)]
    pieces = [(m.start(), m.end(), m.group().strip(".,;:!?\"'()"), 0.0) for m in _SPLIT.finditer(text)]
    for n in (2, 3):  # short phrases
        for i in range(len(pieces) - n + 1):
            a, b = pieces[i][0], pieces[i + n - 1][1]
            spans.append((a, b, text[a:b].strip(".,;:!?\"'()"), 0.0))
    for start, _end, s, is_quoted in spans + pieces:
        if not s or s in seen:
            continue
        seen.add(s)
        prev = words(text[:start])[-2:]
        near = float(bool(set(prev) & field_words))
        out.append(Candidate(s, ids(words(s)) or [0], ids(prev) or [0], [
            is_quoted, near, start / max(1, len(text)), min(len(s), 40) / 40, float(password),
            float(len(words(s)) == 1), float(s.lower() in (str(el.get("value") or "").lower(),)), 0.0]))
    out.append(Candidate(SECURE_TEXT, [0], [0], [0.0, 0.0, 0.0, 0.0, float(password), 0.0, 0.0, 1.0]))
    return out
