"""``lerobot`` export: a LeRobot v3.0 dataset that ``LeRobotDataset(repo_id, root=OUT)`` loads as it is.

Layout (LeRobot ``CODEBASE_VERSION = "v3.0"``; the path templates are those of ``lerobot.datasets.utils``)::

    OUT/meta/info.json                                      schema, fps, totals, splits, path templates
    OUT/meta/stats.json                                     min/max/mean/std/count/q01..q99 per feature
    OUT/meta/tasks.parquet                                  task string (the index) -> task_index
    OUT/meta/episodes/chunk-000/file-000.parquet            one row per episode: offsets, tasks, stats
    OUT/data/chunk-000/file-000.parquet                     one row per step, train episodes
    OUT/data/chunk-000/file-001.parquet                     validation episodes (when there are any)
    OUT/videos/observation.images.screen/chunk-000/file-000.mp4   the frames of file-000's rows, in order
    OUT/videos/observation.images.screen/chunk-000/file-001.mp4
    OUT/workscribe_export.json                              the export report (written by the driver)

How work maps onto LeRobot's robot-shaped format:

- **One frame per step.** Each step is one row, and the video holds its observation frame (the screen
  the action was taken from). Steps are not evenly spaced in time, but LeRobot requires
  ``timestamp == frame_index / fps``: the dataset has a nominal ``FPS`` and the real time since the
  episode's start is kept in ``step.time_s`` (the step's duration in ``step.duration_s``, the age of
  its frame in ``step.frame_age_s``).
- **``action``** is a float32 vector with named dims (``ACTION_NAMES``): a one-hot of the action type
  (``ACTION_TYPES``), ``x, y, x2, y2`` normalised to [0, 1] by the screen size (``x2, y2`` equal
  ``x, y`` except for a drag; -1 where a position is unknown) and the scroll ``dx, dy`` in wheel
  steps (0 when not a scroll). **``observation.state``** is the pointer ``x, y``, normalised the same way.
- **Text and keys cannot go into a float vector.** They are string features: ``step.type``,
  ``step.text``, ``step.keys`` ("" where they do not apply), ``step.action`` (the action as JSON, the
  fields ``workscribe score`` reads), ``step.app`` and ``step.window``. LeRobot reads ``string``
  features (``get_hf_features_from_features`` gives ``Value("string")``, ``hf_transform_to_torch``
  passes strings through, stats skip them). They are named ``step.*``, not ``action.*`` or
  ``observation.*``, because ``dataset_to_policy_features`` makes every key that starts with
  ``action`` a policy output and every key that starts with ``observation`` a policy input.
- **The robot** is a computer (``robot_type``); its one camera is the screen.
- **Tasks.** An episode's task is its ``workscribe task`` title; an episode outside tasks gets
  ``"Work in <app>"`` (its apps joined by ", "; ``"Work at the computer"`` if it has none).
- **Splits.** LeRobot has one dataset with ``splits`` in ``info.json``
  (``{"train": "0:8", "validation": "8:10"}``): train episodes come first, then validation, so each
  split is a contiguous range of episode indices. The driver hands over episodes in its own order, so
  each split is written to its own parts (a data file and a video file with the same chunk and file
  index) as episodes arrive; ``close`` numbers the parts (train first), gives episodes, rows and
  tasks their final indices and writes the metadata. A part ends after the episode that takes its
  video past ``VIDEO_FILES_SIZE_IN_MB``; chunks hold ``CHUNKS_SIZE`` files.
- **Memory is bounded.** Frames go straight to the encoder; a part's rows (no pixels) are held until
  the part ends, then wait in a temporary Parquet file; only per-episode metadata stays in memory.
- **Video.** H.264 (libx264, ``yuv420p``, ``GOP`` frames between keyframes as LeRobot's encoder
  defaults for random access, no B-frames) in mp4. All frames share the size of the first frame,
  padded to even dimensions (edge pixels repeated); a frame of another size is stretched to it, so
  normalised coordinates still point at the same content (counted in ``frames_resized``). Steps
  whose frame cannot be decoded never reach the writer (the driver drops and counts them).
- **Stats** as LeRobot computes them: per episode over its rows (images: per channel over a sample
  of frames, downsampled, shape [3, 1, 1], in [0, 1]; their quantiles from a 256-bin histogram), and
  for the dataset aggregated with LeRobot's rule (count-weighted mean, pooled variance, count-weighted
  quantiles). String features have none.
- **Deterministic:** one encoder thread, x264's macroblock-tree rate control off (with it on, the
  same frames gave different bytes from run to run, even in one thread) and bit-exact muxing (no
  creation time, no library version); Parquet written by pyarrow (no timestamps); JSON with sorted
  keys: the same spools give byte-identical files.

Not checked against the ``lerobot`` package itself: its releases for Python 3.11 pin torch < 2.11,
which this project's machines do not install; the tests load the data as ``LeRobotDataset`` does
(``datasets`` with the features it derives from ``info.json``, frames by ``from_timestamp + timestamp``).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from workscribe.export.formats import ExportOptions
from workscribe.export.frames import FrameStore
from workscribe.export.source import SPLITS, action_of
from workscribe.process.reduce import GUI_TYPES as ACTION_TYPES

CODEBASE_VERSION = "v3.0"
FPS = 10
"""Nominal frames per second: ``timestamp = frame_index / FPS`` (real times are in ``step.time_s``)."""
ROBOT_TYPE = "computer"
VIDEO_KEY = "observation.images.screen"
CHUNKS_SIZE = 1000  # files per chunk folder (LeRobot's DEFAULT_CHUNK_SIZE)
DATA_FILES_SIZE_IN_MB = 100  # LeRobot's default; a part's data file stays far below it
VIDEO_FILES_SIZE_IN_MB = 200  # a part ends once its video is this large

INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
CHUNK_FILE_PATTERN = "chunk-{chunk_index:03d}/file-{file_index:03d}"
EPISODES_PATH = "meta/episodes/" + CHUNK_FILE_PATTERN + ".parquet"
DATA_PATH = "data/" + CHUNK_FILE_PATTERN + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE_PATTERN + ".mp4"
TMP_DIR = ".lerobot-partial"  # parts in the making; removed by ``close``

CODEC, PIX_FMT, CRF, PRESET, GOP = "h264", "yuv420p", 23, "veryfast", 2
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
QUANTILE_KEYS = tuple(f"q{round(q * 100):02d}" for q in QUANTILES)

ACTION_NAMES: tuple[str, ...] = (*ACTION_TYPES, "x", "y", "x2", "y2", "scroll_dx", "scroll_dy")
STATE_NAMES: tuple[str, ...] = ("pointer_x", "pointer_y")
STRING_FEATURES = ("step.type", "step.text", "step.keys", "step.action", "step.app", "step.window")
FLOAT_FEATURES = ("step.time_s", "step.duration_s", "step.frame_age_s")
INDEX_FEATURES = ("frame_index", "episode_index", "index", "task_index")
DEFAULT_TASK = "Work at the computer"


def task_of(episode: dict[str, Any]) -> str:
    """The LeRobot task string of an episode: its task title, else ``Work in <apps>``."""
    if episode.get("task"):
        return str(episode["task"])
    apps = [a for a in episode.get("apps") or [] if a]
    return f"Work in {', '.join(apps)}" if apps else DEFAULT_TASK


def action_vector(step: dict[str, Any], screen: tuple[int, int]) -> list[float]:
    """The ``action`` feature of a step (``ACTION_NAMES``); ``screen`` is (w, h) in pixels."""
    w, h = screen
    onehot = [1.0 if step["type"] == t else 0.0 for t in ACTION_TYPES]
    x, y = _norm(step.get("x"), w), _norm(step.get("y"), h)
    x2 = _norm(step["x2"], w) if step.get("x2") is not None else x
    y2 = _norm(step["y2"], h) if step.get("y2") is not None else y
    return [*onehot, x, y, x2, y2, float(step.get("dx") or 0), float(step.get("dy") or 0)]


def state_vector(step: dict[str, Any], screen: tuple[int, int]) -> list[float]:
    """The ``observation.state`` feature of a step: the pointer (the action's position if unknown)."""
    px = step["pointer_x"] if step.get("pointer_x") is not None else step.get("x")
    py = step["pointer_y"] if step.get("pointer_y") is not None else step.get("y")
    return [_norm(px, screen[0]), _norm(py, screen[1])]


def _norm(v: int | None, size: int) -> float:
    return -1.0 if v is None or not size else v / size


def features(video_size: tuple[int, int]) -> dict[str, dict[str, Any]]:
    """The ``features`` of ``info.json`` for a video of ``video_size`` (w, h)."""
    w, h = video_size
    out: dict[str, dict[str, Any]] = {
        VIDEO_KEY: {"dtype": "video", "shape": [h, w, 3], "names": ["height", "width", "channels"],
                    "info": {"video.height": h, "video.width": w, "video.codec": CODEC,
                             "video.pix_fmt": PIX_FMT, "video.is_depth_map": False, "video.fps": FPS,
                             "video.channels": 3, "has_audio": False}},
        "observation.state": {"dtype": "float32", "shape": [len(STATE_NAMES)], "names": list(STATE_NAMES)},
        "action": {"dtype": "float32", "shape": [len(ACTION_NAMES)], "names": list(ACTION_NAMES)},
    }
    out.update({k: {"dtype": "float64", "shape": [1], "names": None} for k in FLOAT_FEATURES})
    out.update({k: {"dtype": "string", "shape": [1], "names": None} for k in STRING_FEATURES})
    out["timestamp"] = {"dtype": "float32", "shape": [1], "names": None}
    out.update({k: {"dtype": "int64", "shape": [1], "names": None} for k in INDEX_FEATURES})
    return out


DATA_SCHEMA = pa.schema(
    [pa.field("observation.state", pa.list_(pa.float32(), len(STATE_NAMES))),
     pa.field("action", pa.list_(pa.float32(), len(ACTION_NAMES)))]
    + [pa.field(k, pa.float64()) for k in FLOAT_FEATURES]
    + [pa.field(k, pa.string()) for k in STRING_FEATURES]
    + [pa.field("timestamp", pa.float32())]
    + [pa.field(k, pa.int64()) for k in INDEX_FEATURES]
)
"""Columns of the data files, in order."""

_FINAL_ONLY = ("timestamp", "episode_index", "index", "task_index")  # known once ``close`` numbers the parts
_PART_SCHEMA = pa.schema([f for f in DATA_SCHEMA if f.name not in _FINAL_ONLY]
                         + [pa.field("episode", pa.int64())])  # rows of a part, episodes numbered within it

# pandas reads this back as a DataFrame indexed by ``task``, as LeRobot's ``load_tasks`` expects
_TASKS_PANDAS = {
    "index_columns": ["task"],
    "column_indexes": [{"name": None, "field_name": None, "pandas_type": "unicode", "numpy_type": "object",
                        "metadata": {"encoding": "UTF-8"}}],
    "columns": [{"name": "task_index", "field_name": "task_index", "pandas_type": "int64",
                 "numpy_type": "int64", "metadata": None},
                {"name": "task", "field_name": "task", "pandas_type": "unicode", "numpy_type": "object",
                 "metadata": None}],
    "attributes": {}, "creator": {"library": "pyarrow", "version": pa.__version__},
    "pandas_version": "2.2.0",  # the metadata as pandas 2 writes it (pandas itself is not needed)
}


# -- stats ---------------------------------------------------------------------------------------
def array_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """LeRobot's per-feature stats of ``values`` (rows first): each of shape (dims,), count (1,)."""
    v = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    out = {"min": v.min(0), "max": v.max(0), "mean": v.mean(0), "std": v.std(0), "count": np.array([len(v)])}
    for q, key in zip(QUANTILES, QUANTILE_KEYS, strict=True):
        out[key] = np.quantile(v, q, axis=0)
    return out


def histogram_stats(hist: np.ndarray, count: int) -> dict[str, np.ndarray]:
    """Per-channel image stats in [0, 1], shape (3, 1, 1), from a (3, 256) histogram of ``count`` frames."""
    levels = np.arange(256) / 255.0
    n = hist.sum(axis=1)
    mean = hist @ levels / n
    var = (hist * (levels[None, :] - mean[:, None]) ** 2).sum(axis=1) / n
    cum = np.cumsum(hist, axis=1)
    nonzero = hist > 0
    out = {"min": levels[nonzero.argmax(axis=1)], "max": levels[255 - nonzero[:, ::-1].argmax(axis=1)],
           "mean": mean, "std": np.sqrt(var)}
    for q, key in zip(QUANTILES, QUANTILE_KEYS, strict=True):
        out[key] = levels[[int(np.searchsorted(cum[c], q * n[c])) for c in range(3)]]
    out = {k: v.reshape(3, 1, 1) for k, v in out.items()}
    out["count"] = np.array([count])
    return out


def aggregate_stats(stats: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """LeRobot's ``aggregate_feature_stats``: the stats of a feature over several episodes."""
    counts = np.stack([s["count"] for s in stats]).astype(np.float64)
    total = counts.sum(axis=0)
    means = np.stack([s["mean"] for s in stats])
    while counts.ndim < means.ndim:
        counts = counts[..., None]
    mean = (means * counts).sum(axis=0) / total
    var = ((np.stack([s["std"] for s in stats]) ** 2 + (means - mean) ** 2) * counts).sum(axis=0) / total
    out = {"min": np.stack([s["min"] for s in stats]).min(axis=0),
           "max": np.stack([s["max"] for s in stats]).max(axis=0),
           "mean": mean, "std": np.sqrt(var), "count": np.array([int(total[0])])}
    for key in QUANTILE_KEYS:
        out[key] = (np.stack([s[key] for s in stats]) * counts).sum(axis=0) / total
    return out


def sample_indices(length: int) -> set[int]:
    """The frames of an episode that image stats are taken from (LeRobot's ``sample_indices``)."""
    num = max(min(100, length), min(int(length**0.75), 10_000))
    return set(np.round(np.linspace(0, length - 1, num)).astype(int).tolist())


def _downsample(rgb: np.ndarray) -> np.ndarray:
    """LeRobot's ``auto_downsample_height_width``: about 150 px on the long side when 300 or more."""
    h, w = rgb.shape[:2]
    if max(w, h) < 300:
        return rgb
    f = int(max(w, h) / 150)
    return rgb[::f, ::f]


# -- parts ---------------------------------------------------------------------------------------
@dataclass
class _Episode:
    """What ``close`` needs of one written episode."""

    meta: dict[str, Any]  # workscribe's own columns of the episodes file
    task: str
    length: int
    first_frame: int  # frame of the part's video where it starts
    stats: dict[str, dict[str, np.ndarray]]


@dataclass
class _Part:
    """One data file and one video file of a split in the making (see the module docstring)."""

    split: str
    video: Path
    rows: Path
    container: Any = None
    stream: Any = None
    frames: int = 0
    bytes: int = 0  # of the encoded frames so far
    episodes: list[_Episode] = field(default_factory=list)
    pending: list[pa.Table] = field(default_factory=list)

    def open(self, size: tuple[int, int]) -> None:
        self.container = av.open(str(self.video), "w", format="mp4", options={"fflags": "+bitexact"})
        self.stream = self.container.add_stream(
            "libx264", rate=FPS,
            options={"crf": str(CRF), "preset": PRESET, "g": str(GOP), "bf": "0", "threads": "1",
                     "flags": "+bitexact", "x264-params": "mbtree=0"})
        self.stream.width, self.stream.height = size
        self.stream.pix_fmt = PIX_FMT

    def encode(self, rgb: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = self.frames
        self.frames += 1
        for packet in self.stream.encode(frame):
            self.bytes += packet.size
            self.container.mux(packet)

    def finish(self) -> None:
        """Drains the encoder, closes the video and writes the waiting rows."""
        if self.container is not None:
            for packet in self.stream.encode(None):
                self.container.mux(packet)
            self.container.close()
            self.container = self.stream = None
        table = pa.concat_tables(self.pending) if self.pending else _PART_SCHEMA.empty_table()
        pq.write_table(table, self.rows)
        self.pending = []


class LeRobotWriter:
    """Writes episodes as a LeRobot v3.0 dataset (see the module docstring)."""

    def __init__(self, out: Path, options: ExportOptions) -> None:
        self.out = Path(out)
        self.options = options
        self.tmp = self.out / TMP_DIR
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.parts: dict[str, list[_Part]] = {s: [] for s in SPLITS}
        self._open: dict[str, _Part | None] = dict.fromkeys(SPLITS)
        self.raw_size: tuple[int, int] | None = None  # (w, h) of the first frame
        self.size: tuple[int, int] | None = None  # (w, h) of the video: raw_size padded to even
        self.frames_resized = 0

    # -- episodes ---------------------------------------------------------------------------------
    def add(self, episode: dict[str, Any], split: str, frames: FrameStore) -> None:
        """Encodes the episode's frames into its split's video and keeps its rows for ``close``."""
        steps = episode["steps"]
        sampled = sample_indices(len(steps))
        hist = np.zeros((3, 256), np.int64)
        n_sampled = 0
        cols: dict[str, list[Any]] = {f.name: [] for f in _PART_SCHEMA}
        part: _Part | None = None
        for i, step in enumerate(steps):
            rgb = frames.rgb(step["frame"])
            screen = (step.get("screen_w") or rgb.shape[1], step.get("screen_h") or rgb.shape[0])
            image = self._fit(rgb)
            if part is None:
                part = self._part(split)
            part.encode(image)
            if i in sampled:
                small = _downsample(image)
                for c in range(3):
                    hist[c] += np.bincount(small[..., c].ravel(), minlength=256)
                n_sampled += 1
            cols["observation.state"].append(state_vector(step, screen))
            cols["action"].append(action_vector(step, screen))
            cols["step.time_s"].append(float(step["t"]))
            cols["step.duration_s"].append(float(step.get("duration_s") or 0.0))
            cols["step.frame_age_s"].append(float(step.get("frame_age_s") or 0.0))
            cols["step.type"].append(step["type"])
            cols["step.text"].append(step.get("text") or "")
            cols["step.keys"].append(step.get("keys") or "")
            cols["step.action"].append(json.dumps(action_of(step), ensure_ascii=False, sort_keys=True))
            cols["step.app"].append(step.get("app") or "")
            cols["step.window"].append(step.get("window") or "")
            cols["frame_index"].append(len(cols["frame_index"]))
        if part is None:  # an episode without steps
            return
        length = len(cols["frame_index"])
        cols["episode"] = [len(part.episodes)] * length
        part.pending.append(pa.table(cols, schema=_PART_SCHEMA))
        frame_index = np.arange(length)
        stats = {"observation.state": array_stats(np.array(cols["observation.state"], np.float32)),
                 "action": array_stats(np.array(cols["action"], np.float32)),
                 **{k: array_stats(np.array(cols[k])) for k in FLOAT_FEATURES},
                 "timestamp": array_stats((frame_index / FPS).astype(np.float32)),
                 "frame_index": array_stats(frame_index)}
        if n_sampled:
            stats[VIDEO_KEY] = histogram_stats(hist, n_sampled)
        meta = {"episode_id": episode["episode_id"], "split": split, "session": episode["session"],
                "contributor": episode["contributor"], "outcome": episode.get("outcome"),
                "cut": episode.get("cut"), "start": episode["start"],
                "duration_s": float(episode["duration_s"]), "apps": list(episode.get("apps") or [])}
        part.episodes.append(_Episode(meta, task_of(episode), length, part.frames - length, stats))
        if part.bytes >= VIDEO_FILES_SIZE_IN_MB * 2**20:
            part.finish()
            self._open[split] = None

    def _part(self, split: str) -> _Part:
        part = self._open[split]
        if part is None:
            n = len(self.parts[split])
            part = _Part(split, self.tmp / f"{split}-{n:04d}.mp4", self.tmp / f"{split}-{n:04d}.parquet")
            assert self.size is not None
            part.open(self.size)
            self.parts[split].append(part)
            self._open[split] = part
        return part

    def _fit(self, rgb: np.ndarray) -> np.ndarray:
        """The frame at the video's size: stretched if its size differs from the first, padded to even."""
        h, w = rgb.shape[:2]
        if self.raw_size is None:
            self.raw_size = (w, h)
            self.size = (w + w % 2, h + h % 2)
        if (w, h) != self.raw_size:
            rgb = np.asarray(Image.fromarray(rgb).resize(self.raw_size, Image.Resampling.BILINEAR))
            self.frames_resized += 1
        assert self.size is not None
        (rw, rh), (vw, vh) = self.raw_size, self.size
        if (rw, rh) != (vw, vh):
            rgb = np.pad(rgb, ((0, vh - rh), (0, vw - rw), (0, 0)), mode="edge")
        return np.ascontiguousarray(rgb)

    # -- the dataset ------------------------------------------------------------------------------
    def close(self) -> dict[str, Any]:
        """Numbers the parts (train first), writes data, videos and metadata; returns the report part."""
        for split in SPLITS:
            if self._open[split] is not None:
                self._open[split].finish()  # type: ignore[union-attr]
                self._open[split] = None
        parts = [p for s in SPLITS for p in self.parts[s]]
        tasks: dict[str, int] = {}
        for part in parts:
            for ep in part.episodes:
                tasks.setdefault(ep.task, len(tasks))
        rows: list[dict[str, Any]] = []
        episode_stats: list[dict[str, dict[str, np.ndarray]]] = []
        files: list[str] = []
        frame_base = 0
        for p, part in enumerate(parts):
            chunk, file = divmod(p, CHUNKS_SIZE)
            data_path = DATA_PATH.format(chunk_index=chunk, file_index=file)
            video_path = VIDEO_PATH.format(video_key=VIDEO_KEY, chunk_index=chunk, file_index=file)
            episode_base, part_frame_base = len(rows), frame_base
            for ep in part.episodes:
                index = len(rows)
                ep.stats["episode_index"] = array_stats(np.full(ep.length, index))
                ep.stats["index"] = array_stats(np.arange(frame_base, frame_base + ep.length))
                ep.stats["task_index"] = array_stats(np.full(ep.length, tasks[ep.task]))
                rows.append(self._episode_row(ep, index, tasks, chunk, file, frame_base))
                episode_stats.append(ep.stats)
                frame_base += ep.length
            self._write_data(part, self.out / data_path, episode_base, part_frame_base, tasks)
            (self.out / video_path).parent.mkdir(parents=True, exist_ok=True)
            part.video.replace(self.out / video_path)
            files += [data_path, video_path]
        split_counts = {s: sum(len(p.episodes) for p in self.parts[s]) for s in SPLITS}
        splits, start = {}, 0
        for s in SPLITS:
            if split_counts[s]:
                splits[s] = f"{start}:{start + split_counts[s]}"
                start += split_counts[s]
        self._write_episodes(rows)
        self._write_tasks(tasks)
        stats = {k: aggregate_stats([s[k] for s in episode_stats if k in s])
                 for k in sorted({k for s in episode_stats for k in s})}
        _write_json(self.out / STATS_PATH,
                    {k: {n: v.tolist() for n, v in s.items()} for k, s in stats.items()})
        info = {
            "codebase_version": CODEBASE_VERSION, "robot_type": ROBOT_TYPE, "total_episodes": len(rows),
            "total_frames": frame_base, "total_tasks": len(tasks), "chunks_size": CHUNKS_SIZE,
            "data_files_size_in_mb": DATA_FILES_SIZE_IN_MB, "video_files_size_in_mb": VIDEO_FILES_SIZE_IN_MB,
            "fps": FPS, "splits": splits, "data_path": DATA_PATH, "video_path": VIDEO_PATH,
            "features": features(self.size or (0, 0)),
        }
        _write_json(self.out / INFO_PATH, info)
        shutil.rmtree(self.tmp, ignore_errors=True)
        files += [INFO_PATH, STATS_PATH, TASKS_PATH] + ([EPISODES_PATH.format(chunk_index=0, file_index=0)]
                                                       if rows else [])
        return {"files": sorted(files), "lerobot": {
            "episodes": dict(split_counts), "frames": frame_base, "tasks": len(tasks), "fps": FPS,
            "video_size": list(self.size or (0, 0)), "frames_resized": self.frames_resized}}

    def _episode_row(self, ep: _Episode, index: int, tasks: dict[str, int], chunk: int, file: int,
                     frame_base: int) -> dict[str, Any]:
        """One row of the episodes file, columns in LeRobot's order, then workscribe's own."""
        row: dict[str, Any] = {
            "episode_index": index, "tasks": [ep.task], "length": ep.length,
            "data/chunk_index": chunk, "data/file_index": file,
            "dataset_from_index": frame_base, "dataset_to_index": frame_base + ep.length,
            f"videos/{VIDEO_KEY}/chunk_index": chunk, f"videos/{VIDEO_KEY}/file_index": file,
            f"videos/{VIDEO_KEY}/from_timestamp": ep.first_frame / FPS,
            f"videos/{VIDEO_KEY}/to_timestamp": (ep.first_frame + ep.length) / FPS,
        }
        for key in sorted(ep.stats):
            for name, value in ep.stats[key].items():
                row[f"stats/{key}/{name}"] = value.tolist()
        row["meta/episodes/chunk_index"] = 0
        row["meta/episodes/file_index"] = 0
        row.update(ep.meta)
        return row

    def _write_data(self, part: _Part, path: Path, episode_base: int, frame_base: int,
                    tasks: dict[str, int]) -> None:
        table = pq.read_table(part.rows, schema=_PART_SCHEMA)
        part.rows.unlink()
        local = table.column("episode").to_numpy()
        task_of_episode = np.array([tasks[ep.task] for ep in part.episodes], np.int64)
        cols = {name: table.column(name) for name in table.column_names if name != "episode"}
        cols["timestamp"] = pa.array((table.column("frame_index").to_numpy() / FPS).astype(np.float32))
        cols["episode_index"] = pa.array(local + episode_base, pa.int64())
        cols["index"] = pa.array(np.arange(frame_base, frame_base + len(table)), pa.int64())
        cols["task_index"] = pa.array(task_of_episode[local], pa.int64())
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table([cols[f.name] for f in DATA_SCHEMA], schema=DATA_SCHEMA), path,
                       compression="snappy")

    def _write_episodes(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        path = self.out / EPISODES_PATH.format(chunk_index=0, file_index=0)
        path.parent.mkdir(parents=True, exist_ok=True)
        names = list(dict.fromkeys(k for row in rows for k in row))
        types = {"tasks": pa.list_(pa.string()), "apps": pa.list_(pa.string()), "outcome": pa.string(),
                 "cut": pa.string()}
        arrays = [pa.array([row.get(n) for row in rows], types.get(n)) for n in names]
        pq.write_table(pa.table(arrays, names=names), path, compression="snappy")

    def _write_tasks(self, tasks: dict[str, int]) -> None:
        path = self.out / TASKS_PATH
        path.parent.mkdir(parents=True, exist_ok=True)
        schema = pa.schema([pa.field("task_index", pa.int64()), pa.field("task", pa.string())],
                           metadata={"pandas": json.dumps(_TASKS_PANDAS, sort_keys=True)})
        table = pa.table([pa.array(list(tasks.values()), pa.int64()), pa.array(list(tasks), pa.string())],
                         schema=schema)
        pq.write_table(table, path, compression="snappy")


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=4, sort_keys=True, ensure_ascii=False) + "\n")


__all__ = ["ACTION_NAMES", "CODEBASE_VERSION", "FPS", "STATE_NAMES", "VIDEO_KEY", "LeRobotWriter",
           "action_vector", "features", "state_vector", "task_of"]
