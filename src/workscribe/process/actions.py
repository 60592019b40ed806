"""The actions of a spool's recordings, with times in seconds since the spool's start (what ``workscribe
actions`` lists, ``workscribe review --frames`` draws and the demo checks against its ground truth)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def recording_actions(spool, recording) -> Iterator[dict[str, Any]]:  # noqa: ANN001 - Spool, a recording
    """The actions of one recording of a spool, ``t``/``t_end`` in seconds since the spool's start."""
    from workscribe.process.reduce import reduce_actions

    for action in reduce_actions(spool.iter_events(recording)):
        action["t"] = round(spool.to_seconds(action["t"], recording), 3)
        action["t_end"] = round(spool.to_seconds(action["t_end"], recording), 3)
        yield action


def spool_actions(spool) -> Iterator[dict[str, Any]]:  # noqa: ANN001 - Spool
    """The actions of every recording in a spool, ``t``/``t_end`` in seconds since its start."""
    for recording in spool.recordings():
        yield from recording_actions(spool, recording)
