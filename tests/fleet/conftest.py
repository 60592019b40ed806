"""Fleet fixtures: a real service process over a data folder `org init` made, and real segment files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fleetkit import FleetServer, SegmentFile, make_segment, running_service


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[FleetServer]:
    """A running `workscribe serve --port 0` over a fresh organisation; killed after the test."""
    with running_service(tmp_path) as server:
        yield server


@pytest.fixture
def segment_of(tmp_path: Path) -> Callable[[int], SegmentFile]:
    """``segment_of(seed)``: a closed segment of a synthetic recording of that seed."""
    return lambda seed=0: make_segment(tmp_path / f"spool-{seed}", seed)
