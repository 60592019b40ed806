"""Where workscribe keeps its state: ``$WORKSCRIBE_HOME``, else the platform's user data folder."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The state folder (consent record, keys, control socket), created owner-only."""
    env = os.environ.get("WORKSCRIBE_HOME")
    if env:
        path = Path(env).expanduser()
    else:
        import platformdirs

        path = Path(platformdirs.user_data_dir("workscribe", appauthor=False))
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def run_dir(state: Path | None = None) -> Path:
    """Folder for the recorder's control socket (owner-only), under ``state`` or ``home()``."""
    path = (state or home()) / "run"
    path.mkdir(exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def control_socket(state: Path | None = None) -> Path:
    """The running recorder's control socket, under ``state`` or ``home()``."""
    return run_dir(state) / "recorder.sock"


def default_spool() -> Path:
    """Where recordings go when no folder is named: ``$WORKSCRIBE_HOME/spool``."""
    return home() / "spool"
