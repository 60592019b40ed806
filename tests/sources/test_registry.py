"""The sources registry: every consent source has factories, started in one fixed order."""

from __future__ import annotations

import pytest

from workscribe.guard import GUI_SOURCES, SOURCES
from workscribe.sources.registry import REGISTRY, create_sources


def test_every_source_a_consent_can_name_is_registered() -> None:
    assert {s for s in SOURCES if s != "shell-output"} == set(REGISTRY)  # output is part of shell
    assert {name for name, entry in REGISTRY.items() if entry.display} == set(GUI_SOURCES)


@pytest.mark.parametrize("granted, names", [
    (SOURCES, ["window", "browser", "screen", "echo", "input", "shell", "files", "git"]),
    (["git", "input", "shell-output", "shell"], ["window", "echo", "input", "shell", "git"]),
    (["screen"], ["window", "screen"]),
    (["files", "git"], ["files", "git"]),
])
def test_sources_start_in_registry_order_and_the_window_source_comes_with_the_display(
        granted: list[str], names: list[str]) -> None:
    assert [f.name for f in create_sources(granted)] == names
