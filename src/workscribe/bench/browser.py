"""``workscribe bench browser``: what one page snapshot of the browser source costs.

A headless Chromium (DevTools on loopback) loads each page; the page script of the browser source
runs in its isolated world exactly as when recording, and is asked for ``repeats`` fresh snapshots.
Reported per page: the in-page time of one snapshot (median and 95th percentile, ms, as measured by
the script itself around its DOM walk), the elements in the DOM and in a snapshot, and the bytes of
one snapshot event (JSON, before compression).

Pages: two MiniWoB++ tasks as the benchmark shows them (when the ``miniwob`` package is installed)
and a large generated page (a long article, a 400-row table, a form, nav lists: about 6,000
elements), at the top and scrolled to the middle.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from workscribe.envs.xdisplay import terminate
from workscribe.sources.browser import find_devtools
from workscribe.sources.browser_page import BINDING, PAGE_SCRIPT, WORLD
from workscribe.sources.cdp import CdpConnection

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def large_page() -> str:
    """A page of about 6,000 elements, far more than one viewport shows."""
    nav = "".join(f'<li><a href="#s{i}">Section {i}</a></li>' for i in range(60))
    article = "".join(
        f"<h2 id='s{i}'>Section {i}</h2>" + "".join(
            f"<p>Paragraph {j} of section {i} with <a href='#'>a link</a> and <b>bold words</b> "
            f"that wrap over a line or two of text.</p>" for j in range(8)) for i in range(60))
    rows = "".join(f"<tr><td>{i}</td><td>Item {i}</td><td><input value='{i}'></td>"
                   f"<td><button>Edit</button></td><td><input type='checkbox'></td></tr>" for i in range(400))
    form = "".join(f"<label>Field {i} <input name='f{i}'></label><br>" for i in range(40))
    return (f"<!doctype html><html><head><title>Large page</title></head><body><nav><ul>{nav}</ul></nav>"
            f"<main>{article}<form>{form}<input type='password'></form><table>{rows}</table></main>"
            "</body></html>")


def _pages(folder: Path) -> list[tuple[str, str, str]]:
    """(name, URL, JavaScript run in the page first) for each page measured."""
    pages = []
    try:
        import miniwob

        html = Path(miniwob.__file__).parent / "html" / "miniwob"
        for task in ("click-button", "book-flight"):
            if (html / f"{task}.html").exists():
                pages.append((f"miniwob {task}", (html / f"{task}.html").as_uri(),
                              "core.startEpisodeReal && core.startEpisodeReal()"))
    except ImportError:
        pass
    page = folder / "large.html"
    page.write_text(large_page())
    pages.append(("large page, top", page.as_uri(), ""))
    pages.append(("large page, scrolled", page.as_uri(),
                  "window.scrollTo(0, document.body.scrollHeight / 2)"))
    return pages


def bench_browser(repeats: int = 50) -> dict[str, Any]:
    """Snapshot cost per page; raises ``RuntimeError`` when no Chromium is installed."""
    browser = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        raise RuntimeError("no Chromium found (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="ws-bench-browser-", ignore_cleanup_errors=True) as tmp:
        folder = Path(tmp)
        proc = subprocess.Popen(
            [browser, "--headless=new", "--no-sandbox", "--remote-debugging-port=0",
             f"--user-data-dir={folder / 'profile'}", "--force-device-scale-factor=1",
             "--window-size=1280,800", "--no-first-run", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        conn = None
        try:
            deadline = time.monotonic() + 30
            devtools = None
            while devtools is None:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("Chromium did not open its DevTools port")
                devtools = find_devtools(proc.pid)
                time.sleep(0.05)
            snaps: list[dict[str, Any]] = []
            arrived = threading.Event()

            def on_event(method: str, params: dict[str, Any], session: str | None) -> None:
                if method == "Runtime.bindingCalled" and params.get("name") == BINDING:
                    msg = json.loads(params["payload"])
                    if msg.get("k") == "snap":
                        snaps.append({**msg, "context": params["executionContextId"]})
                        arrived.set()

            conn = CdpConnection(devtools.ws_url(), on_event)
            results = {}
            for name, url, setup in _pages(folder):
                results[name] = _measure(conn, url, setup, snaps, arrived, repeats)
            return {"repeats": repeats, "pages": results}
        finally:
            if conn is not None:
                conn.close()
            terminate(proc, timeout=10)


def _measure(conn: CdpConnection, url: str, setup: str, snaps: list, arrived: threading.Event,
             repeats: int) -> dict[str, Any]:
    target = conn.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = conn.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    try:
        conn.call("Page.enable", session=session)
        conn.call("Page.navigate", {"url": url}, session=session)
        deadline = time.monotonic() + 10
        while conn.call("Runtime.evaluate", {"expression": "document.readyState", "returnByValue": True},
                        session)["result"].get("value") != "complete":
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not load")
            time.sleep(0.05)
        if setup:
            conn.call("Runtime.evaluate", {"expression": setup}, session)
        total = conn.call("Runtime.evaluate", {"expression": "document.getElementsByTagName('*').length",
                                               "returnByValue": True}, session)["result"]["value"]
        snaps.clear()
        arrived.clear()
        conn.call("Runtime.enable", session=session)
        conn.call("Runtime.addBinding", {"name": BINDING, "executionContextName": WORLD}, session)
        conn.call("Page.addScriptToEvaluateOnNewDocument",
                  {"source": PAGE_SCRIPT, "worldName": WORLD, "runImmediately": True}, session)
        if not arrived.wait(10):
            raise RuntimeError(f"the page script did not report on {url}")
        context = snaps[-1]["context"]
        for _ in range(repeats):
            count = len(snaps)
            conn.call("Runtime.evaluate",
                      {"expression": "window.__workscribe.push(true)", "contextId": context}, session)
            deadline = time.monotonic() + 5
            while len(snaps) == count and time.monotonic() < deadline:
                time.sleep(0.001)
        timings = sorted(s["ms"] for s in snaps[1:]) or [snaps[0]["ms"]]
        last = snaps[-1]
        event = {k: last[k] for k in ("url", "origin_x", "origin_y", "width", "height", "elements")}
        return {"dom_elements": total, "snapshot_elements": len(last["elements"]),
                "truncated": bool(last.get("truncated")),
                "ms_median": round(statistics.median(timings), 2),
                "ms_p95": round(timings[int(0.95 * (len(timings) - 1))], 2),
                "event_bytes": len(json.dumps(event))}
    finally:
        conn.call("Target.closeTarget", {"targetId": target})
