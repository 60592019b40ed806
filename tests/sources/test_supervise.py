"""The source supervisor with small sources that run real threads (no display needed).

The recorder-level test, a real input source whose X connection fails under a real recorder on
Xvfb, is in ``tests/test_record.py``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

import pytest

from helpers import wait_for
from workscribe.sources.supervise import RestartPolicy, SourceSupervisor, source_threads

FAST = RestartPolicy(first_delay_s=0.01, max_delay_s=0.05, max_restarts=3)


class LoopSource:
    """A source whose thread runs until stopped, or raises / returns when told to."""

    name = "loop"

    def __init__(self) -> None:
        self.fail = threading.Event()
        self.error: BaseException | None = RuntimeError("lost the notes of jane.doe@example.com")
        self.stopped = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="loop-source", daemon=True)

    def start(self, sink: Callable[[dict], None]) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.stopped = True
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(0.005):
            if self.fail.is_set():
                if self.error is not None:
                    raise self.error
                return


def _until(condition: Callable[[], bool], sup: SourceSupervisor, timeout: float = 5.0) -> None:
    """Polls the supervisor (as the recorder's loop does) until ``condition`` holds."""
    def polled() -> bool:
        if condition():
            return True
        sup.poll()
        return False

    wait_for(polled, timeout=timeout, interval=0.005, what="the supervisor's condition")


@pytest.fixture
def printed(monkeypatch: pytest.MonkeyPatch) -> list:
    """What reached the process's thread exception hook (the default one prints tracebacks)."""
    seen: list = []
    monkeypatch.setattr(threading, "excepthook", seen.append)
    return seen


def _started(made: list[LoopSource]) -> Callable[[], LoopSource]:
    def start() -> LoopSource:
        source = LoopSource()
        source.start(lambda e: None)
        made.append(source)
        return source
    return start


def test_a_source_whose_thread_raised_is_restarted_and_its_gap_recorded(printed: list) -> None:
    sources: list = []
    gaps: list = []
    logs: list[str] = []
    made: list[LoopSource] = []
    downs: list[str] = []
    sup = SourceSupervisor(sources, gaps.append, logs.append, FAST)
    first = sup.start("loop", _started(made), on_down=lambda: downs.append("down"))
    assert sources == [first] and sup.health() == {"loop": "ok"}
    sup.poll()
    assert sup.health() == {"loop": "ok"} and gaps == []

    first.fail.set()
    states = []
    _until(lambda: states.append(sup.health()["loop"]) or len(made) == 2, sup)
    assert "restarting" in states  # health said so while it was down
    _until(lambda: sup.health()["loop"] == "ok", sup)
    assert downs == ["down"] and first.stopped
    assert sources == [made[1]] and source_threads(made[1])[0].is_alive()
    [gap] = gaps
    assert (gap["source"], gap["kind"]) == ("recorder", "source_gap")
    data = gap["data"]
    assert data["source"] == "loop" and data["restarts"] == 1
    assert data["start"] < data["end"] == gap["t"]
    assert data["reason"].startswith("RuntimeError: lost the notes of <EMAIL> (test_supervise.py:")
    assert len(logs) == 2 and logs[0].startswith("loop source stopped (RuntimeError: lost ")
    assert logs[1].startswith("loop source is back after ")
    assert printed == []  # one log line, not a traceback
    sup.close()
    assert gaps == [gap]  # nothing was left open
    assert threading.excepthook == printed.append  # the hook it installed is gone again
    for source in made:
        source.stop()


def test_a_thread_that_ends_without_an_error_counts_as_dead_too(printed: list) -> None:
    gaps: list = []
    made: list[LoopSource] = []
    sup = SourceSupervisor([], gaps.append, lambda m: None, FAST)
    sup.start("loop", _started(made))
    made[0].error = None
    made[0].fail.set()
    _until(lambda: len(gaps) == 1, sup)
    assert gaps[0]["data"]["reason"] == "its thread loop-source ended"
    sup.close()
    for source in made:
        source.stop()


def test_a_source_that_cannot_restart_is_given_up_and_its_gap_ends_with_the_recording(printed: list) -> None:
    sources: list = []
    gaps: list = []
    logs: list[str] = []
    made: list[LoopSource] = []
    start = _started(made)
    tries = []

    def start_once() -> LoopSource:
        tries.append(time.monotonic())
        if len(tries) > 1:
            raise OSError("the display is gone")
        return start()

    sup = SourceSupervisor(sources, gaps.append, logs.append, FAST)
    sup.start("loop", start_once)
    made[0].fail.set()
    _until(lambda: sup.health()["loop"] == "failed", sup)
    assert len(tries) == 1 + FAST.max_restarts
    waits = [b - a for a, b in zip(tries[1:], tries[2:], strict=False)]
    assert all(w >= FAST.first_delay_s for w in waits) and waits[-1] >= 2 * FAST.first_delay_s  # it backs off
    assert re.fullmatch(rf"loop source failed to restart {FAST.max_restarts} times \(OSError: the display is "
                        r"gone \(test_supervise.py:\d+\)\); the recording goes on without it", logs[-1])
    assert sum("did not restart" in line for line in logs) == FAST.max_restarts - 1
    assert gaps == [] and sources == [made[0]]
    for _ in range(3):
        sup.poll()
    assert len(tries) == 1 + FAST.max_restarts  # given up: no more tries
    sup.close()
    [gap] = gaps
    assert gap["data"]["source"] == "loop" and gap["data"]["end"] > gap["data"]["start"]
    assert gap["data"]["restarts"] == FAST.max_restarts


def test_a_source_that_dies_again_soon_after_each_restart_is_given_up(printed: list) -> None:
    made: list[LoopSource] = []
    logs: list[str] = []
    gaps: list = []
    sup = SourceSupervisor([], gaps.append, logs.append, FAST)  # stable_s: 30 s
    sup.start("loop", _started(made))
    for n in range(2, FAST.max_restarts + 2):
        made[-1].fail.set()
        _until(lambda n=n: len(made) == n and sup.health()["loop"] == "ok", sup)
    assert len(gaps) == FAST.max_restarts and [g["data"]["restarts"] for g in gaps] == [1, 2, 3]
    made[-1].fail.set()
    _until(lambda: sup.health()["loop"] == "failed", sup)
    assert len(made) == FAST.max_restarts + 1 and made[-1].stopped
    assert logs[-1].startswith("loop source stopped (RuntimeError: lost the notes of <EMAIL>")
    assert logs[-1].endswith(f"again after {FAST.max_restarts} restarts in a row; the recording goes on "
                             "without it")
    sup.close()
    assert len(gaps) == FAST.max_restarts + 1
    for source in made:
        source.stop()


@pytest.mark.parametrize("field, value", [("first_delay_s", -1), ("max_restarts", 0), ("max_delay_s", "x")])
def test_restart_policy_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"RestartPolicy.{field}"):
        RestartPolicy(**{field: value})
