"""The contributor's identity in text: home path, user name and host name never leave in clear.

``/home/alice/src`` becomes ``~/src``, ``alice@workstation-42`` becomes ``<USER>@<HOST>`` and the
host name alone becomes ``<HOST>``. A user name alone is left as it is: short names such as
``root`` or ``dev`` are ordinary words too, and the pseudonymous contributor id already stands for
the person.

``find_private`` is for typed text, titles and terminal output; ``find_private_ocr`` is for lines
read from the screen by OCR: its rules allow for OCR's errors (``redact.ocr_text``), and the
identity is matched with OCR's confusable characters and case allowed (``a1ice@W0rkstation-42``).
"""

from __future__ import annotations

import getpass
import os
import re
import socket
from dataclasses import dataclass
from functools import lru_cache

from workscribe.redact.ocr_text import find_hits_ocr, ocr_skeleton
from workscribe.redact.text import Hit, find_hits

MIN_HOST_LEN = 4  # shorter host names ("vm", "pc") are ordinary words too


@dataclass(frozen=True)
class Identity:
    """What identifies the contributor on this device."""

    home: str
    user: str
    host: str

    @property
    def pattern(self) -> re.Pattern[str]:
        return _pattern(self)

    def find(self, text: str) -> list[Hit]:
        """Hits labelled ``home``, ``user_host`` or ``host``, in order."""
        return [Hit(m.lastgroup or "", m.start(), m.end()) for m in self.pattern.finditer(text)]

    def find_ocr(self, text: str) -> list[Hit]:
        """As ``find``, in a line read by OCR: confusable characters and case are folded first."""
        folded = Identity(ocr_skeleton(self.home), ocr_skeleton(self.user), ocr_skeleton(self.host))
        return folded.find(ocr_skeleton(text))


@lru_cache(maxsize=8)
def _pattern(identity: Identity) -> re.Pattern[str]:
    parts = []
    if identity.user and identity.host:
        parts.append(rf"(?P<user_host>(?<![\w.-]){re.escape(identity.user)}@{re.escape(identity.host)}"
                     rf"(?:\.[\w-]+)*(?![\w-]))")
    if identity.home not in ("", "/"):
        parts.append(rf"(?P<home>{re.escape(identity.home.rstrip('/'))}(?=/|$|[\s'\":;,)]))")
    if len(identity.host) >= MIN_HOST_LEN:
        parts.append(rf"(?P<host>(?<![\w.-]){re.escape(identity.host)}(?![\w-]))")
    return re.compile("|".join(parts) if parts else r"(?!)")


@lru_cache(maxsize=1)
def device_identity() -> Identity:
    """This device's identity (read once)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    return Identity(home=os.path.expanduser("~"), user=user, host=socket.gethostname().split(".")[0])


def find_private(text: str, identity: Identity | None = None) -> list[Hit]:
    """Secrets and PII (``find_hits``) and the contributor's identity, without overlaps, in order."""
    return _merge(find_hits(text), (identity or device_identity()).find(text))


def find_private_ocr(text: str, identity: Identity | None = None) -> list[Hit]:
    """``find_private`` for a line read by OCR (``find_hits_ocr``, ``Identity.find_ocr``): the
    screen recorder's finder."""
    return _merge(find_hits_ocr(text), (identity or device_identity()).find_ocr(text))


def _merge(hits: list[Hit], identity_hits: list[Hit]) -> list[Hit]:
    """Secret and PII hits, and the identity hits that overlap none of them, in order."""
    for h in identity_hits:
        if not any(h.start < other.end and other.start < h.end for other in hits):
            hits.append(h)
    return sorted(hits, key=lambda h: h.start)


def redact_private(text: str, identity: Identity | None = None) -> str:
    """``text`` with secrets, PII and the contributor's identity replaced."""
    from workscribe.redact.rules import placeholder

    out, pos = [], 0
    for h in find_private(text, identity):
        out.append(text[pos:h.start] + placeholder(h.label) + "\n" * text.count("\n", h.start, h.end))
        pos = h.end
    return "".join(out) + text[pos:]
