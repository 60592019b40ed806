"""``workscribe bench redact``: recall, false positives and speed of the text redactor.

Recall: the fraction of positive samples of ``workscribe.testing.corpus`` whose planted value is
gone from the redacted text *and* whose every character was covered by a hit of the right
category (a secret by a ``<SECRET:...>``, PII by a PII placeholder). False positive rate: the
fraction of negative samples that were changed at all.

Speed: the corpus's lines, repeated to at least ``target_mb`` MB of UTF-8, redacted through
``redact_lines`` as the recorder does with terminal output and files, on one thread, after one
untimed pass over the corpus (a long-running recorder has its caches warm). ``text_mb_per_s`` is
the best of ``repeats`` timings (other load on the machine only ever slows a run down) and
``text_mb_per_s_median`` their median. The corpus is dense in hits (a quarter of its samples hold
a planted item); ``text_mb_per_s_typical`` times its negatives alone (code, shell, logs, prose) the
same way. ``text_line_calls_mb_per_s`` is ``redact_text`` called on each line by itself, as for
short event texts (titles, typed strings), over the first MB.
"""

from __future__ import annotations

import collections
import statistics
import time
from typing import Any

from workscribe.redact import RULESET_VERSION, Hit, category, redact_lines, redact_text
from workscribe.testing.corpus import Sample, build_corpus


def _covered(sample: Sample, hits: list[Hit]) -> bool:
    """True if every occurrence of the sample's value lies inside hits of the sample's category."""
    spans = [(h.start, h.end) for h in hits if category(h.label) == sample.kind]
    value = sample.value or ""
    start = sample.text.find(value) if value else -1
    if start < 0:
        return False
    while start >= 0:
        pos, end = start, start + len(value)
        while pos < end:
            reach = max((e for s, e in spans if s <= pos < e), default=None)
            if reach is None:
                return False
            pos = reach
        start = sample.text.find(value, start + 1)
    return True


def evaluate(corpus: list[Sample], keep: int = 10) -> dict[str, Any]:
    """Recall per category, false positive rate, and the first ``keep`` misses and false positives."""
    found: collections.Counter[str] = collections.Counter()
    total = collections.Counter(s.kind for s in corpus)
    missed_by_label: collections.Counter[str] = collections.Counter()
    misses: list[dict[str, str]] = []
    false_positives: list[dict[str, str]] = []
    for s in corpus:
        out, hits = redact_text(s.text)
        if s.kind == "negative":
            if out != s.text:
                found["negative"] += 1
                if len(false_positives) < keep:
                    false_positives.append({"text": s.text[:200], "redacted": out[:200]})
        elif (s.value or "") not in out and _covered(s, hits):
            found[s.kind] += 1
        else:
            missed_by_label[s.label or ""] += 1
            if len(misses) < keep:
                misses.append({"label": s.label or "", "text": s.text[:200], "redacted": out[:200]})
    return {
        "secret_recall": round(found["secret"] / max(1, total["secret"]), 4),
        "pii_recall": round(found["pii"] / max(1, total["pii"]), 4),
        "false_positive_rate": round(found["negative"] / max(1, total["negative"]), 4),
        "counts": dict(total),
        "missed_by_label": dict(missed_by_label),
        "misses": misses,
        "false_positives": false_positives,
    }


def measure_speed(corpus: list[Sample], target_mb: float = 20.0, repeats: int = 3) -> dict[str, Any]:
    """MB/s of ``redact_lines`` over the corpus's lines repeated to ``target_mb`` MB; of per-line calls."""
    lines = [line for s in corpus for line in s.text.split("\n")]
    size = sum(len(line.encode()) + 1 for line in lines)
    times = -(-int(target_mb * 1e6) // size)
    buffer = lines * times
    collections.deque(redact_lines(lines), maxlen=0)  # warm the caches once, as a running recorder has
    timings = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        collections.deque(redact_lines(buffer), maxlen=0)
        timings.append(time.perf_counter() - t0)
    first, n = [], 0
    for line in buffer:
        first.append(line)
        n += len(line.encode()) + 1
        if n >= 1e6:
            break
    t0 = time.perf_counter()
    for line in first:
        redact_text(line)
    per_line = n / 1e6 / (time.perf_counter() - t0)
    mb = size * times / 1e6
    return {"text_mb_per_s": round(mb / min(timings), 2),
            "text_mb_per_s_median": round(mb / statistics.median(timings), 2),
            "text_line_calls_mb_per_s": round(per_line, 2), "lines_timed": len(buffer),
            "bytes_timed": size * times}


def bench_redact(seed: int = 0, target_mb: float = 20.0, repeats: int = 3) -> dict[str, Any]:
    """Runs the benchmark on the corpus of ``seed`` and returns its figures (see the module docstring)."""
    corpus = build_corpus(seed)
    quality = evaluate(corpus)
    speed = measure_speed(corpus, target_mb, repeats)
    typical = measure_speed([s for s in corpus if s.kind == "negative"], target_mb, repeats)
    return {
        "secret_recall": quality["secret_recall"],
        "pii_recall": quality["pii_recall"],
        "false_positive_rate": quality["false_positive_rate"],
        "text_mb_per_s": speed["text_mb_per_s"],
        "text_mb_per_s_median": speed["text_mb_per_s_median"],
        "text_mb_per_s_typical": typical["text_mb_per_s"],
        "text_line_calls_mb_per_s": speed["text_line_calls_mb_per_s"],
        "ruleset_version": RULESET_VERSION,
        "samples": {**quality["counts"], "lines_timed": speed["lines_timed"],
                    "bytes_timed": speed["bytes_timed"]},
        "missed_by_label": quality["missed_by_label"],
        "misses": quality["misses"],
        "false_positives": quality["false_positives"],
    }
