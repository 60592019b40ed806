"""``hf`` export: Parquet shards that ``datasets.load_dataset("parquet", data_dir=OUT)`` loads as they are.

Layout::

    OUT/data/train-00000-of-00002.parquet       one row per step, the screen in ``image``
    OUT/data/validation-00000-of-00001.parquet
    OUT/README.md                               dataset card: splits, columns, versions
    OUT/workscribe_export.json                  the export report

Columns: ``episode_id, step, session, contributor, task, ticket, outcome, app, window, action_type,
action`` (the action as JSON, the fields ``workscribe score`` reads), ``x, y, x2, y2, button, text,
keys, dx, dy, pointer_x, pointer_y, screen_w, screen_h, t, duration_s, frame_age_s``, ``browser`` (the
page snapshot as JSON: url, viewport origin, visible elements with screen boxes; null outside a
browser) and ``image``
(PNG bytes of the observation frame: the last distinct frame before the action started). The Arrow
schema carries the ``datasets`` features, so ``image`` loads as an ``Image`` feature (PIL images).

Shards hold at most ``ROWS_PER_SHARD`` rows; rows are written as they come, so memory holds at most
one row group of images. No clock or random value reaches a file: two exports of the same spools
are byte-identical.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from workscribe.export.formats import ExportOptions
from workscribe.export.frames import FrameStore
from workscribe.export.source import SPLITS, action_of

ROWS_PER_SHARD = 2000
ROWS_PER_GROUP = 64

_INT = ("step", "x", "y", "x2", "y2", "button", "dx", "dy", "pointer_x", "pointer_y", "screen_w", "screen_h")
_STR = ("episode_id", "session", "contributor", "task", "ticket", "outcome", "app", "window", "action_type",
        "action", "text", "keys", "browser")
_FLOAT = ("t", "duration_s", "frame_age_s")
COLUMNS: tuple[str, ...] = (
    "episode_id", "step", "session", "contributor", "task", "ticket", "outcome", "app", "window",
    "action_type", "action", "x", "y", "x2", "y2", "button", "text", "keys", "dx", "dy",
    "pointer_x", "pointer_y", "screen_w", "screen_h", "t", "duration_s", "frame_age_s", "browser", "image",
)  # fmt: skip


def _schema() -> pa.Schema:
    fields, features = [], {}
    for name in COLUMNS:
        if name == "image":
            fields.append(pa.field(name, pa.struct([("bytes", pa.binary()), ("path", pa.string())])))
            features[name] = {"_type": "Image"}
        elif name in _INT:
            fields.append(pa.field(name, pa.int32()))
            features[name] = {"dtype": "int32", "_type": "Value"}
        elif name in _FLOAT:
            fields.append(pa.field(name, pa.float64()))
            features[name] = {"dtype": "float64", "_type": "Value"}
        else:
            assert name in _STR
            fields.append(pa.field(name, pa.string()))
            features[name] = {"dtype": "string", "_type": "Value"}
    meta = {"huggingface": json.dumps({"info": {"features": features}}, sort_keys=True)}
    return pa.schema(fields, metadata=meta)


SCHEMA = _schema()


class HfWriter:
    """Writes steps into Parquet shards per split (see the module docstring)."""

    def __init__(self, out: Path, options: ExportOptions) -> None:
        self.out = out
        self.data = out / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.options = options
        self._rows: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
        self._writer: dict[str, pq.ParquetWriter | None] = dict.fromkeys(SPLITS)
        self._shard: dict[str, int] = dict.fromkeys(SPLITS, 0)
        self._in_shard: dict[str, int] = dict.fromkeys(SPLITS, 0)
        self._files: dict[str, list[Path]] = {s: [] for s in SPLITS}
        self.rows: dict[str, int] = dict.fromkeys(SPLITS, 0)
        self.image_bytes = 0

    def add(self, episode: dict[str, Any], split: str, frames: FrameStore) -> None:
        for step in episode["steps"]:
            image = frames.png(step["frame"])
            self.image_bytes += len(image)
            row = {k: step.get(k) for k in COLUMNS if k in step}
            row.update(session=episode["session"], contributor=episode["contributor"], task=episode["task"],
                       ticket=episode["ticket"], outcome=episode["outcome"], action_type=step["type"],
                       action=json.dumps(action_of(step), ensure_ascii=False, sort_keys=True),
                       browser=json.dumps(step["browser"], ensure_ascii=False, sort_keys=True)
                       if step.get("browser") is not None else None,
                       image={"bytes": image, "path": f"{step['episode_id']}-{step['step']:05d}.png"})
            self._rows[split].append(row)
            if len(self._rows[split]) >= ROWS_PER_GROUP:
                self._flush(split)

    def _flush(self, split: str) -> None:
        rows = self._rows[split]
        if not rows:
            return
        while rows:
            if self._writer[split] is None:
                path = self.data / f"{split}-{self._shard[split]:05d}.parquet.partial"
                self._files[split].append(path)
                self._writer[split] = pq.ParquetWriter(path, SCHEMA, compression="zstd",
                                                       write_statistics=False)
            room = ROWS_PER_SHARD - self._in_shard[split]
            part, rows = rows[:room], rows[room:]
            table = pa.Table.from_pylist(part, schema=SCHEMA)
            self._writer[split].write_table(table, row_group_size=ROWS_PER_GROUP)  # type: ignore[union-attr]
            self._in_shard[split] += len(part)
            self.rows[split] += len(part)
            if self._in_shard[split] >= ROWS_PER_SHARD:
                self._writer[split].close()  # type: ignore[union-attr]
                self._writer[split] = None
                self._shard[split] += 1
                self._in_shard[split] = 0
        self._rows[split] = []

    def close(self) -> dict[str, Any]:
        shards = {}
        for split in SPLITS:
            self._flush(split)
            if self._writer[split] is not None:
                self._writer[split].close()  # type: ignore[union-attr]
            files = self._files[split]
            names = []
            for i, path in enumerate(files):
                final = self.data / f"{split}-{i:05d}-of-{len(files):05d}.parquet"
                path.rename(final)
                names.append(final.relative_to(self.out).as_posix())
            shards[split] = names
        (self.out / "README.md").write_text(_card(shards, self.rows))
        return {"files": shards, "rows": dict(self.rows), "image_bytes": self.image_bytes}


def _card(shards: dict[str, list[str]], rows: dict[str, int]) -> str:
    configs = "\n".join(f"  - split: {s}\n    path: data/{s}-*.parquet" for s in SPLITS if shards[s])
    table = "\n".join(f"| {s} | {rows[s]} | {len(shards[s])} |" for s in SPLITS)
    return f"""---
configs:
- config_name: default
  data_files:
{configs}
tags:
- computer-use
- behaviour-cloning
- workscribe
---

# workscribe dataset

Steps of recorded computer work: each row is one action (click, drag, scroll, type, key, hotkey)
and the screen it was taken from (`image`: the last distinct frame before the action started).
Secrets, personal data and the contributor's identity were redacted before anything was written;
`contributor` is a pseudonym. Versions and the split rule are in `workscribe_export.json`.

| split | rows | shards |
|---|---|---|
{table}

```python
from datasets import load_dataset
ds = load_dataset("parquet", data_dir="THIS_FOLDER")
```
"""
