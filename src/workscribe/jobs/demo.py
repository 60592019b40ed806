"""The scripted sessions of ``workscribe demo``, each recorded by a real ``workscribe record`` in a private
state folder (never the user's consent) and turned into data.

``terminal_demo``: on Xvfb and openbox, a human-like demonstrator works in a real xterm while the recorder
runs; the recording is summarised, its actions written and drawn on a contact sheet, exported in every
screen format and described in a stats report. ``coding_demo``: a recorder with only the shell, files
and git sources (no display) records a scripted session in a real bash and git repository
(``envs.coding``), exported as ``swe``, ``next-edit`` and ``next-command``; the swe record's edits,
applied to the starting commit, must give the committed tree. ``bc_demo``: the behaviour-cloning loop
at small scale on two MiniWoB++ tasks (``jobs.bc.run_bc``) and its HTML report. ``fleet_demo``: an
organisation's service as a real ``workscribe serve`` process, two enrolled contributors who upload,
a deletion that reaches the service, and central exports byte-identical to local ones (docs/fleet.md).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEMO_TASK = "Type a greeting and tidy up the terminal"
EXPORT_FORMATS = ("hf", "lerobot", "sft")
CODING_FORMATS = ("swe", "next-edit", "next-command")
BC_TASKS = ("click-button", "enter-text")
BC_TIMEOUTS = {"collect": 900, "export": 600, "train": 900, "eval": 1800}
"""Seconds each stage of the small behaviour-cloning loop may take."""
SPOOL_DIR, HOME_DIR = "spool", "home"
"""Folders of a demo's output: the spool, and the demo contributor's own state (consent, key)."""
FLEET_FORMATS = ("hf", "sft")
"""Formats of the fleet demo's central exports (and ``swe`` when the coding session is among the uploads)."""
FLEET_TEAMS = ("engineering", "support")
"""Teams of the fleet demo's two contributors, one invite each."""
SERVICE_DIR, ORG_KEY_FILE = "service", "org.key"
"""The fleet demo's service data folder, and the organisation's private key beside it (not in it)."""


class DemoError(RuntimeError):
    """A recorder under a scripted session failed (one line)."""


