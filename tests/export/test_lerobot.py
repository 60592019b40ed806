"""lerobot export of synthetic spools in the real format: v3.0 layout, indices, videos, tasks, determinism."""

from __future__ import annotations

import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from workscribe.export import lerobot
from workscribe.export.driver import REPORT_FILE, ExportOptions, export
from workscribe.export.frames import FrameStore
from workscribe.export.source import iter_episodes, open_dataset
from workscribe.testing.synthetic import write_synthetic_spool

HOURS = 0.04  # 2.4 simulated minutes per spool: a few hundred steps, several episodes
OPTIONS = ExportOptions(format="lerobot", val_fraction=0.34)
REQUIRED = ("meta/info.json", "meta/stats.json", "meta/tasks.parquet",
            "meta/episodes/chunk-000/file-000.parquet", "data/chunk-000/file-000.parquet",
            "videos/observation.images.screen/chunk-000/file-000.mp4")
VIDEO = "observation.images.screen"


@pytest.fixture(scope="module")
def spools(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], bytes]:
    root = tmp_path_factory.mktemp("spools")
    key = secrets.token_bytes(32)
    folders = [root / f"s{seed}" for seed in (1, 2, 3)]
    for seed, folder in zip((1, 2, 3), folders, strict=True):
        write_synthetic_spool(folder, key, HOURS, seed=seed, frames=True, segment_s=60)
    return folders, key


