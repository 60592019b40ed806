"""The interactive shell in a pty the tests drive (it lives in the package: the demo drives it too)."""

from workscribe.envs.coding import PROMPT, InteractiveShell

__all__ = ["PROMPT", "InteractiveShell"]