def terminal_demo(out: Path, seed: int = 0, status: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Records the scripted xterm session into ``out/spool`` and turns it into data in ``out``.

    Args:
        out: folder for the spool, the demo contributor's state (``out/home``), ``actions.json``,
            ``contact_sheet.png``, ``dataset-FORMAT/`` and ``stats.html``.
        seed: seed of the demonstrator.
        status: called with a line as each step starts.

    Returns:
        The spool, its summary, the recorder's own summary, counts of reduced and performed actions and
        whether their types match, and the paths written (with each export's episodes and steps).

    Raises:
        DisplayError: Xvfb, openbox or the xterm did not start.
        ControlError: the recorder did not become ready or did not answer.
        DemoError: the recorder failed.
    """
    from workscribe import guard, paths
    from workscribe.envs.demonstrator import HumanDemonstrator, demo_session, window_rect
    from workscribe.envs.xdisplay import XDisplay, open_window
    from workscribe.export.driver import ExportOptions, export
    from workscribe.export.source import open_dataset
    from workscribe.process.actions import spool_actions
    from workscribe.process.reduce import ACTION_KEYS
    from workscribe.record.control import request
    from workscribe.record.process import spawn_recorder, wait_until_ready
    from workscribe.spool import crypto
    from workscribe.spool.reader import Spool
    from workscribe.viz.contact_sheet import render_spool_actions
    from workscribe.viz.report import collect_stats, render_html

    say = status or (lambda line: None)
    spool_dir, home = out / SPOOL_DIR, out / HOME_DIR
    if spool_dir.exists():
        for old in spool_dir.glob("seg-*.wss"):
            old.unlink()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    guard.grant(["xterm"], ["input", "screen", "window"], home=home)
    say("starting Xvfb + openbox")
    display = XDisplay().start()
    term = rec = None
    try:
        term, wid = open_window(display.name, "xterm", "-geometry", "100x32+60+40")
        say(f"recording display {display.name} into {spool_dir}")
        rec = spawn_recorder(spool_dir, display.name, home, "--json")
        wait_until_ready(rec, home)
        say("a scripted person works in the xterm (about 15 s)")
        demonstrator = HumanDemonstrator(display.name, seed=seed)
        socket_path = paths.control_socket(home)
        request("task_start", socket_path, args={"title": DEMO_TASK, "ticket": "DEMO-1"})
        demo_session(demonstrator, *window_rect(display.name, wid))
        time.sleep(1.2)  # let the last frame settle
        request("task_end", socket_path, args={"outcome": "success"})
        request("stop", socket_path)
        stdout, stderr = rec.communicate(timeout=30)
        if rec.returncode != 0:
            raise DemoError(f"the recorder failed: {stderr.strip()}")
        recorded = json.loads(stdout)
    finally:
        if rec is not None and rec.poll() is None:
            rec.kill()
            rec.communicate()
        if term is not None:
            term.kill()
            term.wait()
        display.stop()

    key = crypto.load_key(home)
    spool = Spool(spool_dir, key=key)
    summary = spool.summary()
    actions = [{k: a.get(k) for k in ACTION_KEYS} for a in spool_actions(spool)]
    sheet = render_spool_actions(spool, actions, out / "contact_sheet.png")
    (out / "actions.json").write_text(json.dumps(actions, indent=2, ensure_ascii=False))
    exports = {}
    for fmt in EXPORT_FORMATS:
        say(f"exporting the recording as {fmt}")
        report = export([spool_dir], out / f"dataset-{fmt}", ExportOptions(format=fmt), key=key)
        exports[fmt] = {"out": str(out / f"dataset-{fmt}"), "episodes": report["episodes"],
                        "steps": report["steps"]}
    say("writing the stats report")
    report_html = out / "stats.html"
    report_html.write_text(render_html(collect_stats(open_dataset([spool_dir], key)), "workscribe demo"))
    truth_types = [t["type"] for t in demonstrator.truth]
    return {"spool": str(spool_dir), "summary": summary, "recorder": recorded,
            "actions": len(actions), "ground_truth_actions": len(truth_types),
            "types_match_ground_truth": [a["type"] for a in actions] == truth_types,
            "contact_sheet": str(sheet), "actions_json": str(out / "actions.json"), "exports": exports,
            "stats_html": str(report_html)}


def bc_demo(out: Path, episodes: int, eval_episodes: int,
            status: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Collect -> export -> train -> evaluate on ``BC_TASKS`` in ``out`` (replaced), then ``out/report.html``:
    the success per task, the training curve and predicted versus demonstrated actions on frames.

    Args:
        out: folder for every artefact of the loop.
        episodes: demonstrations per task.
        eval_episodes: evaluation episodes per task, on seeds no demonstration used.
        status: called with a line as each stage starts.

    Returns:
        The number of demonstrations, the training time, the evaluation's report and the HTML report's path.

    Raises:
        StageError: a stage failed (``jobs.bc``).
    """
    import shutil

    from workscribe.jobs.bc import run_bc
    from workscribe.viz.bc_report import render_bc_report

    say = status or (lambda line: None)
    shutil.rmtree(out, ignore_errors=True)
    tasks = ",".join(BC_TASKS)
    lines = {"collect": f"behaviour cloning: the demonstrator solves {episodes} episodes of {tasks} "
                        "under the recorder",
             "export": "exporting the demonstrations (hf) and training a policy",
             "eval": f"evaluating on {eval_episodes} unseen seeds per task, beside the baselines"}
    loop = run_bc(out, BC_TASKS, episodes, eval_episodes, timeouts=BC_TIMEOUTS,
                  progress=lambda stage: say(lines[stage]) if stage in lines else None)
    evaluated = loop["eval"]
    report = render_bc_report(out / "model", out / "hf", evaluated, out / "report.html")
    return {"demonstrations": sum(v["episodes"] for v in loop["collect"]["tasks"].values()),
            "train_seconds": loop["train"]["train_seconds"], "eval": evaluated, "report": str(report)}


def coding_demo(out: Path, status: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Records the scripted coding session with the shell, files and git sources into ``out`` (replaced),
    exports it as swe, next-edit and next-command, and replays the swe record's edits onto the starting
    commit.

    Returns:
        Counts of the recorded commands, edits and git events, rows per export, and whether the swe
        records replay (edits and patches) to the committed tree from the commit the session began at.

    Raises:
        DemoError: the recorder failed, did not answer, or the session timed out.
    """
    import shutil

    from workscribe import guard, paths
    from workscribe.envs.coding import (
        GIT_ENV,
        InteractiveShell,
        coding_session,
        make_repo,
        replay_swe,
        tool_calls,
    )
    from workscribe.export.driver import ExportOptions, export
    from workscribe.record.control import ControlError, request
    from workscribe.record.process import spawn_recorder, wait_until_ready
    from workscribe.sources.shell import hook_code, install_init, port_file
    from workscribe.spool import crypto

    say = status or (lambda line: None)
    shutil.rmtree(out, ignore_errors=True)
    home, repo, spool_dir = out / HOME_DIR, out / "repo", out / SPOOL_DIR
    home.mkdir(parents=True, mode=0o700)
    base = make_repo(repo)
    guard.grant([], ["shell", "shell-output", "files", "git"], home=home, repos=[str(repo)])
    say(f"coding work: recording a scripted bash session in the git repository {repo} "
        "(shell, files and git sources; no display)")
    rec = spawn_recorder(spool_dir, None, home, "--json")
    sh = None
    try:
        wait_until_ready(rec, home)
        install_init("bash", port_file(home))
        hook = hook_code("bash", port_file(home), wrap_output=True)
        sh = InteractiveShell("bash", hook, out / "shell-home", repo,
                              env={**GIT_ENV, "WORKSCRIBE_HOME": str(home)})
        session = coding_session(repo, sh)
        time.sleep(1.0)  # the last save and the commit reach the sources
        request("stop", paths.control_socket(home))
        _, stderr = rec.communicate(timeout=30)
        if rec.returncode != 0:
            raise DemoError(f"the recorder failed: {stderr.strip()}")
    except (ControlError, TimeoutError) as exc:
        raise DemoError(f"the coding demo failed: {exc}") from None
    finally:
        if sh is not None:
            sh.close()
        if rec.poll() is None:
            rec.kill()
            rec.communicate()
    key = crypto.load_key(home)
    exports = {}
    for fmt in CODING_FORMATS:
        say(f"exporting the coding session as {fmt}")
        report = export([spool_dir], out / f"dataset-{fmt}", ExportOptions(format=fmt), key=key)
        exports[fmt] = sum(report["rows"].values())
    swe_file = out / "dataset-swe" / "data" / "train.jsonl"
    records = [json.loads(line) for line in swe_file.read_text().splitlines()]
    calls = [c for r in records for c in tool_calls(r)]
    replayed = [replay_swe(repo, r, session["commit"], out / f"replay-{n}") for n, r in enumerate(records)]
    return {"out": str(out), "commands": sum(c["function"]["name"] == "bash" for c in calls),
            "edits": sum(c["function"]["name"] == "edit" for c in calls),
            "git": sum(len(json.loads(r["git"] or "[]")) for r in records), "exports": exports,
            "replays": bool(replayed) and all(r["edits"] for r in replayed)
            and all(r["base"]["hash"] == base for r in records),  # from the commit the session began at
            "patch_replays": bool(replayed) and all(r["patch"] for r in replayed)}


@dataclass
class _Contributor:
    """One of the fleet demo's contributors: a private state folder, a spool and what it holds."""

    folder: Path  # its device: the state folder HOME_DIR and the spool SPOOL_DIR
    team: str  # the team of its invite
    source: str  # where its recordings come from: "coding demo" or "synthetic"
    id: str = ""  # the consent's pseudonym, as every segment header carries it
    key: bytes = b""  # its spool key
    recordings: list[str] = field(default_factory=list)  # recording ids, in the order they were made

    @property
    def home(self) -> Path:
        """Its private state folder (consent, keys, enrolment), as ``$WORKSCRIBE_HOME`` would be."""
        return self.folder / HOME_DIR

    @property
    def spool(self) -> Path:
        """Its spool."""
        return self.folder / SPOOL_DIR


def fleet_demo(out: Path, status: Callable[[str], None] | None = None,
               coding: Path | None = None) -> dict[str, Any]:
    """An organisation's fleet on one machine, in ``out`` (replaced): ``org init`` (the private key in
    ``out/org.key``, outside the data folder ``out/service``), ``workscribe serve --port 0`` as its own
    process, two contributors of different teams who consent to uploads, enrol and upload everything,
    one of them deleting a recording (``delete_everywhere``, as ``workscribe delete`` does), and central
    exports from the store with the organisation's key (``out/dataset-FORMAT``), compared byte for byte
    with local exports of the same spools. The service is stopped however this ends.

    The contributors' recordings: the first contributor is the coding demo's, when ``coding`` names its
    output of this run (a real recording made without a display): its state (device key, spool key,
    consent) and spool are *copied* into ``out/contributor-1``, so the coding demo's folder stays as it
    was and this step can run again. The terminal demo's recording is not used: the deletion would have
    to take it from ``out/spool``, which the demo shows. The second contributor, and the first when
    there is no coding session, record synthetic work (``testing.synthetic``, with frames, in the real
    segment format, sealed with the contributor's own spool key and carrying its pseudonym): the second
    needs two recordings, one to delete and one to keep, and no display is needed.

    Args:
        out: folder for the service, the organisation's key, the contributors' state and spools, the
            service's access log (``serve.log``) and the central exports.
        status: called with a line as each step starts.
        coding: the coding demo's output folder (``home/``, ``spool/``), or None.

    Returns:
        The service, the contributors (pseudonym, team, where the recordings come from, recordings,
        segments and bytes stored), the totals uploaded, the deletion (recording, segments, objects
        removed, tombstone, whether it reached the service) and, per export format, its episodes, steps
        and recordings, whether it is byte-identical to the local export and whether the deleted recording
        is absent; ``byte_identical`` and ``deleted_absent`` over every format.

    Raises:
        DemoError: the service did not start, or setting up, uploading, deleting or exporting failed.
    """
    import shutil

    from workscribe.export.formats import ExportError
    from workscribe.fleet.central import CentralError
    from workscribe.fleet.client import FleetClientError
    from workscribe.fleet.config import FleetConfigError, ServiceUnreachable
    from workscribe.fleet.org import OrgError, init_org
    from workscribe.spool.reader import SpoolReadError

    say = status or (lambda line: None)
    out = Path(out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, mode=0o700)
    data, private_key, log = out / SERVICE_DIR, out / ORG_KEY_FILE, out / "serve.log"
    people = [_Contributor(out / "contributor-1", FLEET_TEAMS[0], "coding demo" if coding else "synthetic"),
              _Contributor(out / "contributor-2", FLEET_TEAMS[1], "synthetic")]
    try:
        say(f"fleet: an organisation's service in {data} (its private key kept apart, in {private_key})")
        init_org(data, private_key)
        first, second = people
        if coding is not None:
            _copy_contributor(coding, first)
        else:
            _synthetic_contributor(first, seeds=(20,))
        _synthetic_contributor(second, seeds=(30, 31))  # one recording to delete, one to keep
        with serving(data, log) as url:
            uploads = []
            for person in people:
                say(f"fleet: contributor {person.id} ({person.team}, {person.source} work) consents to "
                    f"uploads, enrols with {url} and uploads")
                uploads.append(_enrol_and_upload(url, data, person))
            victim = people[-1]
            gone = victim.recordings[0]
            say(f"fleet: contributor {victim.id} deletes recording {gone[:8]} on the device and the service")
            deletion = _delete_and_check(data, victim, gone)
        say("fleet: the service is stopped; building central exports from its store with the "
            "organisation's private key")
        formats = FLEET_FORMATS + (("swe",) if coding else ())
        exports = _central_exports(out, data, private_key, people, gone, formats)
    except (FleetClientError, OrgError, CentralError, ExportError, SpoolReadError, FleetConfigError,
            ServiceUnreachable, OSError) as exc:
        raise DemoError(f"the fleet demo failed: {exc}") from None
    stored = _stored(data)
    contributors = [{"id": p.id, "team": p.team, "source": p.source, "folder": str(p.folder),
                     "recordings": p.recordings, "uploaded": u["uploaded"],
                     **stored.get(p.id, {"segments": 0, "bytes": 0})}
                    for p, u in zip(people, uploads, strict=True)]
    return {"out": str(out),
            "service": {"url": url, "data": str(data), "private_key": str(private_key), "log": str(log)},
            "contributors": contributors,
            "segments_uploaded": sum(u["uploaded"] for u in uploads),
            "bytes_uploaded": sum(c["bytes"] for c in contributors) + deletion["bytes"],
            "deleted": deletion, "exports": exports,
            "byte_identical": all(e["byte_identical"] for e in exports.values()),
            "deleted_absent": all(e["deleted_absent"] for e in exports.values())}


@contextmanager
def serving(data: Path, log: Path) -> Iterator[str]:
    """``workscribe serve --data DATA --port 0`` as its own process (``fleet.child.serve_child``) until the
    block ends, however it ends; yields the URL it printed.

    Raises:
        DemoError: it printed no address in time (with the last line of its log).
    """
    from workscribe.fleet.child import ServeError, serve_child

    try:
        with serve_child(data, log) as served:
            yield served.url
    except ServeError as exc:
        raise DemoError(str(exc)) from None


def _copy_contributor(coding: Path, person: _Contributor) -> None:
    """The coding demo's contributor: a copy of its state (device key, spool key, consent) and spool."""
    import shutil

    from workscribe import guard
    from workscribe.spool import crypto
    from workscribe.spool.reader import Spool

    person.folder.mkdir(mode=0o700)
    person.home.mkdir(mode=0o700)
    for name in (guard.DEVICE_KEY_FILE, crypto.KEY_FILE, guard.CONSENT_FILE):
        shutil.copy2(coding / HOME_DIR / name, person.home / name)  # owner-only, as they were
    shutil.copytree(coding / SPOOL_DIR, person.spool, ignore=shutil.ignore_patterns(".lock"))
    person.key = crypto.load_or_create_key(person.home)
    person.id = guard.require(person.home).contributor_id
    person.recordings = sorted({s[0].header["recording_id"]
                                for s in Spool(person.spool, key=person.key).recordings()})


def _synthetic_contributor(person: _Contributor, seeds: tuple[int, ...]) -> None:
    """A contributor who consents to the synthetic apps and records one synthetic recording per seed."""
    from workscribe import guard
    from workscribe.spool import crypto
    from workscribe.testing.synthetic import APPS, write_synthetic_spool

    person.folder.mkdir(mode=0o700)
    person.home.mkdir(mode=0o700)
    consent = guard.grant([app for app, _, _ in APPS], ["input", "screen", "window"], home=person.home)
    person.id, person.key = consent.contributor_id, crypto.load_or_create_key(person.home)
    person.recordings = [write_synthetic_spool(person.spool, person.key, 0.01, seed=seed, frames=True,
                                               segment_s=15, contributor=person.id)["recording_id"]
                         for seed in seeds]


def _enrol_and_upload(url: str, data: Path, person: _Contributor) -> dict[str, Any]:
    """As the contributor would: ``enroll`` with an invite of its team, ``consent grant ... --upload``
    (the same scope, now with uploads to the service), ``upload``. Everything must be stored."""
    from workscribe import guard
    from workscribe.fleet import client
    from workscribe.fleet.org import invite

    consent = guard.require(person.home)
    device = client.enroll(url, invite(data, person.team), consent.contributor_id, person.home)
    guard.grant(consent.apps, consent.sources, consent.retention_days, home=person.home,
                sites=consent.sites, repos=consent.repos, upload=device.url)
    if not guard.require(person.home).upload:
        raise DemoError(f"contributor {person.id}: the consent does not allow uploads")
    result = client.upload_pending(person.spool, person.home, spool_key=person.key)
    if result["failed"] or result["pending"] or result["unreachable"] or not result["uploaded"]:
        why = "; ".join(result["errors"]) or f"{result['pending']} pending"
        raise DemoError(f"contributor {person.id}: the upload did not finish ({why})")
    return result


def _delete_and_check(data: Path, person: _Contributor, recording_id: str) -> dict[str, Any]:
    """Deletes ``recording_id`` as ``workscribe delete`` does, then looks in the service's catalog (the
    tombstone, the rows' keys shredded) and store (its objects gone, every other object still there)."""
    import sqlalchemy as sa

    from workscribe.fleet import client
    from workscribe.fleet.catalog import segments, tombstones
    from workscribe.fleet.config import open_store
    from workscribe.fleet.org import open_catalog

    def rows() -> list[Any]:
        catalog = open_catalog(data)
        try:
            with catalog.engine.connect() as conn:
                return list(conn.execute(sa.select(segments.c.sha256, segments.c.recording_id,
                                                   segments.c.size, segments.c.wrapped_data_key,
                                                   segments.c.meta, segments.c.deleted_at)))
        finally:
            catalog.close()

    before = rows()
    mine = [r for r in before if r.recording_id == recording_id]
    others = [r.sha256 for r in before if r.recording_id != recording_id]
    done = client.delete_everywhere(person.spool, [recording_id], reason="contributor request",
                                    home=person.home)
    catalog = open_catalog(data)
    try:
        with catalog.engine.connect() as conn:
            stone = conn.execute(sa.select(tombstones.c.at).where(
                tombstones.c.recording_id == recording_id,
                tombstones.c.contributor_id == person.id)).first() is not None
    finally:
        catalog.close()
    after = [r for r in rows() if r.recording_id == recording_id]
    shredded = bool(after) and all(r.wrapped_data_key is None and r.meta is None and r.deleted_at is not None
                                   for r in after)
    store = open_store(data)
    removed = sum(not store.exists(r.sha256) for r in mine)
    kept = all(store.exists(sha) for sha in others)
    service = done["service"] or {}
    return {"recording_id": recording_id, "contributor_id": person.id,
            "local_files_deleted": len(done["deleted_files"]), "segments": len(mine),
            "bytes": sum(r.size for r in mine), "objects_removed": removed, "tombstone": stone,
            "keys_shredded": shredded, "other_objects_kept": kept,
            "reached_service": (service.get("deleted") == 1 and stone and shredded and bool(mine)
                                and removed == len(mine) and kept)}


def _stored(data: Path) -> dict[str, dict[str, int]]:
    """Segments and bytes the service holds (not deleted) per contributor."""
    import sqlalchemy as sa

    from workscribe.fleet.catalog import segments
    from workscribe.fleet.org import open_catalog

    catalog = open_catalog(data)
    try:
        with catalog.engine.connect() as conn:
            found = conn.execute(
                sa.select(segments.c.contributor_id, sa.func.count(), sa.func.sum(segments.c.size))
                .where(segments.c.deleted_at.is_(None)).group_by(segments.c.contributor_id))
            return {cid: {"segments": int(n), "bytes": int(size or 0)} for cid, n, size in found}
    finally:
        catalog.close()


def _central_exports(out: Path, data: Path, private_key: Path, people: list[_Contributor], deleted: str,
                     formats: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``workscribe export --server DATA --private-key KEY`` in each format into ``out/dataset-FORMAT``,
    each compared file by file with the local export of the contributors' spools (in a temporary folder,
    removed after): the same files, byte for byte, and none mentions the deleted recording."""
    import tempfile

    from workscribe.export.driver import ExportOptions, export
    from workscribe.fleet.central import central_view

    local_order = sorted(people, key=lambda p: p.id)  # the central view's folders are by contributor id
    kept = [r for p in people for r in p.recordings if r != deleted]
    exports = {}
    with central_view(data, private_key) as view, \
            tempfile.TemporaryDirectory(prefix="local-exports-", dir=out) as tmp:
        for fmt in formats:
            central_out, local_out = out / f"dataset-{fmt}", Path(tmp) / fmt
            report = export(view.folders, central_out, ExportOptions(format=fmt), key=view.keys[0],
                            keys=view.keys)
            export([p.spool for p in local_order], local_out, ExportOptions(format=fmt),
                   key=local_order[0].key, keys=[p.key for p in local_order[1:]])
            central_files = _digests(central_out)
            exports[fmt] = {"out": str(central_out), "episodes": report["episodes"], "steps": report["steps"],
                            "recordings": report["recordings"], "files": len(central_files),
                            "byte_identical": bool(central_files) and central_files == _digests(local_out),
                            "deleted_absent": not _mentions(central_out, deleted[:8]),
                            "kept_recordings_in_it": sum(_mentions(central_out, r[:8]) for r in kept),
                            "problems": view.problems}
    return exports


def _digests(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` by its relative path: its SHA-256."""
    import hashlib

    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _mentions(folder: Path, text: str) -> bool:
    """True if a file under ``folder`` holds ``text`` (a recording's session id) in its bytes."""
    needle = text.encode()
    return any(needle in p.read_bytes() for p in folder.rglob("*") if p.is_file())
