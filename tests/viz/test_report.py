"""`workscribe stats` through the real CLI on tiny synthetic spools: figures, HTML, errors."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from helpers import run_cli
from workscribe.process.reduce import reduce_actions
from workscribe.spool.reader import Spool
from workscribe.testing.synthetic import write_synthetic_spool
from workscribe.viz.report import Stats, render_html

KEY = bytes(range(32))
MINUTES = 3


@pytest.fixture(scope="module")
def spools(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Two spools of a few simulated minutes: one storing images, one not; and the key file."""
    root = tmp_path_factory.mktemp("stats")
    key_file = root / "spool.key"
    key_file.write_bytes(KEY)
    written = {name: write_synthetic_spool(root / name, KEY, MINUTES / 60, seed, frames, segment_s=60)
               for name, seed, frames in (("with-frames", 0, True), ("no-frames", 1, False))}
    return {"root": root, "key": key_file, "written": written,
            "folders": [root / "with-frames", root / "no-frames"]}


def recount(folders: list[Path]) -> tuple[Counter[str], Counter[str]]:
    """Actions with a frame, by type and by app, straight from the raw events (no episode code)."""
    by_type: Counter[str] = Counter()
    by_app: Counter[str] = Counter()
    for folder in folders:
        spool = Spool(folder, key=KEY)
        for recording in spool.recordings():
            for action in reduce_actions(spool.iter_events(recording)):
                if action["frame_before"] is not None:
                    by_type[action["type"]] += 1
                    by_app[action["app"]] += 1
    return by_type, by_app


def stats_cli(spools: dict, *args: str) -> dict:
    r = run_cli("stats", *map(str, spools["folders"]), "--key", str(spools["key"]), "--json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_stats_agree_with_a_recount_from_the_raw_events(spools: dict) -> None:
    out = stats_cli(spools)
    by_type, by_app = recount(spools["folders"])
    assert out["steps"] == sum(by_type.values()) > 0
    assert {k: n for k, n in out["actions_by_type"].items() if n} == dict(by_type)
    assert out["actions_by_app"] == dict(by_app)
    written = spools["written"]
    # every frame event of the spool with images has its own stored image; the other stores none
    assert out["frames_stored"] == written["with-frames"]["frames"]
    assert [r["frames_stored"] for r in out["per_recording"] if r["recording_id"]
            == written["no-frames"]["recording_id"]] == [0]
    assert out["frames_per_action"] == round(out["frames_stored"] / out["steps"], 3)
    assert out["recordings"] == 2
    assert out["episodes"] == sum(out["cut_reasons"].values()) >= 2
    assert out["episode_steps"]["min"] <= out["episode_steps"]["median"] <= out["episode_steps"]["max"]
    assert out["tasks"]["count"] == sum(out["tasks"]["outcomes"].values())
    assert out["tasks"]["count"] == sum(w["tasks"] for w in written.values())
    assert out["steps_without_frame"] == 0 and out["problems"] == []


def test_html_is_one_self_contained_page_with_a_plot_per_figure_and_the_same_bytes_twice(
        spools: dict, tmp_path: Path) -> None:
    pages = [tmp_path / "a.html", tmp_path / "b.html"]
    out = [stats_cli(spools, "--html", str(p)) for p in pages][0]
    page = pages[0].read_text()
    assert pages[0].read_bytes() == pages[1].read_bytes()
    images = re.findall(r"<img [^>]*>", page)
    assert len(images) == 5
    assert all('src="data:image/png;base64,' in img for img in images)
    headings = re.findall(r"<h2>([^<]+)</h2>", page)
    assert headings == ["Summary", "Actions per type", "Actions per app", "Episode length",
                        "Frames per action", "Cut reasons", "Problems"]
    for figure in ("episodes", "steps", "frames stored", "tasks"):
        value = out[figure]["count"] if figure == "tasks" else out[figure.replace(" ", "_")]
        assert f'<tr><td>{figure}</td><td class="n">{value}</td></tr>' in page
    markup = re.sub(r"base64,[A-Za-z0-9+/=]+", "base64,", page)
    assert not re.search(r"https?:|//|url\(|<script|<link|<iframe", markup, re.I)


def test_bad_folder_is_one_line_and_exit_2(spools: dict, tmp_path: Path) -> None:
    r = run_cli("stats", str(spools["folders"][0]), str(tmp_path / "missing"), "--key", str(spools["key"]))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"Error: {tmp_path / 'missing'}: no such folder"]
    r = run_cli("stats", str(spools["folders"][0]), "--key", str(spools["root"] / "with-frames"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_damaged_segments_are_named_in_warnings_and_the_rest_is_counted(spools: dict, tmp_path: Path) -> None:
    folder = shutil.copytree(spools["folders"][0], tmp_path / "damaged")
    last = sorted(folder.glob("seg-*.wss"))[-1]
    last.write_bytes(last.read_bytes()[:-100])  # torn by a crash
    (folder / "seg-junk.wss").write_bytes(b"not a segment")
    r = run_cli("stats", str(folder), "--key", str(spools["key"]), "--json")
    assert r.returncode == 0, r.stderr
    warnings = r.stderr.strip().splitlines()
    assert any(w.startswith("warning: seg-junk.wss: ") for w in warnings)
    assert any(w.startswith(f"warning: {last.name}: torn record") for w in warnings)
    out = json.loads(r.stdout)
    assert out["segments_skipped"] == 1 and len(out["problems"]) == len(warnings) == 2
    assert out["steps"] > 0


def test_empty_figures_still_render_every_plot() -> None:
    page = render_html(Stats(folders=["empty"]))
    assert page.count("<img ") == 5 and "None: every segment was read whole." in page
