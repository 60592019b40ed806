r"""PII rules: e-mail addresses, phone numbers, payment cards, IBANs, US SSNs and IP addresses.

Digit-shaped PII starts from one scan for runs of digits and separators (``\d[\d .()/-]{5,}\d``)
in a copy of the text where every digit is ``0`` and every capital ``A``, so that the scan is a
literal search; each run, with a few characters of context, goes only to the phone, card, SSN and
IPv4 patterns its shape allows. E-mail addresses are found from their ``@``, IBANs from ``AA00``
in the same copy, IPv6 addresses from their colons, spelled-out addresses
(``alice at example dot com``) from ``dot``.

Checks: cards need a known issuer prefix, a length that issuer uses and a valid Luhn sum; IBANs the
country's length and mod-97; SSNs exclude area 000, 666 and 900-999, group 00 and serial 0000; a
phone number needs a ``+``/``00`` country code, the North American shape ``(555) 123-4567``, or a
word such as "tel", "phone", "mobile" or "call" just before it; SSNs without dashes need "SSN" or
"social security" before them. See ``rules`` for what is done with loopback and version-like IPs.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterator

Found = tuple[int, int, str, int]

EMAIL_DOMAIN = re.compile(r"@(?:[\w-]{1,63}\.)+[^\W\d_]{2,24}(?![\w-]|\.\w)")
_AT, _DOT = r"[ \t]*[\[(]?[ \t]*\bat\b[ \t]*[\])]?[ \t]*", r"[ \t]*[\[(]?[ \t]*\bdot\b[ \t]*[\])]?[ \t]*"
EMAIL_SPELLED = re.compile(rf"(?<![\w.+-])[\w.+-]{{1,64}}{_AT}[\w-]{{1,63}}(?:{_DOT}[\w-]{{1,63}})*?{_DOT}"
                           r"(?:com|org|net|edu|gov|io|dev|me|info|biz|co|uk|de|fr|es|it|nl|at|ch|eu|ca|au|jp"
                           r"|in)\b")
NUMERIC_RUN = re.compile(r"0(?<!00)[0 .()/-]{5,}0")  # runs on the shape copy: every digit is 0
PHONE_INTL = re.compile(r"(?<![\w+])(?:\+|\b00)[1-9]\d{0,2}(?:[ .\-/]?(?:\(0\)|\(\d{1,4}\)|\d{1,5})){2,7}"
                        r"(?!\w|[.:/-]\d)")
# spaces alone (`384 768 1536`) are too common in lists of numbers: dashes, dots or parentheses
PHONE_NANP = re.compile(r"(?<![\w.+-])(?:1[ .-]?)?(?:\(\d{3}\)[ .-]?\d{3}[ .-]|\d{3}-\d{3}-|\d{3}\.\d{3}\.)"
                        r"\d{4}(?!\w|[.-]\d)")
PHONE_LOCAL = re.compile(r"\+?\(?\d[\d ().\-/]{5,18}\d(?!\w|[.:-]\d)")
PHONE_WORD_BEFORE = re.compile(r"(?:\b(?:tel|phone|mobile|mob|cell|fax|call(?:[ \t]+me)?(?:[ \t]+(?:at|on))?"
                               r"|whatsapp|sms|kontakt|telefon|t[ée]l[ée]phone|portable|handy)\b)[^\d\n+]{0,16}\Z")
CARD = re.compile(r"(?<![\w.,+-])(?:\d{4}([ -]?)\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{4,5})"
                  r"(?!\w|[.,-]\d)")
IBAN = re.compile(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])")
SSN = re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w-])")
SSN_LOOSE = re.compile(r"\d{3}[ -]?\d{2}[ -]?\d{4}(?![\w-])")
SSN_WORD_BEFORE = re.compile(r"\b(?:ssn|social[ \t]+security(?:[ \t]+(?:number|no\.?|#))?|ss#)[^\w\n]{0,4}\Z")
IPV4 = re.compile(r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
                  r"(?!\d|\.\d)")
IPV6_COLONS = re.compile(r":[0-9A-Fa-f]{0,4}:")
IPV6 = re.compile(r"(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?:%[\w.]+)?"
                  r"(?![\w:])")
_VERSION_BEFORE = re.compile(r"(?i)(?:\bv(?:er(?:sion)?)?[ \t:=.]*|[A-Za-z][\w-]*/|[=<>~!]=|\bbuild[ \t]*)\Z")
_VERSION_AFTER = re.compile(r"-\d+(?![\d.])|[~+][A-Za-z0-9]")  # `1.2.5.1-2`, `1.2.3.4~rc1`, `+dfsg`
_DECIMAL = re.compile(r"\+\d+\.\d{1,3}")
_CARD_WORD_BEFORE = re.compile(r"\b(?:card|cc|visa|mastercard|amex|credit|debit|payment|paid|pan)\w*"
                               r"[^\n]{0,20}\Z")
_CC2 = set("20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 60 61 62 63 64 65 "
           "66 81 82 84 86 90 91 92 93 94 95 98".split())
_CC3 = {f"{p}{d}" for p in ("21", "22", "23", "24", "25", "26", "29", "35", "37", "38", "50", "59", "67",
                            "68", "69", "85", "87", "88", "96", "97", "99") for d in "0123456789"} \
    | {"420", "421", "423", "800"}
_INTL00 = re.compile(r"(?<!\d)00[1-9]")
_DIGIT_GROUP_BEFORE = re.compile(r"\d[ .-]?\Z")
_SHAPE = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", "A" * 26 + "0" * 10)
_SEPARATORS = str.maketrans("", "", " .()/-")
_HEX = frozenset("0123456789abcdefABCDEF")
_LOCAL_PART = frozenset("._%+-_")
IBAN_LENGTHS = dict(
    AD=24, AE=23, AL=28, AT=20, AZ=28, BA=20, BE=16, BG=22, BH=22, BR=29, CH=21, CR=22, CY=28, CZ=24, DE=22,
    DK=18, DO=28, EE=20, EG=29, ES=24, FI=18, FO=18, FR=27, GB=22, GE=22, GI=23, GL=18, GR=27, GT=28, HR=21,
    HU=28, IE=22, IL=23, IS=26, IT=27, JO=30, KW=30, KZ=20, LB=28, LI=21, LT=20, LU=20, LV=21, MC=27, MD=24,
    ME=22, MK=19, MR=27, MT=31, MU=30, NL=18, NO=15, PK=24, PL=28, PS=29, PT=25, QA=29, RO=24, RS=22, SA=24,
    SE=24, SI=19, SK=24, SM=27, TN=24, TR=26, UA=29, VG=24, XK=20)


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a digit string."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_ok(digits: str, grouped: bool = True) -> bool:
    """A plausible payment card: a known issuer prefix, a length that issuer uses, a valid Luhn sum.

    ``grouped=False`` (no separators, no card word before it) accepts only the common lengths 14 to
    16: longer and shorter digit strings are mostly ids and integers in code.
    """
    n, p2 = len(digits), int(digits[:2])
    if not grouped and not 14 <= n <= 16:
        return False
    if digits[0] == "4":                                    # Visa
        ok = n in (13, 16, 19)
    elif 51 <= p2 <= 55 or 2221 <= int(digits[:4]) <= 2720:  # Mastercard
        ok = n == 16
    elif p2 in (34, 37):                                    # American Express
        ok = n == 15
    elif p2 in (30, 36, 38, 39):                            # Diners Club
        ok = 14 <= n <= 19
    elif p2 == 35 or digits[0] == "6":                      # JCB, Discover, UnionPay, Maestro
        ok = n >= 16 or p2 in (63, 67)
    else:
        ok = p2 in (50, 56, 57, 58)                         # Maestro
    return ok and luhn_ok(digits)


def iban_ok(compact: str) -> bool:
    """Country length and the ISO 13616 mod-97 check."""
    if IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    return int("".join(str(int(c, 36)) for c in compact[4:] + compact[:4])) % 97 == 1


def ssn_ok(digits: str) -> bool:
    """A US SSN outside the ranges never issued (area 000, 666, 900-999; group 00; serial 0000)."""
    return digits[:3] not in ("000", "666") and digits[0] != "9" and digits[3:5] != "00" \
        and digits[5:] != "0000"


def _country_code_ok(phone: str) -> bool:
    """The number starts with an assigned E.164 country code; North American numbers (+1) also need
    an area code and exchange that start with 2-9."""
    d = re.sub(r"\D", "", phone[2:] if phone.startswith("00") else phone)
    if d[0] == "1":
        nanp = re.sub(r"\D", "", phone.replace("(0)", ""))[-10:]
        return len(nanp) == 10 and nanp[0] in "23456789" and nanp[3] in "23456789"
    return d[0] == "7" or d[:2] in _CC2 or d[:3] in _CC3


def _ipv4_ok(text: str, m: re.Match[str]) -> bool:
    """Not loopback, unspecified or a netmask, and not a version number by its context."""
    if m.group().split(".", 1)[0] in ("0", "127", "255") or _VERSION_AFTER.match(text, m.end()):
        return False
    return not _VERSION_BEFORE.search(text, max(0, m.start() - 12), m.start())


def _ipv6_ok(s: str) -> bool:
    """A valid IPv6 address other than ``::1`` and ``::``, and not code such as ``a[10::2]``."""
    addr = s.split("%")[0]
    if "::" not in addr and addr.count(":") != 7 and not ("." in addr and addr.count(":") >= 2):
        return False
    groups = [g for g in addr.split(":") if g]
    if not any(c.isdigit() for c in addr) or len(groups) < 2 or len(groups) == 2 and len(groups[0]) < 3:
        return False
    try:
        ip = ipaddress.IPv6Address(addr)
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_unspecified)


def _emails(text: str) -> Iterator[Found]:
    """Addresses found from the domain after ``@``, the local part read backwards from it."""
    for m in EMAIL_DOMAIN.finditer(text):
        at = i = m.start()
        while i > 0 and at - i < 64 and (text[i - 1].isalnum() or text[i - 1] in _LOCAL_PART):
            i -= 1
        while i < at and text[i] in "._%+-":
            i += 1
        if i == at or text[i:at] == "git" and text[m.end():m.end() + 1] == ":":
            continue  # `@types/node`; `git@github.com:org/repo` is a remote, not an address
        yield i, m.end(), "email", 1


_IP, _CARD, _SSN, _NANP = 1, 2, 4, 8
_SHAPES = [(_IP, re.compile(r"0{1,3}\.0{1,3}\.0{1,3}\.0{1,3}")),
           (_CARD, re.compile(r"0{4}(?P<a>[ -]?)0{4}(?P=a)0{4}(?P=a)0|0{4}(?P<b>[ -])0{6}(?P=b)0{4}")),
           (_SSN, re.compile(r"000-00-0000")),
           (_NANP, re.compile(r"\(?000\)[ .-]?000[ .-]0000|000-000-0000|000\.000\.0000"))]

_DATE = re.compile(r"0000([-./])00\1000?0?|00([-./])00\2000?0?")


@functools.lru_cache(maxsize=8192)
def _possible(run_shape: str) -> tuple[int, bool]:
    """Which digit rules a run of this shape (digits as ``0``) can match, as bit flags, and whether
    a phone or SSN named by a word before it is possible (7 to 15 digits, not a date)."""
    digits = run_shape.count("0")
    return sum(flag for flag, rx in _SHAPES if rx.search(run_shape)), \
        7 <= digits <= 15 and not _DATE.fullmatch(run_shape.strip())


def _numbers(text: str, low: str, shape: str) -> Iterator[Found]:
    """IPv4 addresses, cards, SSNs and phone numbers, from the numeric runs of ``shape``."""
    n = len(text)
    for run in NUMERIC_RUN.finditer(shape):
        s, e = run.span()
        possible, by_word = _possible(run.group())
        intl = text.find("+", s - 3 if s > 3 else 0, s) >= 0 \
            or text.find("00", s, e) >= 0 and _INTL00.search(text, s, e) is not None
        if not possible and not intl:
            if by_word:
                yield from _by_context(text, low, s, shape.count("0", s, e))
            continue
        ps, pe = max(0, s - 4), min(n, e + 2)
        found = False
        if possible & _IP:
            for m in IPV4.finditer(text, ps, pe):
                if _ipv4_ok(text, m):
                    found = True
                    yield m.start(), m.end(), "ip", 1
        if possible & _CARD:
            for m in CARD.finditer(text, ps, pe):
                loose = not m.group().isdigit() or _CARD_WORD_BEFORE.search(low, max(0, m.start() - 30),
                                                                            m.start()) is not None
                if card_ok(m.group().translate(_SEPARATORS), grouped=loose):
                    found = True
                    yield m.start(), m.end(), "card", 1
        if possible & _SSN:
            for m in SSN.finditer(text, ps, pe):
                found = True
                yield m.start(), m.end(), "ssn", 1
        if intl:
            for m in PHONE_INTL.finditer(text, ps, pe):
                d = len(re.sub(r"\D", "", m.group().replace("(0)", "")))
                if m.group().startswith("00") and _DIGIT_GROUP_BEFORE.search(text, max(0, m.start() - 2),
                                                                               m.start()):
                    continue  # `3704 0044 0532`: a group inside a longer number, not a country prefix
                if _DECIMAL.fullmatch(m.group()) or not _country_code_ok(m.group()):
                    continue  # `+35236450.6`: a signed decimal; `+4294967296`: no country has code 42
                if 8 <= d - (2 if m.group().startswith("00") else 0) <= 15:
                    found = True
                    yield m.start(), m.end(), "phone", 1
        if possible & _NANP:
            for m in PHONE_NANP.finditer(text, ps, pe):
                found = True
                yield m.start(), m.end(), "phone", 1
        if not found and by_word:
            yield from _by_context(text, low, s, shape.count("0", s, e))


_CONTEXT_WORD = re.compile(r"tel|phone|mob|cell|fax|call|whatsapp|sms|kontakt|portable|handy|ss|social")


def _by_context(text: str, low: str, s: int, digits: int) -> Iterator[Found]:
    """A local phone number after "tel"/"phone"/..., or a 9-digit SSN after "SSN"."""
    start = s - 1 if s and text[s - 1] in "+(" else s
    if not _CONTEXT_WORD.search(low, max(0, start - 40), start):
        return
    window = low[max(0, start - 40):start]
    if PHONE_WORD_BEFORE.search(low, max(0, start - 40), start):
        m = PHONE_LOCAL.match(text, start)
        if m and not re.fullmatch(r"\d{4}[-./]\d\d[-./]\d\d", m.group()):
            yield m.start(), m.end(), "phone", 1
    elif digits == 9 and ("ss" in window or "social" in window) \
            and SSN_WORD_BEFORE.search(low, max(0, s - 30), s):
        m = SSN_LOOSE.match(text, s)
        if m and ssn_ok(m.group().translate(_SEPARATORS)):
            yield m.start(), m.end(), "ssn", 1


def _ibans(text: str, shape: str) -> Iterator[Found]:
    """IBANs from ``AA00`` in ``shape``: as many characters as the country's IBANs have, then mod-97."""
    last = -1
    for anchor in re.finditer("AA00", shape):
        p = anchor.start()
        if p < last or p and text[p - 1].isalnum():
            continue
        m = IBAN.match(text, p)
        last = m.end() if m else last
        need = IBAN_LENGTHS.get(text[p:p + 2], 0)
        if m is None or need == 0:
            continue
        compact, end = 0, p
        for ch in m.group():  # take exactly `need` characters, spaces between them allowed
            end += 1
            if ch != " ":
                compact += 1
                if compact == need:
                    break
        if compact == need and iban_ok(text[p:end].replace(" ", "")) \
                and not (end < len(text) and text[end].isalnum()):
            yield p, end, "iban", 1


