"""The summary a device sends with each upload, the organisation's k-anonymous grouping, and the
portal command's one-line error."""

from __future__ import annotations

import json
import os
from pathlib import Path

from helpers import run_cli
from workscribe.fleet.portal import summarise
from workscribe.fleet.summary import segment_summary
from workscribe.spool.reader import open_segment
from workscribe.testing.synthetic import APPS, write_synthetic_spool


def test_the_summary_holds_counts_and_app_names_only(tmp_path: Path) -> None:
    key = os.urandom(32)
    write_synthetic_spool(tmp_path, key, 0.02, seed=5, segment_s=30)
    for path in sorted(tmp_path.glob("seg-*.wss")):
        summary = segment_summary(path, key)
        events = list(open_segment(path, key).events())
        assert summary["events"] == len(events) > 0
        assert summary["actions"] == sum(e["source"] == "input" and e["kind"] in
                                         ("key_press", "button_press", "scroll") for e in events)
        assert set(summary["apps"]) <= {a[0] for a in APPS}
        assert sum(a["s"] for a in summary["apps"].values()) <= summary["duration_s"] + 0.2
        text = json.dumps(summary)
        assert not any(title in text for _, _, title in APPS)  # no window title
    assert segment_summary(path, os.urandom(32)) == {}  # a wrong key: no summary, the upload goes on


def test_a_group_of_fewer_than_k_contributors_is_counted_never_listed() -> None:
    meta = json.dumps({"duration_s": 3600, "actions": 10, "apps": {"code": {"s": 3600, "actions": 10}}})
    rows = [{"contributor_id": f"c{i}", "team": "big" if i < 5 else "small", "size": 100, "meta": meta}
            for i in range(9)]
    rows.append({"contributor_id": "c0", "team": "big", "size": 1, "meta": json.dumps(
        {"duration_s": 60, "apps": {"solo-app": {"s": 60, "actions": 1}}})})
    out = summarise(rows, k=5)
    assert [g["name"] for g in out["teams"]] == ["big"] and out["hidden"] == {"apps": 1, "teams": 1}
    assert [(g["name"], g["contributors"], g["hours"]) for g in out["apps"]] == [("code", 9, 9.0)]
    assert "solo-app" not in json.dumps(out) and "small" not in json.dumps(out)
    assert not any(f"c{i}" in json.dumps(out) for i in range(9))


def test_portal_needs_an_enrolled_device_and_says_so_in_one_line(tmp_path: Path) -> None:
    r = run_cli("portal", "--json", env={**os.environ, "WORKSCRIBE_HOME": str(tmp_path)})
    assert r.returncode == 1 and r.stderr.startswith("Error: this device is not enrolled")
    assert len(r.stderr.strip().splitlines()) == 1
