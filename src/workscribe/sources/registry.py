"""The registry of sources: each consent source name, the factories that build and start it.

``REGISTRY`` maps a consent source name to its factories, in the order the recorder starts them:
``window``, ``browser``, ``screen``, ``input`` (its echo watch first, then the input itself), then
``shell``, ``files``, ``git``. ``create_sources`` picks those of a consent. A factory takes a
``SourceContext`` (the options and the recorder's callbacks), builds a fresh source, hands it to
``on_built`` and starts it; the recorder starts each through ``SourceSupervisor.start``, which
calls the factory again to restart the source when its thread dies. Platform backends (X11) are
imported only when their factory runs.

Example:
    >>> [f.name for f in create_sources(["input", "git"])]
    ['window', 'echo', 'input', 'git']
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workscribe.events import Event
from workscribe.sources.base import Sink, WindowInfo, WindowState

if TYPE_CHECKING:
    from workscribe.sources.browser import BrowserSource
    from workscribe.sources.files import FilesSource
    from workscribe.sources.git import GitSource
    from workscribe.sources.shell import ShellSource
    from workscribe.sources.terminal import EchoWatch
    from workscribe.sources.x11.input import X11InputSource
    from workscribe.sources.x11.screen import ScreenSource
    from workscribe.sources.x11.window import X11WindowSource


@dataclass(frozen=True)
class SourceContext:
    """What the factories build sources from: the recording's options and the recorder's callbacks."""

    display: str | None  # X display, e.g. ":1" (None: $DISPLAY)
    fps: float  # screen grabs per second into the ring buffer
    keyframe_s: float  # at most one change-triggered frame this often
    repos: list[Path]  # git work trees the coding sources watch
    shell_output: bool  # the shell source also takes each command's output ("shell-output")
    log: Callable[[str], None]  # one-line status messages
    on_event: Sink  # every source's events
    on_built: Callable[[str, Any], None]  # each fresh source, by factory name, before it starts
    ready: Callable[[], bool]  # every source has started once (a restarted shell publishes at once)
    on_window: Callable[[WindowState], None]  # the desktop changed (the window source)
    active_window: Callable[[], WindowInfo | None]  # the active window now (the guard's state)
    sites: Any  # the consent's sites (guard.SiteMatcher) for the browser source
    on_page_scope: Callable[[int, bool | None], None]  # a browser window's page is in scope or not
    on_pages_lost: Callable[[], None]  # the browser source is down: no page is known
    on_page_text: Callable[[int, dict[str, Any]], None]  # a snapshot of the page, with whole texts
    frame_regions: Callable[[], Any]  # what of the screen may be kept now (guard.frame_regions)
    on_frame: Callable[[Event, Any], bool]  # a frame to keep: (frame event, BGRA image)
    echo_watch: Callable[[], EchoWatch]  # a fresh echo watch of the key hold, not started


@dataclass(frozen=True)
class SourceFactory:
    """How one supervised source is built and started."""

    name: str  # its name in the supervisor's health, the log and gap events
    start: Callable[[SourceContext], Any]  # builds, starts and returns a fresh source
    on_down: Callable[[SourceContext], None] | None = None  # its thread died, before it is stopped


def _window(ctx: SourceContext) -> X11WindowSource:
    from workscribe.sources.x11.window import X11WindowSource

    source = X11WindowSource(ctx.display, on_change=ctx.on_window, log=ctx.log)
    ctx.on_built("window", source)
    source.start(ctx.on_event)
    return source


def _no_window(ctx: SourceContext) -> None:
    ctx.on_window(WindowState())  # while the window source is down no window is known: nothing is in scope


def _browser(ctx: SourceContext) -> BrowserSource:
    from workscribe.sources.browser import BrowserSource

    source = BrowserSource(ctx.sites, ctx.active_window, ctx.on_page_scope, log=ctx.log,
                           on_page_text=ctx.on_page_text)
    ctx.on_built("browser", source)
    source.start(ctx.on_event)
    return source


def _screen(ctx: SourceContext) -> ScreenSource:
    from workscribe.sources.x11.screen import ScreenSource

    source = ScreenSource(ctx.frame_regions, fps=ctx.fps, display_name=ctx.display, keyframe_s=ctx.keyframe_s)
    ctx.on_built("screen", source)
    source.start(ctx.on_frame)
    return source


def _echo(ctx: SourceContext) -> EchoWatch:
    watch = ctx.echo_watch()
    ctx.on_built("echo", watch)
    watch.start()
    return watch


def _input(ctx: SourceContext) -> X11InputSource:
    from workscribe.sources.x11.input import X11InputSource

    source = X11InputSource(ctx.display)
    ctx.on_built("input", source)
    source.start(ctx.on_event)
    return source


def _shell(ctx: SourceContext) -> ShellSource:
    from workscribe.sources.shell import ShellSource, port_file

    # the port file is published once every source is ready (a restart publishes at once)
    source = ShellSource(port_file(), output=ctx.shell_output, log=ctx.log, publish_on_start=ctx.ready())
    ctx.on_built("shell", source)
    source.start(ctx.on_event)
    return source


def _files(ctx: SourceContext) -> FilesSource:
    from workscribe.sources.files import FilesSource

    source = FilesSource(ctx.repos, log=ctx.log)
    ctx.on_built("files", source)
    source.start(ctx.on_event)
    return source


def _git(ctx: SourceContext) -> GitSource:
    from workscribe.sources.git import GitSource

    source = GitSource(ctx.repos, log=ctx.log)
    ctx.on_built("git", source)
    source.start(ctx.on_event)
    return source


@dataclass(frozen=True)
class Entry:
    """One consent source name in the registry."""

    factories: tuple[SourceFactory, ...]  # started in this order
    display: bool  # watches the display (any such source granted also starts the window source)


REGISTRY: dict[str, Entry] = {
    "window": Entry((SourceFactory("window", _window, _no_window),), display=True),
    "browser": Entry((SourceFactory("browser", _browser, lambda ctx: ctx.on_pages_lost()),), display=True),
    "screen": Entry((SourceFactory("screen", _screen),), display=True),
    "input": Entry((SourceFactory("echo", _echo), SourceFactory("input", _input)), display=True),
    "shell": Entry((SourceFactory("shell", _shell),), display=False),
    "files": Entry((SourceFactory("files", _files),), display=False),
    "git": Entry((SourceFactory("git", _git),), display=False),
}
"""Consent source names to their factories, in start order (``shell-output`` is part of ``shell``)."""


def create_sources(granted: Collection[str]) -> list[SourceFactory]:
    """The factories of the granted sources, in start order. The window source comes with any
    display source, granted or not: the guard scopes everything on the display by the active window.
    """
    display = any(REGISTRY[name].display for name in granted if name in REGISTRY)
    return [factory for name, entry in REGISTRY.items()
            if name in granted or (name == "window" and display) for factory in entry.factories]