@pytest.fixture(scope="module")
def exported(spools, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folders, key = spools
    out = tmp_path_factory.mktemp("lerobot") / "out"
    return out, export(folders, out, OPTIONS, key=key)


def read(out: Path) -> tuple[dict[str, Any], pa.Table, pa.Table]:
    """info.json, every data file concatenated in (chunk, file) order, and the episodes files."""
    info = json.loads((out / "meta/info.json").read_text())
    data = pa.concat_tables(pq.read_table(p) for p in sorted((out / "data").glob("chunk-*/file-*.parquet")))
    episodes = pa.concat_tables(pq.read_table(p) for p in sorted((out / "meta/episodes").glob("*/*.parquet")))
    return info, data, episodes


def check_dataset(out: Path) -> tuple[dict[str, Any], pa.Table, pa.Table]:
    """Asserts the invariants LeRobot relies on; returns ``read(out)``."""
    info, data, episodes = read(out)
    fps = info["fps"]
    eps = episodes.to_pylist()
    assert info["total_episodes"] == len(eps) and info["total_frames"] == len(data)
    assert [e["episode_index"] for e in eps] == list(range(len(eps)))
    assert data.column("index").to_pylist() == list(range(len(data)))
    start = 0
    for e in eps:  # contiguous ranges that cover every row once, each in the file the episode names
        assert e["dataset_from_index"] == start and e["dataset_to_index"] == start + e["length"]
        start = e["dataset_to_index"]
        rows = pq.read_table(out / info["data_path"].format(chunk_index=e["data/chunk_index"],
                                                            file_index=e["data/file_index"]))
        mine = rows.filter(pa.compute.equal(rows.column("episode_index"), e["episode_index"]))
        assert mine.column("index").to_pylist() == list(range(e["dataset_from_index"], e["dataset_to_index"]))
        assert mine.column("frame_index").to_pylist() == list(range(e["length"]))
        assert np.allclose(mine.column("timestamp").to_numpy(), np.arange(e["length"]) / fps, atol=1e-6)
        assert e[f"videos/{VIDEO}/to_timestamp"] - e[f"videos/{VIDEO}/from_timestamp"] == pytest.approx(
            e["length"] / fps)
    assert start == len(data)
    splits = [tuple(map(int, r.split(":"))) for r in info["splits"].values()]
    assert list(info["splits"]) == [s for s in ("train", "validation") if s in info["splits"]]
    assert splits[0][0] == 0 and splits[-1][1] == len(eps)
    assert all(a[1] == b[0] for a, b in zip(splits, splits[1:], strict=False))
    for name, (lo, hi) in zip(info["splits"], splits, strict=True):
        assert {e["split"] for e in eps[lo:hi]} == {name}
    by_video: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for e in eps:  # episodes follow each other in their video file, from its start
        by_video.setdefault((e[f"videos/{VIDEO}/chunk_index"], e[f"videos/{VIDEO}/file_index"]), []).append(e)
    for (chunk, file), group in by_video.items():
        at = 0.0
        for e in group:
            assert e[f"videos/{VIDEO}/from_timestamp"] == pytest.approx(at)
            at = e[f"videos/{VIDEO}/to_timestamp"]
        path = out / info["video_path"].format(video_key=VIDEO, chunk_index=chunk, file_index=file)
        with av.open(str(path)) as container:
            assert sum(1 for _ in container.decode(video=0)) == sum(e["length"] for e in group)
    return info, data, episodes


def decoded_frames(path: Path) -> dict[int, np.ndarray]:
    """The frames of an mp4 by their timestamp in 1/1000 s."""
    with av.open(str(path)) as container:
        return {round(f.time * 1000): f.to_ndarray(format="rgb24") for f in container.decode(video=0)}


def barcode(rgb: np.ndarray) -> int:
    """The frame number the synthetic spool draws into each frame (12 black or white bars)."""
    h = rgb.shape[0] if rgb.shape[0] % 2 == 0 else rgb.shape[0] - 1
    row = rgb[h // 4 + 2: h // 4 + 10]
    return sum(1 << b for b in range(12) if row[:, 11 + b * 10: 17 + b * 10].mean() < 128)


def test_export_writes_the_lerobot_v3_layout(exported) -> None:
    out, report = exported
    for path in REQUIRED:
        assert (out / path).is_file(), path
    on_disk = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert on_disk == sorted([*report["files"], REPORT_FILE])  # no temporary file left behind
    info = json.loads((out / "meta/info.json").read_text())
    assert info["codebase_version"] == "v3.0"
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["video_path"] == "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    assert set(info) == {"codebase_version", "robot_type", "total_episodes", "total_frames", "total_tasks",
                         "chunks_size", "data_files_size_in_mb", "video_files_size_in_mb", "fps", "splits",
                         "data_path", "video_path", "features"}


def test_info_totals_splits_and_features_agree_with_the_parquet_files(exported) -> None:
    out, report = exported
    info, data, episodes = check_dataset(out)
    assert info["total_frames"] == report["steps"] > 100
    assert info["total_episodes"] == report["episodes"] >= 4
    assert set(info["splits"]) == {"train", "validation"}  # three sessions, val_fraction 0.34
    lo, hi = map(int, info["splits"]["validation"].split(":"))
    assert hi - lo == report["splits"]["validation"]["episodes"]
    assert info["total_tasks"] == pq.read_metadata(out / "meta/tasks.parquet").num_rows
    features = info["features"]
    assert set(data.column_names) == set(features) - {VIDEO}
    assert features[VIDEO]["shape"] == [200, 320, 3] and features[VIDEO]["info"]["video.codec"] == "h264"
    arrow = {"float32": pa.float32(), "float64": pa.float64(), "int64": pa.int64(), "string": pa.string()}
    for name, ft in features.items():
        if ft["dtype"] == "video":
            continue
        if ft["shape"] != [1]:
            assert data.schema.field(name).type == pa.list_(arrow[ft["dtype"]], ft["shape"][0])
            assert len(ft["names"]) == ft["shape"][0]
        else:
            assert data.schema.field(name).type == arrow[ft["dtype"]], name
    # LeRobot hands every action* key to policies as an output and every observation* key as an input
    policy = [n for n in features if n.startswith(("action", "observation"))]
    assert sorted(policy) == ["action", "observation.images.screen", "observation.state"]


def test_videos_hold_the_source_frame_of_every_row_at_its_timestamp(spools, exported) -> None:
    folders, key = spools
    out, _ = exported
    info, data, episodes = read(out)
    ds = open_dataset(folders, key)
    source = {ep["episode_id"]: ep for ep in iter_episodes(ds)}
    stores = {i: FrameStore(spool) for i, spool in enumerate(ds.spools)}
    videos: dict[tuple[int, int], dict[int, np.ndarray]] = {}
    checked = 0
    for e in episodes.to_pylist():
        place = (e[f"videos/{VIDEO}/chunk_index"], e[f"videos/{VIDEO}/file_index"])
        if place not in videos:
            videos[place] = decoded_frames(out / info["video_path"].format(
                video_key=VIDEO, chunk_index=place[0], file_index=place[1]))
        steps = source[e["episode_id"]]["steps"]
        assert len(steps) == e["length"]
        for frame_index in range(0, e["length"], 7):
            t = e[f"videos/{VIDEO}/from_timestamp"] + frame_index / info["fps"]  # as LeRobot queries it
            decoded = videos[place][round(t * 1000)]
            assert decoded.shape == (200, 320, 3)
            step = steps[frame_index]
            original = stores[source[e["episode_id"]]["_spool"]].rgb(step["frame"])
            assert barcode(decoded) == int(step["frame"].rpartition("#")[2]) % 4096
            assert np.abs(decoded.astype(int) - original).mean() < 2  # lossy, but close (about 0.3 here)
            checked += 1
    assert checked > 20


def test_tasks_are_the_task_titles_or_work_in_the_app(spools, exported) -> None:
    pd = pytest.importorskip("pandas")
    folders, key = spools
    out, _ = exported
    _, data, episodes = read(out)
    tasks = pd.read_parquet(out / "meta/tasks.parquet")  # as LeRobot's load_tasks reads it
    assert tasks.index.name == "task" and list(tasks.columns) == ["task_index"]
    assert sorted(tasks["task_index"]) == list(range(len(tasks)))
    source = {ep["episode_id"]: ep for ep in iter_episodes(open_dataset(folders, key))}
    titled = untitled = 0
    for e in episodes.to_pylist():
        ep = source[e["episode_id"]]
        expected = ep["task"] or "Work in " + ", ".join(ep["apps"])
        assert e["tasks"] == [expected]
        titled, untitled = titled + bool(ep["task"]), untitled + (not ep["task"])
        rows = data.slice(e["dataset_from_index"], e["length"])
        assert set(rows.column("task_index").to_pylist()) == {int(tasks.loc[expected, "task_index"])}
    assert titled and untitled
    assert set(tasks.index) == {t for e in episodes.column("tasks").to_pylist() for t in e}


def test_action_and_state_vectors_are_normalised_and_agree_with_the_action_json(exported) -> None:
    out, _ = exported
    info, data, _ = read(out)
    names = info["features"]["action"]["names"]
    actions = np.array(data.column("action").to_pylist())
    states = np.array(data.column("observation.state").to_pylist())
    types = names[:len(lerobot.ACTION_TYPES)]
    assert (actions[:, :len(types)].sum(axis=1) == 1).all()  # one-hot
    col = {n: i for i, n in enumerate(names)}
    for row, vec in zip(data.to_pylist(), actions, strict=True):
        action = json.loads(row["step.action"])
        assert types[int(vec[:len(types)].argmax())] == action["type"] == row["step.type"]
        assert vec[col["x"]] == pytest.approx(action["x"] / 320, abs=1e-6)
        assert vec[col["y"]] == pytest.approx(action["y"] / 200, abs=1e-6)
        if action["type"] == "drag":
            assert vec[col["x2"]] == pytest.approx(action["x2"] / 320, abs=1e-6)
        if action["type"] == "scroll":
            assert (vec[col["scroll_dx"]], vec[col["scroll_dy"]]) == (action["dx"] or 0, action["dy"] or 0)
        assert row["step.text"] == (action["text"] or "") and row["step.keys"] == (action["keys"] or "")
    assert ((states >= 0) & (states <= 1)).all()
    seen = {json.loads(a)["type"] for a in data.column("step.action").to_pylist()}
    assert seen >= {"click", "type", "drag"}


def test_stats_json_has_lerobot_stats_for_every_numeric_feature(exported) -> None:
    out, _ = exported
    info, data, episodes = read(out)
    stats = json.loads((out / "meta/stats.json").read_text())
    numeric = {n for n, ft in info["features"].items() if ft["dtype"] != "string"}
    assert set(stats) == numeric
    keys = {"min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99"}
    for name in numeric - {VIDEO}:
        assert set(stats[name]) == keys
        assert stats[name]["count"] == [len(data)]
        values = np.array(data.column(name).to_pylist(), dtype=np.float64).reshape(len(data), -1)
        assert np.allclose(stats[name]["min"], values.min(axis=0))
        assert np.allclose(stats[name]["max"], values.max(axis=0))
        assert np.allclose(stats[name]["mean"], values.mean(axis=0))
        assert np.allclose(stats[name]["std"], values.std(axis=0))
    image = {k: np.array(v) for k, v in stats[VIDEO].items()}
    assert all(image[k].shape == (3, 1, 1) for k in keys - {"count"})
    assert (0 <= image["min"]).all() and (image["min"] <= image["mean"]).all()
    assert (image["mean"] <= image["max"]).all() and (image["max"] <= 1).all()
    assert "stats/action/mean" in episodes.column_names and f"stats/{VIDEO}/q50" in episodes.column_names


def test_two_exports_of_the_same_spools_are_byte_identical(spools, exported, tmp_path: Path) -> None:
    folders, key = spools
    out, _ = exported
    export(folders, tmp_path / "again", OPTIONS, key=key)

    def digest(folder: Path) -> dict[str, str]:
        return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.rglob("*")) if p.is_file()}

    assert digest(tmp_path / "again") == digest(out)


