"""A Chromium launcher for MiniWoB++ on an X display: the wrapper script miniwob starts as its browser.

miniwob starts Chrome through Selenium and chromedriver, and finds the browser only through
``MINIWOB_CHROME_BINARY`` together with ``MINIWOB_CHROMEDRIVER``. Non-headless, it passes no window
size and no ``--no-sandbox`` (Chromium exits without it as root), and chromedriver adds
``--enable-automation``, whose 56 px infobar pushes the page down and moves it mid-episode when
closed. ``ChromiumLauncher`` writes a wrapper script into a private (0700) folder that:

* runs Chromium on one X display (it sets ``DISPLAY`` itself, so the caller's environment needs none),
  with its configuration, caches, crash reports and temporary files in the private folder;
* adds ``--no-sandbox --force-device-scale-factor=1 --window-position=0,0 --window-size=W,H``;
* drops ``--enable-automation``;
* keeps remote debugging available on loopback for the recorder's browser source, which reads the
  port from the browser's command line (``--remote-debugging-port=N``) or, when N is 0, from
  ``DevToolsActivePort`` in its ``--user-data-dir``. chromedriver passes its own port and profile;
  when none is given the wrapper adds ``--remote-debugging-port=0`` and a profile in its folder.
  Any ``--remote-debugging-address`` is replaced by ``127.0.0.1``: the protocol has no
  authentication, so it must never listen beyond this machine.
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

CHROMEDRIVER = "/usr/bin/chromedriver"
"""Where Debian's ``chromium-driver`` package installs chromedriver (it matches the browser)."""

BROWSER_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
"""Browsers tried in order when none is named."""

DEBUG_ADDRESS = "127.0.0.1"
"""The only address the DevTools server may listen on."""

WRAPPER_NAME = "chromium-miniwob"

_WRAPPER = """#!/bin/sh
# Written by workscribe.envs.chromium: starts Chromium for MiniWoB++ on display {display}.
export DISPLAY={display_q}
# Crash reports, caches and temporary files stay in this private folder (removed with it), never in
# the user's ~/.config or /tmp.
export XDG_CONFIG_HOME={config_q} XDG_CACHE_HOME={cache_q} TMPDIR={tmp_q}
port=""
profile=""
for arg do
    shift
    case "$arg" in
        --enable-automation|--remote-debugging-address=*) continue ;;
        --remote-debugging-port=*) port=1 ;;
        --user-data-dir=*) profile=1 ;;
    esac
    set -- "$@" "$arg"
done
[ -n "$port" ] || set -- "$@" --remote-debugging-port=0
[ -n "$profile" ] || set -- "$@" --user-data-dir={profile_q}
exec {browser_q} --no-sandbox --force-device-scale-factor=1 --window-position=0,0 \\
    --window-size={width},{height} --remote-debugging-address={address} \\
    --no-first-run --no-default-browser-check --password-store=basic "$@"
"""


class ChromiumError(RuntimeError):
    """Chromium or chromedriver is missing."""


def find_browser() -> str:
    """The Chromium (or Chrome) binary to start; ``ChromiumError`` naming the fix if there is none."""
    for candidate in BROWSER_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    raise ChromiumError("Chromium is not installed: run `make setup` "
                        "(apt-get install -y chromium chromium-driver)")


def find_chromedriver() -> str:
    """The chromedriver binary; ``ChromiumError`` naming the fix if there is none."""
    if os.access(CHROMEDRIVER, os.X_OK):
        return CHROMEDRIVER
    found = shutil.which("chromedriver")
    if found:
        return found
    raise ChromiumError("chromedriver is not installed: run `make setup` "
                        "(apt-get install -y chromium chromium-driver)")


@dataclass
class ChromiumLauncher:
    """The wrapper script and the environment variables miniwob needs to start Chromium on ``display``.

    Use as a context manager, or call ``write`` and later ``remove``.
    """

    display: str  # X display the browser runs on, e.g. ":42"
    window_size: tuple[int, int] = (400, 330)  # outer window width and height in pixels
    browser: str | None = None  # Chromium binary (None: the first of BROWSER_CANDIDATES)
    chromedriver: str | None = None  # chromedriver binary (None: /usr/bin/chromedriver or PATH)
    folder: Path | None = None  # the private folder holding the script (set by ``write``)
    _own_folder: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if not self.display:
            raise ValueError("display must name an X display, e.g. ':42'")
        width, height = self.window_size
        if width < 200 or height < 200:
            raise ValueError(f"window_size {self.window_size} is too small: MiniWoB's task area "
                             "needs at least 200x200 pixels, e.g. (400, 330)")

    @property
    def script(self) -> Path:
        """The wrapper script (valid after ``write``)."""
        if self.folder is None:
            raise ChromiumError("the launcher has not been written yet: call write() first")
        return self.folder / WRAPPER_NAME

    @property
    def env(self) -> dict[str, str]:
        """The variables miniwob reads: ``MINIWOB_CHROME_BINARY`` and ``MINIWOB_CHROMEDRIVER``."""
        return {"MINIWOB_CHROME_BINARY": str(self.script),
                "MINIWOB_CHROMEDRIVER": self.chromedriver or find_chromedriver()}

    def write(self) -> ChromiumLauncher:
        """Writes the wrapper script into a new private folder (0700) and returns ``self``."""
        browser = self.browser or find_browser()
        self.chromedriver = self.chromedriver or find_chromedriver()
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="workscribe-chromium-"))
            self._own_folder = True
        os.chmod(self.folder, 0o700)
        width, height = self.window_size
        text = _WRAPPER.format(
            display=self.display, display_q=shlex.quote(self.display),
            profile_q=shlex.quote(str(self.folder / "profile")), browser_q=shlex.quote(browser),
            config_q=shlex.quote(str(self.folder / "config")),
            cache_q=shlex.quote(str(self.folder / "cache")), tmp_q=shlex.quote(str(self.folder / "tmp")),
            width=int(width), height=int(height), address=DEBUG_ADDRESS)
        (self.folder / "tmp").mkdir(mode=0o700, exist_ok=True)
        fd = os.open(self.script, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return self

    def remove(self) -> None:
        """Deletes the folder this launcher created (the script and any profile in it)."""
        if self.folder is not None and self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
            self._own_folder = False

    def __enter__(self) -> ChromiumLauncher:
        return self.write()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.remove()
