"""The portal in a real (headless) Chromium against a real `workscribe serve`: a contributor sees and
deletes only their own sessions and pauses uploads; the organisation sees groups of five or more
contributors only, and no route gives the admin one contributor's rows."""

from __future__ import annotations

import json
import os
import re
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from fleetkit import FleetServer
from helpers import run_cli
from workscribe.fleet import client
from workscribe.spool import crypto
from workscribe.testing import synthetic

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
pytestmark = pytest.mark.skipif(not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
                                reason="needs /usr/bin/chromium and /usr/bin/chromedriver")


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    """A headless Chromium driven by chromedriver; quit after the test."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _one_app(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Synthetic work in one app only (the generator switches between two entries of the same app)."""
    monkeypatch.setattr(synthetic, "APPS", ((name, name.title(), f"{name} window"),) * 2)


def _device(fleet: FleetServer, home: Path, team: str = "default") -> client.Device:
    home.mkdir(parents=True)
    return client.enroll(fleet.url, fleet.invite(team), secrets.token_hex(8), home)


def _record(home: Path, contributor: str, seed: int) -> str:
    """A new closed recording in the device's spool; its id."""
    made = synthetic.write_synthetic_spool(home / "spool", crypto.load_or_create_key(home), 0.005, seed=seed,
                                           contributor=contributor, segment_s=20)
    return made["recording_id"]


def _submit(browser: webdriver.Chrome, button: WebElement) -> None:
    """Clicks a form's button and waits for the page the form's answer redirects to."""
    page = browser.find_element(By.TAG_NAME, "html")
    button.click()
    WebDriverWait(browser, 60).until(expected_conditions.staleness_of(page))


