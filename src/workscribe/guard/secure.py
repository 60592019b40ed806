"""Secure contexts: where keystrokes are never kept, not even their count.

Two signals (this module holds the window rules; the terminal's echo state is observed by
``sources.terminal.EchoWatch`` and handed to ``Guard.admit`` as ``echo_off``):
  * **Windows** whose title or class names a password prompt, a login, an unlock dialog, a keychain
    or a password manager (``secure_window``). Password-manager windows are also blacked out
    whole in frames.
  * **Terminals with echo off**: a program reading a password (sudo, ssh, su, gpg, ``read -s``)
    turns off ECHO while keeping the terminal in canonical (line) mode; full-screen programs such as
    vim turn off both, so they are not mistaken for prompts. ``EchoWatch`` samples the terminal of
    the active window every ``period_s`` and keeps a short timeline, so a key is judged by the
    terminal's state *at the time it was typed*, even when the prompt has ended by the time the key
    is looked at. Key events wait ``hold_s`` before they are judged, so the timeline covers them.
"""

from __future__ import annotations

import re

_SECURE_TITLE = re.compile(
    r"pass(word|phrase|code)|\bpin\b|log ?in\b|sign ?in\b|\bunlock|keychain|keyring|wallet|"
    r"authenticat|credential|\bsudo\b|\b2fa\b|one-time code|otp\b", re.I)
_PASSWORD_MANAGERS = re.compile(
    r"1password|bitwarden|keepass(xc)?|lastpass|dashlane|enpass|nordpass|proton ?pass|"
    r"seahorse|kwalletmanager|gnome-keyring|pinentry|polkit|ksshaskpass|ssh-askpass", re.I)


def password_manager(title: str, app_names: tuple[str | None, ...]) -> bool:
    """True for windows of password managers and credential prompts (blacked out whole)."""
    return any(n and _PASSWORD_MANAGERS.search(n) for n in (title, *app_names))


def secure_window(title: str, app_names: tuple[str | None, ...]) -> str | None:
    """Why typing into this window is secure input (``password_manager``, ``window_title``), or None."""
    if password_manager(title, app_names):
        return "password_manager"
    if _SECURE_TITLE.search(title or ""):
        return "window_title"
    return None
