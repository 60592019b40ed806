"""X keysyms to names and characters, for any keyboard mapping in force.

The table comes from pynput's ``xorg_keysyms`` (the X.Org keysym list with Unicode values). It is
loaded from its file, because importing ``pynput`` itself needs a display.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

_XLIB_GROUPS = ("miscellany", "latin1", "xkb", "latin2", "latin3", "latin4", "greek", "cyrillic",
                "publishing", "technical", "special", "xf86")
_KEYPAD = {0xFFAA: "*", 0xFFAB: "+", 0xFFAD: "-", 0xFFAE: ".", 0xFFAF: "/", 0xFF80: " ",
           **{0xFFB0 + d: str(d) for d in range(10)}}


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[int, str], dict[int, str]]:
    """(keysym -> character, keysym -> name)."""
    spec = importlib.util.find_spec("pynput")
    if spec is None or not spec.submodule_search_locations:
        return {}, {}
    path = Path(next(iter(spec.submodule_search_locations))) / "_util" / "xorg_keysyms.py"
    mod_spec = importlib.util.spec_from_file_location("_workscribe_xorg_keysyms", path)
    if mod_spec is None or mod_spec.loader is None:
        return {}, {}
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    chars: dict[int, str] = {}
    names: dict[int, str] = {}
    for group in _XLIB_GROUPS:
        defs = importlib.import_module(f"Xlib.keysymdef.{group}")
        for attr, sym in vars(defs).items():
            if attr.startswith("XK_"):
                names.setdefault(sym, attr[3:])
    for name, (sym, char) in module.SYMBOLS.items():
        names.setdefault(sym, name)
        if char and not name.startswith("dead_") and sym < 0xFF00:
            chars.setdefault(sym, char)
    return chars, names


def keysym_char(keysym: int) -> str | None:
    """The character a keysym types, or None for keys that type nothing (Return, F1, Shift ...)."""
    if 0x20 <= keysym <= 0x7E or 0xA0 <= keysym <= 0xFF:
        return chr(keysym)
    if 0x01000100 <= keysym <= 0x0110FFFF:
        return chr(keysym - 0x01000000)
    if keysym in _KEYPAD:
        return _KEYPAD[keysym]
    if keysym >= 0xFF00:
        return None
    return _tables()[0].get(keysym)


def keysym_name(keysym: int) -> str:
    """The X name of a keysym (``Return``, ``a``, ``eacute``), ``U+XXXX`` style for Unicode ones."""
    name = _tables()[1].get(keysym)
    if name:
        return name
    if 0x01000100 <= keysym <= 0x0110FFFF:
        return f"U{keysym - 0x01000000:04X}"
    return f"0x{keysym:x}"