def test_data_files_load_with_the_features_lerobot_derives_from_info_json(exported) -> None:
    datasets = pytest.importorskip("datasets")
    out, _ = exported
    info = json.loads((out / "meta/info.json").read_text())
    features = {}  # as lerobot.datasets.feature_utils.get_hf_features_from_features builds them
    for name, ft in info["features"].items():
        if ft["dtype"] == "video":
            continue
        if ft["shape"] == [1]:
            features[name] = datasets.Value(ft["dtype"])
        else:
            features[name] = datasets.Sequence(length=ft["shape"][0], feature=datasets.Value(ft["dtype"]))
    parts = [datasets.Dataset.from_parquet(str(p), features=datasets.Features(features))
             for p in sorted((out / "data").glob("*/*.parquet"))]
    ds = datasets.concatenate_datasets(parts)
    assert len(ds) == info["total_frames"]
    row = ds[len(ds) // 2]
    assert len(row["action"]) == len(lerobot.ACTION_NAMES) and isinstance(row["step.action"], str)
    episodes = datasets.Dataset.from_parquet(str(out / "meta/episodes/chunk-000/file-000.parquet"))
    assert len(episodes) == info["total_episodes"]  # as LeRobotDatasetMetadata loads them
    assert np.array(episodes[0][f"stats/{VIDEO}/mean"]).shape == (3, 1, 1)


def test_videos_roll_over_into_new_files_past_the_size_limit(spools, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    folders, key = spools
    monkeypatch.setattr(lerobot, "VIDEO_FILES_SIZE_IN_MB", 0.02)
    export(folders, tmp_path / "out", OPTIONS, key=key)
    info, data, episodes = check_dataset(tmp_path / "out")
    files = {(e["data/chunk_index"], e["data/file_index"]) for e in episodes.to_pylist()}
    assert len(files) > 2
    assert files == {(e[f"videos/{VIDEO}/chunk_index"], e[f"videos/{VIDEO}/file_index"])
                     for e in episodes.to_pylist()}
    lo, _ = map(int, info["splits"]["validation"].split(":"))
    eps = episodes.to_pylist()
    assert max(e["data/file_index"] for e in eps[:lo]) < eps[lo]["data/file_index"]  # no file holds both


def test_frames_of_another_size_are_stretched_to_the_size_of_the_first(tmp_path: Path) -> None:
    key = secrets.token_bytes(32)
    sizes = {}
    for name, seed, size in (("big", 4, (320, 200)), ("small", 5, (256, 160))):
        written = write_synthetic_spool(tmp_path / name, key, 0.02, seed=seed, frames=True, size=size)
        sizes[written["recording_id"]] = size
    report = export([tmp_path / "big", tmp_path / "small"], tmp_path / "out", OPTIONS, key=key)
    info, data, episodes = check_dataset(tmp_path / "out")
    first = min(sizes)  # recordings are exported in order of id: the first one's first frame sets the size
    w, h = sizes[first]
    assert report["lerobot"]["video_size"] == [w, h]
    assert info["features"][VIDEO]["shape"] == [h, w, 3]
    other = sum(e["length"] for e in episodes.to_pylist() if e["session"] != first[:8])
    assert report["lerobot"]["frames_resized"] == other > 0
    for path in (tmp_path / "out" / "videos").rglob("*.mp4"):
        assert {f.shape for f in decoded_frames(path).values()} == {(h, w, 3)}


def test_odd_sizes_are_padded_to_even_with_the_edge_pixels(tmp_path: Path) -> None:
    writer = lerobot.LeRobotWriter(tmp_path, OPTIONS)
    first = np.random.default_rng(0).integers(0, 256, (201, 321, 3), dtype=np.uint8)
    fitted = writer._fit(first)
    assert fitted.shape == (202, 322, 3) and writer.size == (322, 202)
    assert (fitted[:201, :321] == first).all()
    assert (fitted[201, :321] == first[200]).all() and (fitted[:201, 321] == first[:, 320]).all()
    assert writer._fit(np.zeros((100, 160, 3), np.uint8)).shape == (202, 322, 3)
    assert writer.frames_resized == 1


def test_a_writer_without_episodes_writes_empty_metadata(tmp_path: Path) -> None:
    report = lerobot.LeRobotWriter(tmp_path, OPTIONS).close()
    info = json.loads((tmp_path / "meta/info.json").read_text())
    totals = (info["total_episodes"], info["total_frames"], info["total_tasks"], info["splits"])
    assert totals == (0, 0, 0, {})
    assert pq.read_table(tmp_path / "meta/tasks.parquet").num_rows == 0
    assert report["lerobot"]["frames"] == 0 and not (tmp_path / lerobot.TMP_DIR).exists()
