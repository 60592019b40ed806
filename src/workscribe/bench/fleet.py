"""``workscribe bench fleet``: many devices uploading to one service at once, on loopback.

A real organisation (``org init``) and a real ``workscribe serve`` process; ``devices`` enrolled
devices, each with its own home, spool key and contributor key, and a synthetic spool of ``hours`` of
work whose segments are the size a recording's would be (``mb_per_hour``: the events of the synthetic
spool plus random bytes standing in for the video, which is incompressible too). Before the clock
starts, every device re-seals its segments into its outbox (``client.stage_pending``): on a real fleet
each device does that on its own CPU, so the clock measures the service and the network path, not 20
devices' encryption sharing this machine's cores. Then all devices upload at once, each in a thread
running the real ``client.upload_pending``.

Measured: segments and MB per second stored (first request to last answer), each segment's upload
latency (its ``GET``, ``PUT`` chunks and commit, as the device sees them), the service's CPU (of one
core) and resident memory sampled over the run against the number of segments stored, requests
answered with a 5xx (from the access log), and afterwards, from the catalog and the store: segments
lost (on a device, not catalogued for its contributor) and duplicated (catalogued twice), and objects
whose bytes do not hash to their name.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_EVERY_S = 0.25


class BenchError(RuntimeError):
    """The benchmark could not run (one line)."""


def _proc_sample(pid: int) -> tuple[float, int]:
    """CPU seconds used so far and resident bytes of process ``pid`` (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
    return cpu, rss


def _device_spool(home: str, contributor: str, hours: float, mb_per_hour: float, segment_s: float,
                  seed: int) -> int:
    """Writes one device's synthetic spool (in a worker process); returns its segment count."""
    from workscribe.spool import crypto
    from workscribe.testing.synthetic import write_synthetic_spool

    Path(home).mkdir(parents=True, mode=0o700)
    key = crypto.load_or_create_key(Path(home))
    made = write_synthetic_spool(Path(home) / "spool", key, hours, seed=seed, segment_s=segment_s,
                                 contributor=contributor, screen_bytes_per_s=mb_per_hour * 1e6 / 3600)
    return int(made["segments"])


def _stage(home: str) -> dict[str, Any]:
    from workscribe.fleet import client

    return client.stage_pending(Path(home) / "spool", Path(home))


def _statuses(log: Path) -> dict[str, int]:
    """Requests the service answered, by status, from its access log."""
    counts: dict[str, int] = {}
    for line in log.read_text().splitlines():
        try:
            status = str(json.loads(line)["status"])
        except (ValueError, KeyError, TypeError):
            continue
        counts[status] = counts.get(status, 0) + 1
    return counts


class Sampler:
    """Samples a process's CPU and memory, and a counter, every ``SAMPLE_EVERY_S`` in a thread."""

    def __init__(self, pid: int, count: Callable[[], int]) -> None:
        self.pid, self.count = pid, count
        self.samples: list[tuple[float, float, int, int]] = []  # (t, cpu_s, rss, count)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _take(self) -> None:
        try:
            cpu, rss = _proc_sample(self.pid)
        except OSError:
            return
        self.samples.append((time.monotonic(), cpu, rss, self.count()))

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY_S):
            self._take()

    def __enter__(self) -> Sampler:
        self._take()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._take()


