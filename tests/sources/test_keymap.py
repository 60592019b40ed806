"""Key resolution against the mapping in force (pure): levels, caps lock, AltGr, remapped keycodes."""

from __future__ import annotations

from Xlib import X

from workscribe.sources.x11.input import KeyboardMap
from workscribe.sources.x11.keysyms import keysym_char, keysym_name

A, CAP_A, EACUTE, LSTROKE = 0x61, 0x41, 0xE9, 0x1B3


def test_levels_shift_capslock_and_altgr() -> None:
    km = KeyboardMap(8, [(0, 0), (A, CAP_A, 0, 0, 0xE6, 0xC6), (0x31, 0x21)])
    assert km.resolve(9, 0) == (A, A)
    assert km.resolve(9, X.ShiftMask) == (A, CAP_A)
    assert km.resolve(9, X.LockMask) == (A, CAP_A)
    assert km.resolve(9, X.LockMask | X.ShiftMask) == (A, A)
    assert km.resolve(9, X.Mod5Mask) == (A, 0xE6)  # AltGr level
    assert km.resolve(10, X.LockMask) == (0x31, 0x31)  # caps lock does not shift digits
    assert km.resolve(10, X.ShiftMask) == (0x31, 0x21)


def test_change_keyboard_mapping_applies_in_stream() -> None:
    km = KeyboardMap(8, [(0,) * 2] * 4)
    km.change(8, 1, (EACUTE,))  # what xdotool sends before typing é
    assert km.resolve(8, 0)[1] == EACUTE
    assert km.resolve(8, X.ShiftMask)[1] == 0xC9  # one-symbol letter: shift gives the capital
    km.change(8, 1, (LSTROKE,))
    assert keysym_char(km.resolve(8, 0)[1]) == "ł"
    km.change(8, 1, (0,))
    assert km.resolve(8, 0) == (0, 0)


def test_keysym_characters_and_names() -> None:
    assert keysym_char(0x20) == " " and keysym_char(0xFF0D) is None
    assert keysym_char(0x1000142) == "ł" and keysym_char(0x20AC) == "€"
    assert keysym_char(0xFFB5) == "5"  # keypad digit types a digit
    assert keysym_char(0xFE51) is None  # dead_acute types nothing by itself
    assert [keysym_name(s) for s in (0xFF0D, 0xFFE3, 0xFE03, 0xE9, 0x1000142)] == [
        "Return", "Control_L", "ISO_Level3_Shift", "eacute", "U0142"]