def _spelled_emails(low: str) -> Iterator[Found]:
    """``alice at example dot com``, ``bob [at] mail [dot] de``: searched in windows around ``dot``."""
    windows: list[list[int]] = []
    for anchor in re.finditer(r"dot\b", low):
        a, b = max(0, anchor.start() - 140), anchor.end() + 80
        if windows and a <= windows[-1][1]:
            windows[-1][1] = b
        else:
            windows.append([a, b])
    for a, b in windows:
        for m in EMAIL_SPELLED.finditer(low, a, b):
            yield m.start(), m.end(), "email", 1


def _ipv6(text: str) -> Iterator[Found]:
    """IPv6 addresses, from ``::`` or two colons a group apart."""
    last_end = -1
    for c in IPV6_COLONS.finditer(text):
        if c.start() < last_end:
            continue
        i = c.start()
        while i > 0 and c.start() - i < 4 and text[i - 1] in _HEX:
            i -= 1
        if i and (text[i - 1].isalnum() or text[i - 1] in "_:."):
            continue
        m = IPV6.match(text, i)
        if m:
            last_end = m.end()
            if _ipv6_ok(m.group()):
                yield m.start(), m.end(), "ip", 1


def find_pii(text: str, low: str) -> Iterator[Found]:
    """All PII hits in ``text``; ``low`` is ``text.lower()`` with the same length."""
    if "@" in text:
        yield from _emails(text)
    if "dot" in low:
        yield from _spelled_emails(low)
    shape = text.translate(_SHAPE)
    yield from _numbers(text, low, shape)
    yield from _ibans(text, shape)
    if ":" in text:
        yield from _ipv6(text)