def bench_fleet(devices: int = 20, hours: float = 2.0, mb_per_hour: float = 20.0, segment_s: float = 300.0,
                seed: int = 0, workdir: Path | None = None,
                progress: Callable[[str, float, float], None] | None = None) -> dict[str, Any]:
    """Runs the fleet benchmark (see the module docstring) in ``workdir`` (default: a temporary folder,
    removed after).

    Args:
        progress: called with ``(phase, done, total)``: ``spools``, ``staging``, ``uploading`` (bytes).

    Raises:
        BenchError: the service did not start or a device could not enrol.
    """
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="workscribe-bench-fleet-") as tmp:
            return bench_fleet(devices, hours, mb_per_hour, segment_s, seed, Path(tmp), progress)
    from workscribe.fleet import client, org
    from workscribe.fleet.catalog import segments as segments_table
    from workscribe.fleet.child import ServeError, serve_child
    from workscribe.spool.format import SEGMENT_GLOB

    note = progress or (lambda phase, done, total: None)
    root = Path(workdir)
    data, homes = root / "service", [root / f"device-{i:03d}" for i in range(devices)]
    made = org.init_org(data, root / "org.key")
    contributors = [hashlib.sha256(f"{seed}-{i}".encode()).hexdigest()[:16] for i in range(devices)]
    workers = max(1, os.cpu_count() or 1)
    with ProcessPoolExecutor(workers) as pool:
        futures = [pool.submit(_device_spool, str(h), c, hours, mb_per_hour, segment_s, seed * 10_000 + i)
                   for i, (h, c) in enumerate(zip(homes, contributors, strict=True))]
        for n, future in enumerate(futures):
            future.result()
            note("spools", n + 1, devices)

    log = root / "access.log"
    try:
        with serve_child(data, log) as service:
            for i, (home, contributor) in enumerate(zip(homes, contributors, strict=True)):
                try:
                    client.enroll(service.url, org.invite(data, f"team-{i % 3}"), contributor, home)
                except client.FleetClientError as exc:
                    raise BenchError(f"a device could not enrol: {exc}") from None
            started = time.monotonic()
            with ProcessPoolExecutor(workers) as pool:
                staged = []
                for n, answer in enumerate(pool.map(_stage, [str(h) for h in homes])):
                    staged.append(answer)
                    note("staging", n + 1, devices)
            stage_s = time.monotonic() - started
            total_bytes = sum(s["bytes"] for s in staged)
            total_segments = sum(s["staged"] for s in staged)

            done = {"segments": 0, "bytes": 0}
            latencies: list[float] = []
            lock = threading.Lock()

            def upload(home: Path) -> dict[str, Any]:
                sizes = {name: e["size"] for name, e in json.loads(
                    (home / "fleet" / "uploads.json").read_text()).items()}
                order = sorted(sizes)
                last = [time.monotonic(), -1]

                def tick(phase: str, n: int, total: int) -> None:
                    now = time.monotonic()
                    if last[1] >= 0:
                        with lock:
                            latencies.append(now - last[0])
                            done["segments"] += 1
                            done["bytes"] += sizes.get(order[last[1]], 0) if last[1] < len(order) else 0
                        note("uploading", done["bytes"], total_bytes)
                    last[0], last[1] = now, n if n < total else -1

                return client.upload_pending(home / "spool", home, progress=tick)

            with Sampler(service.pid, lambda: done["segments"]) as sampler:
                usage = resource.getrusage(resource.RUSAGE_SELF)
                t0 = time.monotonic()
                with ThreadPoolExecutor(devices) as threads:
                    results = list(threads.map(upload, homes))
                seconds = time.monotonic() - t0
                usage_after = resource.getrusage(resource.RUSAGE_SELF)
            statuses = _statuses(log)
    except ServeError as exc:
        raise BenchError(str(exc)) from None

    # what the service holds, from its catalog and its store
    catalog = org.open_catalog(data)
    with catalog.begin() as conn:
        rows = conn.execute(segments_table.select().with_only_columns(
            segments_table.c.sha256, segments_table.c.contributor_id, segments_table.c.name)).all()
    catalog.close()
    stored: dict[tuple[str, str], int] = {}
    for _, contributor, name in rows:
        stored[(contributor, name)] = stored.get((contributor, name), 0) + 1
    expected = {(c, p.name) for h, c in zip(homes, contributors, strict=True)
                for p in (h / "spool").glob(SEGMENT_GLOB)}
    objects = sorted((data / "objects").glob("*/*"))
    bad_hash = sum(1 for p in objects if client.file_sha256(p) != p.name)

    samples = sampler.samples
    cpu_s = samples[-1][1] - samples[0][1]
    rss = np.array([s[2] for s in samples], dtype=float) / 1e6
    counts = np.array([s[3] for s in samples], dtype=float)
    # flat or not: the fit over the samples after the first quarter of the segments (the service's thread
    # pool and connections are warm by then), in MB per 1000 segments stored
    warm = counts >= counts[-1] / 4
    slope = (float(np.polyfit(counts[warm], rss[warm], 1)[0] * 1000)
             if len(set(counts[warm].tolist())) > 2 else None)
    lat = np.array(latencies) * 1000 if latencies else np.zeros(1)
    client_cpu = (usage_after.ru_utime + usage_after.ru_stime) - (usage.ru_utime + usage.ru_stime)
    return {
        "devices": devices, "hours_per_device": hours, "mb_per_hour": mb_per_hour, "segment_s": segment_s,
        "segments": total_segments, "mb": round(total_bytes / 1e6, 1),
        "segment_mb_mean": round(total_bytes / max(1, total_segments) / 1e6, 3),
        "stage_seconds": round(stage_s, 1),
        "seconds": round(seconds, 2),
        "segments_per_s": round(done["segments"] / seconds, 1),
        "mb_per_s": round(done["bytes"] / 1e6 / seconds, 1),
        "latency_ms": {"p50": round(float(np.percentile(lat, 50)), 1),
                       "p99": round(float(np.percentile(lat, 99)), 1), "max": round(float(lat.max()), 1)},
        "uploaded": sum(r["uploaded"] for r in results), "pending": sum(r["pending"] for r in results),
        "failed": sum(r["failed"] for r in results),
        "lost": len(expected - set(stored)), "duplicated": sum(n - 1 for n in stored.values() if n > 1),
        "objects": len(objects), "objects_bad_hash": bad_hash,
        "responses_5xx": sum(n for s, n in statuses.items() if s.startswith("5")),
        "requests": sum(statuses.values()),
        "service": {"cpu_percent": round(100 * cpu_s / max(1e-9, samples[-1][0] - samples[0][0]), 1),
                    "rss_mb_start": round(float(rss[0]), 1), "rss_mb_peak": round(float(rss.max()), 1),
                    "rss_mb_end": round(float(rss[-1]), 1),
                    "rss_mb_at_quarter": round(float(rss[warm][0]), 1) if warm.any() else None,
                    "rss_mb_per_1000_segments_after_quarter": None if slope is None else round(slope, 2),
                    "trace": _trace(samples)},
        "devices_cpu_percent": round(100 * client_cpu / seconds, 1),
        "cores": os.cpu_count(),
        "org_id": made["org_id"],
    }