def _rows(fleet: FleetServer, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(fleet.data / "catalog.sqlite") as db:
        return db.execute(sql, args).fetchall()


def _shown(browser: webdriver.Chrome) -> set[str]:
    rows = browser.find_elements(By.CSS_SELECTOR, "tr.recording")
    return {row.get_attribute("data-recording") for row in rows}


def test_a_contributor_sees_deletes_and_pauses_only_their_own_uploads(
        fleet: FleetServer, tmp_path: Path, browser: webdriver.Chrome,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _one_app(monkeypatch, "xterm")
    home_a, home_b = tmp_path / "a", tmp_path / "b"
    a, b = _device(fleet, home_a), _device(fleet, home_b)
    recs_a = {_record(home_a, a.contributor_id, 1), _record(home_a, a.contributor_id, 2)}
    rec_b = _record(home_b, b.contributor_id, 3)
    for home in (home_a, home_b):
        result = client.upload_pending(home / "spool", home)
        assert result["failed"] == 0 and result["uploaded"] > 0 and "paused" not in result
    metas = [json.loads(m) for (m,) in _rows(fleet, "select meta from segments where contributor_id = ?",
                                              a.contributor_id)]
    assert all(m["v"] == 1 and set(m["apps"]) <= {"xterm"} and m["duration_s"] > 0 for m in metas)
    assert not any("title" in json.dumps(m) or "window" in json.dumps(m) for m in metas)  # no text sent

    r = run_cli("portal", "--json", env={**os.environ, "WORKSCRIBE_HOME": str(home_a)})
    assert r.returncode == 0, r.stderr
    link = json.loads(r.stdout)["url"]
    assert link.startswith(f"{fleet.url}/portal/open/wsp_")
    browser.get(link)
    assert browser.current_url == f"{fleet.url}/portal"
    assert _shown(browser) == recs_a and rec_b not in browser.page_source
    assert "xterm" in browser.page_source
    cookie = browser.get_cookie("ws_portal")
    assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Strict"

    with httpx.Client(base_url=fleet.url) as http:
        assert http.get(link.removeprefix(fleet.url)).status_code == 404  # the link works once
        assert http.get("/portal").status_code == 401  # no session without the link
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', browser.page_source).group(1)
    with httpx.Client(base_url=fleet.url, cookies={"ws_portal": cookie["value"]}) as http:
        other = http.post(f"/portal/recordings/{rec_b}/delete", data={"csrf": csrf})
        assert other.status_code == 404  # another contributor's session: not found for this one
        forged = http.post(f"/portal/recordings/{sorted(recs_a)[0]}/delete", data={"csrf": "0" * 32})
        assert forged.status_code == 403
    assert _rows(fleet, "select count(*) from segments where recording_id = ? and deleted_at is null",
                 rec_b) != [(0,)]

    # the delete button removes the session: catalog rows deleted, keys shredded, objects gone
    gone = sorted(recs_a)[0]
    shas = [s for (s,) in _rows(fleet, "select sha256 from segments where recording_id = ?", gone)]
    assert shas and all((fleet.data / "objects" / s[:2] / s).exists() for s in shas)
    _submit(browser, browser.find_element(By.CSS_SELECTOR, f'tr[data-recording="{gone}"] button.delete'))
    assert _shown(browser) == recs_a - {gone}
    assert _rows(fleet, "select count(*) from segments where recording_id = ? and (deleted_at is null "
                 "or wrapped_data_key is not null or meta is not null)", gone) == [(0,)]
    assert not any((fleet.data / "objects" / s[:2] / s).exists() for s in shas)

    # pause: the client's next upload sends nothing and says so; resume: it goes on
    _submit(browser, browser.find_element(By.ID, "pause"))
    assert browser.find_element(By.ID, "upload-state").text.startswith("paused")
    later = _record(home_a, a.contributor_id, 4)
    before = _rows(fleet, "select count(*) from segments")
    result = client.upload_pending(home_a / "spool", home_a)
    assert result["paused"] is True and result["uploaded"] == 0 and result["pending"] > 0
    assert _rows(fleet, "select count(*) from segments") == before
    assert later not in {r for (r,) in _rows(fleet, "select recording_id from segments")}
    _submit(browser, browser.find_element(By.ID, "pause"))
    assert browser.find_element(By.ID, "upload-state").text == "on"
    result = client.upload_pending(home_a / "spool", home_a)
    assert result["uploaded"] > 0 and "paused" not in result
    browser.refresh()
    assert later in _shown(browser)


def test_the_organisation_sees_groups_of_five_or_more_and_no_one_contributor(
        fleet: FleetServer, tmp_path: Path, browser: webdriver.Chrome,
        monkeypatch: pytest.MonkeyPatch) -> None:
    admin = fleet.org["admin_token"]
    devices: list[tuple[Path, client.Device]] = []

    def contribute(n: int) -> None:  # every one works in xterm; the first four in gimp too
        home = tmp_path / f"dev{n}"
        device = _device(fleet, home, team="lab")
        devices.append((home, device))
        _one_app(monkeypatch, "xterm")
        _record(home, device.contributor_id, 10 + n)
        if n < 4:
            _one_app(monkeypatch, "gimp")
            _record(home, device.contributor_id, 20 + n)
        assert client.upload_pending(home / "spool", home)["uploaded"] > 0

    with httpx.Client(base_url=fleet.url, headers={"Authorization": f"Bearer {admin}"}) as http:
        for n in range(4):
            contribute(n)
        four = http.get("/v1/org/aggregates").json()
        assert four["apps"] == [] and four["teams"] == [] and four["hidden"] == {"apps": 2, "teams": 1}
        contribute(4)
        five = http.get("/v1/org/aggregates").json()
        assert [g["name"] for g in five["apps"]] == ["xterm"] and five["apps"][0]["contributors"] == 5
        assert five["hidden"] == {"apps": 1, "teams": 0} and five["teams"][0]["name"] == "lab"
        assert five["apps"][0]["hours"] > 0 and five["apps"][0]["steps"] > 0
        assert five["health"]["commits_by_status_last_day"]["200"] >= 9

    browser.get(f"{fleet.url}/org")
    browser.find_element(By.ID, "token").send_keys(admin)
    _submit(browser, browser.find_element(By.ID, "login"))
    assert browser.current_url == f"{fleet.url}/org"
    groups = [row.find_element(By.TAG_NAME, "td").text
              for row in browser.find_elements(By.CSS_SELECTOR, "#apps tr.group")]
    assert groups == ["xterm"] and "gimp" not in browser.page_source
    assert browser.find_element(By.CLASS_NAME, "hidden-apps").text == "1 group hidden"
    assert [r.find_element(By.TAG_NAME, "td").text
            for r in browser.find_elements(By.CSS_SELECTOR, "#teams tr.group")] == ["lab"]
    admin_cookie = browser.get_cookie("ws_org")
    assert admin_cookie and admin_cookie["httpOnly"] and admin_cookie["sameSite"] == "Strict"

    # every route, every method, with the admin token and the admin session: none answers 200 with a
    # contributor's id or one of their recordings
    people = {d.contributor_id for _, d in devices}
    recordings = {r for (r,) in _rows(fleet, "select recording_id from segments")}
    sha = _rows(fleet, "select sha256 from segments")[0][0]
    # (the admin's erasure is asked of an unknown contributor: it answers with the id it is given, and
    # erasing one here would change what the loop reads; tests/fleet/test_admin.py checks its answer)
    values = {"sha256": sha, "recording_id": sorted(recordings)[0], "token": "wsp_" + "a" * 40,
              "contributor_id": "0" * 16}
    with httpx.Client(base_url=fleet.url, headers={"Authorization": f"Bearer {admin}"},
                      cookies={"ws_org": admin_cookie["value"]}) as http:
        spec = http.get("/openapi.json").json()
        assert "/v1/org/aggregates" in spec["paths"] and "/org" in spec["paths"]
        for path, methods in spec["paths"].items():
            url = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)
            for method in methods:
                r = http.request(method.upper(), url, params={"offset": 0}, json={})
                leaked = [x for x in people | recordings if x in r.text]
                assert not (r.status_code == 200 and leaked), (method, path, leaked)
    assert _rows(fleet, "select count(*) from segments where deleted_at is not null") == [(0,)]
