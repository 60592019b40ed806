"""Sources of events, one module per kind, platform backends beside them.

Every source implements ``base.Source`` (start with a sink, stop). ``registry.REGISTRY`` maps each
consent source name (``window``, ``browser``, ``screen``, ``input`` with its echo watch, ``shell``,
``files``, ``git``) to factories that build and start it from a ``registry.SourceContext``;
``registry.create_sources`` picks a consent's factories in start order, and the recorder starts
each through ``supervise.SourceSupervisor``, which restarts a source whose thread died. The display
sources are built on X11 (``x11/``), imported only when their factory runs; ``platform_backend``
refuses other platforms. macOS and Windows backends (pynput for input, mss for the screen, their
native window APIs) would plug in under the same names.
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