def _trace(samples: list[tuple[float, float, int, int]], points: int = 40) -> list[dict[str, float]]:
    """At most ``points`` samples, evenly spaced: seconds, the service's CPU seconds and MB, segments."""
    step = max(1, len(samples) // points)
    t0, c0 = samples[0][0], samples[0][1]
    picked = samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else [])
    return [{"s": round(t - t0, 2), "cpu_s": round(c - c0, 2), "rss_mb": round(r / 1e6, 1), "segments": n}
            for t, c, r, n in picked]


def plot(result: dict[str, Any]) -> bytes:
    """A PNG of a run: MB stored over time, and the service's memory against the segments stored."""
    from workscribe.viz.plotting import figure, png

    trace = result["service"]["trace"]
    fig = figure(8)
    left, right = fig.subplots(1, 2)
    seconds = [p["s"] for p in trace]
    mb = [p["segments"] * result["segment_mb_mean"] for p in trace]
    left.plot(seconds, mb)
    left.set_xlabel("seconds")
    left.set_ylabel("MB stored (approx.)")
    left.set_title(f"{result['devices']} devices: {result['mb_per_s']} MB/s")
    right.plot([p["segments"] for p in trace], [p["rss_mb"] for p in trace])
    right.set_xlabel("segments stored")
    right.set_ylabel("service resident MB")
    right.set_ylim(bottom=0)
    right.set_title("service memory")
    return png(fig)
