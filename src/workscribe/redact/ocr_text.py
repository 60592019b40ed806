"""The text rules for lines read by OCR, tolerant of what OCR gets wrong.

The screen recorder reads frames with OCR and runs the text rules on every line it reads
(``redact.image``). OCR (rapidocr on terminal text in DejaVu Sans Mono, ``workscribe bench redact``)
reads most characters right but defeats rules written for typed text in a few ways:

- confusable characters: ``0``/``O``/``o``, ``1``/``l``/``I``/``i``, ``5``/``S``, ``8``/``B``, and the
  case of letters whose two cases look alike (``c k o p s u v w x z``): ``xoxb-`` reads as
  ``x0Xb-``, ``TOKEN`` as ``T0KEN``, ``AKIA`` as ``AKlA``, ``.io`` as ``.i0``, ``4111`` as ``411l``;
- spaces dropped (``tokenAKIA...``, ``card4111 ...``, ``IBANDE89 ...``, ``from10.0.0.1``) and spaces
  inserted into a token (``sk-proj -UQR9...``, ``x0xb -6864...``, ``https : //hooks. slack.com/...``);
- full-width punctuation (``，`` ``（`` ``：``) from the recogniser's training on Chinese text.

``find_hits_ocr(text)`` runs the rules on variants of the line and keeps the union of their hits,
resolved as ``find_hits`` resolves them. Folded variants have the line's length, so their offsets
are the line's offsets:

- ``K``: in each run of letters and digits, confusables take the run's majority: digits in a run
  mostly of digits (``411l`` -> ``4111``), letters in a run mostly of letters (``T0KEN`` ->
  ``TOKEN``), and in a run mostly of capitals the look-alike letters are capitals too
  (``PGPASSWoRD`` -> ``PGPASSWORD``, ``AKlA`` -> ``AKIA``, ``NwBK`` -> ``NWBK``); a run mostly
  in lower case keeps its case, so ``newPassword`` stays an identifier for the keyword rules;
- ``C``: as ``K``, and in a run mostly in lower case the look-alike letters are lower case too
  (``x0Xp`` -> ``xoxp``); a comma between letters or digits is a dot (``eyJ...J9,eyJ...``);
- ``L``: every confusable folded to a lower-case letter and the line lower-cased, for what a run's
  majority cannot tell (``acme-corp.i0``: ``i0`` is as much ``10`` as ``io``). A domain that
  has no letter but misread digits (``export@27.3.10``, ``pkg@1.2.1l``) is a version, not an e-mail
  address.

Three more variants change the length, and their hits are mapped back to the line: two
``joined`` ones without the spaces OCR probably inserted (around ``:``, ``/``, ``.``, ``@``, ``-``:
``firma. de``, ``acme -corp.io``; and also a single space next to a long run of letters and
digits, unless the other side is a word: ``x0xb -6864...``, ``s lack.com/services/T0...``), and
``split`` with a space after a context word glued to what follows (``card``, ``iban``, ``tel``,
``from``, ``token``...), before a secret's name glued to the word before it (``mytoken``) and
before an option glued to its command (``psql--password``, ``sshpass-p``).

Which rules run on which variant: vendor tokens on all of them, found also right after a word
(``rules.find_tokens(glued=True)``); PII on all but the second ``joined`` (a word glued to an
address or a number makes a longer one); the keyword rules only on the line, ``K`` and ``split``
(case and spacing are what tell ``password=newPassword`` from ``password=hunter2``). After a word
that names a card, a card number is found however OCR spaced its digits (``5300 50546632 9087``).
And one rule of its own: a run of 40 or more random-looking base64 characters standing alone is a
secret: the body line of a private key, whose BEGIN line OCR reads as another line. Each line is
judged alone, so the body lines of a certificate or a PEM public key are filled too; SSH public
keys (``AAAA...``) are not.

Folding everything to digits or to upper-case letters was measured too and found nothing more on
the benchmark's frames, while turning ``Version=4.0.0.0`` into an address: they are not used.

Only OCR'd text goes through this: typed text and terminal output use ``find_hits``, which is
faster and stricter (``workscribe bench redact``'s ``text_mb_per_s`` does not time this).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from workscribe.redact import pii, rules
from workscribe.redact.rules import Found
from workscribe.redact.text import Hit, lower_keeping_offsets, resolve

# full-width forms and the odd punctuation of the recogniser, one character each
_ASCII = str.maketrans({**{chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)},
                        "\u3000": " ", "\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'",
                        "\u00b7": ".", "\u3002": ".", "\u3001": ",", "\u2014": "-", "\u2013": "-",
                        "\u3010": "[", "\u3011": "]"})
_RUN = re.compile(r"[A-Za-z0-9|]+")
_TO_DIGIT = str.maketrans("OoIl|iSsB", "001111558")
_DIGIT_TO_UPPER = str.maketrans("01|58", "OIISB")
_DIGIT_TO_LOWER = str.maketrans("01|58", "ollsb")
# the letters whose two cases look alike in a monospace font; `l` in an upper-case run is an `I`
_UPPER_CASE = str.maketrans("cklopsuvwxz", "CKIOPSUVWXZ")
_LOWER_CASE = str.maketrans("CKIOPSUVWXZ", "cklopsuvwxz")
_FOLD_LOWER = str.maketrans("01I|58", "olllsb")
_DOT_READ_AS_COMMA = re.compile(r"(?<=[A-Za-z0-9]),(?=[A-Za-z0-9])")  # `eyJ...J9,eyJ...`
_STRAY_UNDERSCORE = re.compile(r"(?<=[A-Za-z])_(?= )")  # `password is_ X`: OCR's underline before a space
_INSERTED_SPACE = re.compile(r"(?<=\S) (?=\S)")
_WORD = re.compile(r"[A-Za-z][a-z]+(?![A-Za-z0-9.])")  # `token`, `Bearer`, `done`, `dist/*`; not `lack.com`
_PUNCT_SPACES = re.compile(r" +(?=[:/.@-])|(?<=[:/.@-]) +")
_CONTEXT_WORDS = ("iban card visa pan cc tel phone mobile cell call fax whatsapp ssn from inet ip host token "
                  "key secret password passwd pwd bearer mail email").split()
_SKELETON = str.maketrans("01i|58", "olllsb")  # on lower-cased text
# a context word glued to what follows, found in the line's skeleton (`fr0m10.0.0.1`, `IBANDE89`)
_GLUED_WORD = re.compile(r"(?=(" + "|".join(w.translate(_SKELETON) for w in _CONTEXT_WORDS)
                         + r")[a-z0-9+(])")  # at every position: the word is group 1
# a secret's name glued to a word, in lower case (`mytoken 08ae...`; `PublicKeyToken` is one name)
_GLUED_KEYWORD = re.compile(r"(?<=[a-z]{2})(?=token|secret|password|passwd)")  # in the skeleton
# an option glued to its command: `--name` (`psql--password x`), `-x` alone (`sshpass-p x`)
_GLUED_FLAG = re.compile(r"(?<=[A-Za-z0-9])(?=--[A-Za-z][\w-]*(?:[ =]|$)|-[A-Za-z](?:[ =]|$))")
# 13 to 19 digits with or without a space or dash between any two, letters glued around allowed
_SPACED_DIGITS = re.compile(r"(?<![\d.,+-])\d(?:[ -]?\d){12,18}(?!\d|[.,-]\d)")
_CARD_WORD_BEFORE = re.compile(r"(?:card|cc|visa|mastercard|amex|credit|debit|payment|paid|pan)[^\n]{0,20}\Z")
_BASE64_RUN = re.compile(r"(?<![^\s\"'`])[A-Za-z0-9+/]{40,}={0,2}(?![^\s\"'`,;])")
_HEX = frozenset("0123456789abcdefABCDEF")  # a git SHA misread with a capital is no key line
_CONFUSABLE_LETTERS = frozenset("OoIl|iSsB")
MIN_KEY_LINE_ENTROPY = 4.0  # bits a character: random base64 has 5 and more, words and hex less


def _fold_runs(text: str, lower_case: bool) -> str:
    """Confusables in each run of letters and digits take the run's majority (see the module doc);
    look-alike letters take the case of a run mostly in capitals, and (``lower_case``) of a run
    mostly in lower case."""
    out, pos = [], 0
    for m in _RUN.finditer(text):
        run = m.group()
        digits = sum(c.isdigit() for c in run)
        letters = len(run) - digits
        if digits > letters:
            folded = run.translate(_TO_DIGIT)
        elif letters > digits:
            upper = sum(c.isupper() for c in run)
            lower = letters - upper
            if upper > lower:
                folded = run.translate(_DIGIT_TO_UPPER).translate(_UPPER_CASE)
            elif lower > upper:
                folded = run.translate(_DIGIT_TO_LOWER)
                folded = folded.translate(_LOWER_CASE) if lower_case else folded
            else:
                folded = run
        else:
            folded = run
        if folded != run:
            out.append(text[pos:m.start()] + folded)
            pos = m.end()
    return "".join(out) + text[pos:] if out else text


def ocr_skeleton(text: str) -> str:
    """``text`` lower-cased with each group of confusable characters folded to one, same length:
    ``A1ice@W0rkstation`` and ``alice@workstation`` have one skeleton."""
    return lower_keeping_offsets(text).translate(_SKELETON)


def _fold_lower(text: str) -> str:
    return lower_keeping_offsets(text.translate(_FOLD_LOWER))


def _tokenish(run: str) -> bool:
    """A run that OCR may have cut with a space: long, and random-looking (digits, or mixed case)."""
    return len(run) >= 10 and (any(c.isdigit() for c in run) and any(c.isalpha() for c in run)
                               or len(run) >= 16 and run.lower() != run != run.upper())


def _joined(text: str, in_tokens: bool) -> tuple[str, list[int]] | None:
    """``text`` without the spaces OCR probably inserted (around ``:/.@``; ``in_tokens``: also next
    to a long random-looking run), and where each kept character came from."""
    drop = {i for m in _PUNCT_SPACES.finditer(text) for i in range(m.start(), m.end())}
    left = 0  # where the run before the space starts, the spaces dropped so far left out
    for m in _INSERTED_SPACE.finditer(text) if in_tokens else ():
        i = m.start()
        right = text.find(" ", i + 1)
        right = len(text) if right < 0 else right
        before = "".join(c for j, c in enumerate(text[left:i], left) if j not in drop)
        after = text[i + 1:right]
        if (_tokenish(before) or _tokenish(after)) and not _WORD.fullmatch(before) and not _WORD.match(after):
            drop.add(i)  # not next to a word: `x0xb -6864...`, but `... done`, `... dist/*` stay apart
        elif i not in drop:
            left = i + 1
    if not drop:
        return None
    keep = [i for i in range(len(text)) if i not in drop]
    return "".join(text[i] for i in keep), keep


def _split(text: str) -> tuple[str, list[int]] | None:
    """``text`` with a space before each secret's name or option glued to a word and after each
    context word glued to what follows, and where each character came from (an added space takes
    the offset of the character after it)."""
    skeleton = ocr_skeleton(text)
    cuts = {m.start() for m in _GLUED_KEYWORD.finditer(skeleton) if text[m.start()].islower()}
    cuts |= {m.start() for m in _GLUED_FLAG.finditer(text)}
    cuts |= {m.end(1) for m in _GLUED_WORD.finditer(skeleton)  # a word of its own, or made one by a cut
             if m.start() in cuts or not (m.start() and skeleton[m.start() - 1].isalpha())}
    if not cuts:
        return None
    parts, origin, pos = [], [], 0
    for cut in sorted(cuts):
        parts += [text[pos:cut], " "]
        origin += [*range(pos, cut), cut]
        pos = cut
    parts.append(text[pos:])
    origin += range(pos, len(text))
    return "".join(parts), origin


def _key_lines(text: str) -> Iterator[Found]:
    """Long random base64 strings standing alone: the body lines of a private key, and the like."""
    for m in _BASE64_RUN.finditer(text):
        run = m.group().rstrip("=")
        if not run.startswith("AAAA") and sum(c not in _HEX for c in run) * 4 >= len(run) \
                and rules.mixed(run) and rules.entropy(run) >= MIN_KEY_LINE_ENTROPY:
            yield m.start(), m.end(), "private_key", 2


def _tokens(text: str) -> Iterator[Found]:
    return rules.find_tokens(text, gated=False, glued=True)


def _pii(text: str) -> Iterator[Found]:
    low = lower_keeping_offsets(text)
    yield from pii.find_pii(text, low)
    yield from _spaced_cards(text, low)


def _spaced_cards(text: str, low: str) -> Iterator[Found]:
    """Card numbers whose groups OCR ran together or split (``5300 50546632 9087``), after a word
    that names a card (``pii`` needs one separator throughout)."""
    for m in _SPACED_DIGITS.finditer(text):
        if _CARD_WORD_BEFORE.search(low, max(0, m.start() - 30), m.start()) \
                and pii.card_ok(m.group().replace(" ", "").replace("-", "")):
            yield m.start(), m.end(), "card", 1


def _keywords(text: str) -> Iterator[Found]:
    return rules.find_keywords(text, lower_keeping_offsets(text))


_Finder = Callable[[str], Iterator[Found]]
_ALL: tuple[_Finder, ...] = (_tokens, _keywords, _pii, _key_lines)
_NO_KEYWORDS: tuple[_Finder, ...] = (_tokens, _pii, _key_lines)
_JOINED: tuple[_Finder, ...] = (_tokens, _key_lines)  # words glued to an address or a number are no PII
_PUNCT_JOINED: tuple[_Finder, ...] = (_tokens, _pii, _key_lines)  # `a@firma. de`; no `password:Enter`
# the variants of a line, and the rule families that run on each (see the module docstring)
_VARIANTS: tuple[tuple[Callable[[str], str], tuple[_Finder, ...]], ...] = (
    (lambda t: t, _ALL),
    (lambda t: _fold_runs(t, lower_case=False), _ALL),  # K
    (lambda t: _DOT_READ_AS_COMMA.sub(".", _fold_runs(t, lower_case=True)), _NO_KEYWORDS),  # C
    (_fold_lower, _NO_KEYWORDS),  # L
)


def _found(text: str, families: tuple[_Finder, ...]) -> list[Found]:
    """The hits of ``families`` (of those each variant allows) in every folded variant of ``text``."""
    found: list[Found] = []
    seen: set[str] = set()
    for fold, finders in _VARIANTS:
        variant = fold(text)
        if variant in seen:
            continue
        seen.add(variant)
        for finder in finders:
            if finder in families:
                found.extend(finder(variant))
    return found


def find_hits_ocr(text: str) -> list[Hit]:
    """The hits in a line read by OCR, allowing for OCR's errors (see the module docstring).

    Args:
        text: one line of OCR output.

    Returns:
        Non-overlapping hits in order, with offsets into ``text``.
    """
    line = _STRAY_UNDERSCORE.sub(" ", text.translate(_ASCII))
    found = _found(line, _ALL)
    variants = ((_joined(line, in_tokens=False), _PUNCT_JOINED), (_joined(line, in_tokens=True), _JOINED),
                (_split(line), _ALL))
    for variant, families in variants:
        if variant is None:
            continue
        changed, origin = variant
        for start, end, label, priority in _found(changed, families):
            found.append((origin[start], origin[end - 1] + 1, label, priority))
    found = [f for f in found if f[2] != "email" or _lettered_domain(line[f[0]:f[1]])]
    return [Hit(label, start, end) for start, end, label, _ in resolve(found)] if found else []


def _lettered_domain(address: str) -> bool:
    """The domain, as read, has a letter that is no misread digit: ``pkg@1.2.1l`` is a version."""
    domain = re.match(r"[\w.-]*", address.rpartition("@")[2])
    return domain is not None and any(c.isalpha() and c not in _CONFUSABLE_LETTERS for c in domain.group())
