"""`workscribe bench fleet` at a small size: its figures add up against the service it measured, and a
fresh upload asks the service nothing before sending (no status GET), while a resumed one does."""

from __future__ import annotations

import json
import os
from pathlib import Path

from fleetkit import FleetServer
from helpers import run_cli
from workscribe.fleet import client
from workscribe.spool import crypto
from workscribe.spool import format as fmt
from workscribe.spool.reader import Spool
from workscribe.testing.synthetic import write_synthetic_spool


def test_bench_fleet_reports_every_segment_stored_once(tmp_path: Path) -> None:
    plot = tmp_path / "fleet.png"
    r = run_cli("bench", "fleet", "--devices", "3", "--hours", "0.25", "--mb-per-hour", "4", "--segment-s",
                "120", "--plot", str(plot), "--json", timeout=600)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["devices"] == 3
    assert result["segments"] >= 3 * 7  # 15 minutes of work cut every 2 minutes, per device
    assert result["uploaded"] == result["segments"] == result["objects"]
    assert (result["lost"], result["duplicated"], result["failed"], result["pending"]) == (0, 0, 0, 0)
    assert result["objects_bad_hash"] == 0 and result["responses_5xx"] == 0
    # 4 MB per hour of work: a quarter hour is about 1 MB per device, in segments of about 70 kB
    assert 2.0 < result["mb"] < 5.0
    assert result["mb_per_s"] > 0 and result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]
    service = result["service"]
    assert 10 < service["rss_mb_start"] <= service["rss_mb_peak"]
    assert service["trace"][-1]["segments"] == result["segments"]
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_bench_fleet_refuses_bad_figures_in_one_line() -> None:
    r = run_cli("bench", "fleet", "--devices", "0", "--json")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "--devices" in r.stderr


def test_synthetic_screen_bytes_make_segments_of_a_recording_size(tmp_path: Path) -> None:
    key = os.urandom(32)
    made = write_synthetic_spool(tmp_path / "s", key, 0.5, seed=3, screen_bytes_per_s=10e6 / 3600)
    size = sum(p.stat().st_size for p in (tmp_path / "s").glob(fmt.SEGMENT_GLOB))
    assert 4.5e6 < size < 6.5e6  # half an hour at 10 MB/h, plus the events
    spool = Spool(tmp_path / "s", key)
    assert {seg.header["codec"] for seg in spool.segments} == {"synthetic-noise"}
    assert made["frames"] > 100 and len(spool.segments) == made["segments"]


def test_a_fresh_upload_sends_at_once_and_a_resumed_one_asks_first(fleet: FleetServer, tmp_path: Path
                                                                    ) -> None:
    home = tmp_path / "device"
    home.mkdir()
    write_synthetic_spool(home / "spool", crypto.load_or_create_key(home), 0.02, seed=5,
                          contributor="00000000000000aa", segment_s=20)
    client.enroll(fleet.url, fleet.invite(), "00000000000000aa", home)
    names = sorted(p.name for p in (home / "spool").glob(fmt.SEGMENT_GLOB))
    staged = client.stage_pending(home / "spool", home)  # staged in an earlier run: status asked first
    assert staged["staged"] == len(names) and staged["failed"] == 0
    assert "fresh" not in (home / "fleet" / "uploads.json").read_text()
    first = client.upload_pending(home / "spool", home)
    assert first["uploaded"] == len(names)

    def gets() -> int:
        lines = [json.loads(line) for line in fleet.log.read_text().splitlines() if line.startswith("{")]
        return sum(1 for x in lines if x["method"] == "GET" and x["path"] == "/v1/uploads/{sha256}")

    assert gets() == len(names)
    more = tmp_path / "more"
    write_synthetic_spool(more, crypto.load_key(home), 0.01, seed=6, contributor="00000000000000aa",
                          segment_s=20)
    for p in more.glob(fmt.SEGMENT_GLOB):
        p.rename(home / "spool" / p.name)
    second = client.upload_pending(home / "spool", home)  # staged and sent in this run: no GET
    assert second["uploaded"] >= 1
    assert gets() == len(names)
