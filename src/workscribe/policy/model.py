"""The behaviour-cloning policy: an element scorer, a typed-text chooser, a key classifier.

At each step the policy decides, from ``features.Observation``:

1. *what kind of action* (``ACTION_CLASSES``: click, type, key, done) from the instruction, the
   focused element and the last action;
2. for a click, *which element*: every element of the page snapshot is scored against the
   instruction (a bilinear match of hashed word embeddings plus the element's numeric features), and
   the pointer goes to the centre of the best one's box;
3. for typing, *which string*: the candidates of ``features.candidates`` (quoted strings, words and
   phrases of the instruction, or the secret placeholder) are scored with the words before them and
   the focused field;
4. for a key, *which key* among those seen in training.

It is trained from scratch with cross-entropy on each head (only the heads a step has labels for),
small enough to train in a minute on two CPU cores, and runs unchanged on a GPU (``--device cuda``).
"""

from __future__ import annotations

import torch
from torch import nn

from workscribe.policy.features import (
    ACTION_CLASSES,
    BUCKETS,
    ELEMENT_FEATURES,
    HISTORY_FEATURES,
    SPAN_FEATURES,
)


def _bag(emb: nn.EmbeddingBag, rows: list[list[int]], device: torch.device) -> torch.Tensor:
    flat = [i for r in rows for i in r]
    offsets, pos = [], 0
    for r in rows:
        offsets.append(pos)
        pos += len(r)
    return emb(torch.tensor(flat, dtype=torch.long, device=device),
               torch.tensor(offsets, dtype=torch.long, device=device))


class Policy(nn.Module):
    """See the module docstring. ``keys`` are the key names the key head can press."""

    def __init__(self, keys: list[str], dim: int = 64) -> None:
        super().__init__()
        self.keys = list(keys)
        self.dim = dim
        self.words = nn.EmbeddingBag(BUCKETS, dim, mode="mean", padding_idx=0, sparse=True)
        self.element = nn.Sequential(nn.Linear(dim + ELEMENT_FEATURES, dim), nn.ReLU(), nn.Linear(dim, dim))
        self.match = nn.Sequential(nn.Linear(3 * dim + ELEMENT_FEATURES + HISTORY_FEATURES, dim), nn.ReLU(),
                                   nn.Linear(dim, 1))
        context = 2 * dim + HISTORY_FEATURES
        self.kind = nn.Sequential(nn.Linear(context, dim), nn.ReLU(), nn.Linear(dim, len(ACTION_CLASSES)))
        self.key = nn.Sequential(nn.Linear(context, dim), nn.ReLU(), nn.Linear(dim, max(1, len(self.keys))))
        self.span = nn.Sequential(nn.Linear(4 * dim + SPAN_FEATURES, dim), nn.ReLU(), nn.Linear(dim, 1))

    def forward(self, x: dict) -> dict[str, torch.Tensor]:  # noqa: D102 - see encode/heads
        device = self.words.weight.device
        instr = _bag(self.words, [x["instruction"]], device)[0]
        hist = torch.tensor(x["history"], dtype=torch.float32, device=device)
        nums = torch.tensor(x["element_features"], dtype=torch.float32, device=device).reshape(
            -1, ELEMENT_FEATURES)
        if nums.shape[0]:
            el = self.element(torch.cat([_bag(self.words, x["element_ids"], device), nums], dim=1))
            n = el.shape[0]
            scores = self.match(torch.cat([el, instr.expand(n, -1), el * instr, nums, hist.expand(n, -1)],
                                          dim=1)).squeeze(1)
        else:
            el = torch.zeros(0, self.dim, device=device)
            scores = torch.zeros(0, device=device)
        focus = el[x["focused"]] if x["focused"] is not None and x["focused"] < el.shape[0] else \
            torch.zeros(self.dim, device=device)
        context = torch.cat([instr, focus, hist])
        out = {"kind": self.kind(context), "key": self.key(context), "element": scores}
        if x["candidates"]:
            c_ids = _bag(self.words, [c.ids for c in x["candidates"]], device)
            c_before = _bag(self.words, [c.before for c in x["candidates"]], device)
            c_num = torch.tensor([c.features for c in x["candidates"]], dtype=torch.float32, device=device)
            m = c_ids.shape[0]
            parts = [c_ids, c_before, focus.expand(m, -1), instr.expand(m, -1), c_num]
            out["span"] = self.span(torch.cat(parts, dim=1)).squeeze(1)
        else:
            out["span"] = torch.zeros(0, device=device)
        return out
