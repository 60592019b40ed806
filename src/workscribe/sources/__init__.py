"""Sources of events, one module per kind, platform backends beside them.

``create_sources`` is the registry: it maps consented source names to the backend of the running
platform. X11 is built here; macOS and Windows backends (pynput for input, mss for the screen,
their native window APIs) plug in under the same names.
"""

from __future__ import annotations

import sys

from workscribe.sources.base import Source, SourceError, WindowInfo, WindowState

__all__ = ["Source", "SourceError", "WindowInfo", "WindowState", "platform_backend"]


def platform_backend() -> str:
    """The backend for this machine: ``x11`` on Linux; others are not built yet."""
    if sys.platform.startswith("linux"):
        return "x11"
    raise SourceError(f"no recorder backend for {sys.platform} yet (X11 on Linux is supported)")
