"""The secret rules: vendor tokens, private keys, URL passwords, keyword assignments, command lines.

Each finder yields ``(start, end, label, priority)``; ``text.py`` resolves overlaps (higher priority,
then longer, wins) and substitutes placeholders. Priorities: private key blocks 4, vendor tokens 3,
keyword rules 2, PII (``pii.py``) 1.

Speed: Python's ``re`` skips quickly to a pattern's *literal* prefix but tries every position of a
pattern that starts with a look-behind, a class or ``(?i)`` (about 25 MB/s instead of 1 GB/s). So
every pattern here starts with a literal (``AKIA``, ``://``, ``eyJ``) and the context before a
match is checked afterwards; most vendor tokens come from one scan for long ``[\\w-]`` runs and a
look at how each run starts; keywords are searched in a lower-cased copy of the text, with what
must follow them (a separator, a header value, a random string) checked in the same search.

Keywords: the secret-naming words of detect-secrets' ``KeywordDetector`` (password, passwd, pwd,
secret, token, api_key...) are found in identifiers (``DB_PASSWORD``, ``aws_secret_access_key``,
``"apiKey"``, ``--token``), and the value after ``=``, ``:``, ``=>`` or a flag's space is redacted
unless it is a reference (``os.environ[...]``, ``$VAR``, ``{{ var }}``, ``self.password = pw``), a
type, a mask (``****``), empty, or part of a longer expression (``x = a + b``). Values of tokens,
secrets and keys must look machine-made (a digit, or 16+ mixed-case characters); passwords may be
words. Comparisons (``token == "lambda"``) count only against password-like literals. Publishable
keys (Stripe ``pk_live_``) are public by design and are kept.

IP addresses: every IPv4 and IPv6 address is redacted, private ranges (10/8, 192.168/16, fc00::/7)
included, since they map a home or office network. Not redacted: loopback (127/8, ``::1``), the
unspecified address (0.0.0.0, ``::``), 255.x netmasks and four-part numbers that are versions by
their context (``Chrome/120.0.0.0``, ``Version=4.0.0.0``, ``pkg==1.2.3.4``, ``v1.2.3.4``,
``1.2.5.1-2``). A bare ``1.2.3.4`` is an address.
"""

from __future__ import annotations

import base64
import binascii
import collections
import functools
import math
import re
import string
from collections.abc import Callable, Iterator
from typing import NamedTuple

Found = tuple[int, int, str, int]
PII_LABELS = {"email": "EMAIL", "phone": "PHONE", "card": "CARD", "iban": "IBAN", "ssn": "SSN", "ip": "IP"}
_WORDISH = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


IDENTITY_PLACEHOLDERS = {"home": "~", "user_host": "<USER>@<HOST>", "host": "<HOST>"}
"""What stands in for the contributor's home path, user@host and host name (``redact.identity``)."""


def placeholder(label: str) -> str:
    """``<EMAIL>`` for a PII label, ``~``/``<HOST>`` for identity, ``<SECRET:label>`` for a secret."""
    if label in IDENTITY_PLACEHOLDERS:
        return IDENTITY_PLACEHOLDERS[label]
    return f"<{PII_LABELS[label]}>" if label in PII_LABELS else f"<SECRET:{label}>"


def mixed(s: str) -> bool:
    """Random tokens mix classes; words, paths and identifiers rarely have digits and both cases."""
    return any(c.isdigit() for c in s) and any(c.isupper() for c in s) and any(c.islower() for c in s)


def entropy(s: str) -> float:
    """Shannon entropy in bits per character."""
    n = len(s)
    return -sum(k / n * math.log2(k / n) for k in collections.Counter(s).values())


def _b64_private_key(s: str) -> bool:
    """A base64 string that decodes to a PEM private key header (a Kubernetes secret, for instance)."""
    try:
        return b"PRIVATE KEY" in base64.b64decode(s[:60] + "=" * (-len(s[:60]) % 4))
    except (binascii.Error, ValueError):
        return False


# ---------------------------------------------------------------- vendor tokens (case-sensitive)
class TokenRule(NamedTuple):
    """A vendor token: ``pattern`` starts with a literal; ``before`` must match just before it."""

    label: str
    pattern: re.Pattern[str]
    group: int = 0                          # the group that holds the secret
    before: re.Pattern[str] | None = None   # context that must end where the match starts
    widen: bool = False                     # the context is part of the token (``\\d{8,10}`` + ``:AA...``)
    check: Callable[[str], bool] | None = None
    first: str = ""                         # set: the token is a long run of [\\w-] starting with this


def _before(pattern: str) -> re.Pattern[str]:
    """Context that must end right where a token starts, with nothing word-like before it."""
    return re.compile(f"(?<![\\w-]){pattern}\\Z")


_EDGE = r"(?![\w-])"

# A private key block: its BEGIN line, then key material (base64 body lines, PEM headers such as
# ``Proc-Type:``/``DEK-Info:`` and the blank line after them), then its END line. A block ends at
# its END line or at the first line that is not key material, so a truncated key pasted into a log
# takes the log lines after it with it no more. Line breaks may be real or escaped (``\n`` inside a
# JSON or code string); a body line may be quoted and continued (``"MIIE...\n" +``).
_PEM_SEP = r"(?:\r?\n|\\r\\n|\\n)"
_PEM_B64 = r"=?[A-Za-z0-9+/]+={0,2}"  # "=" first: the checksum line of a PGP key
# the end of a line of the block: a string closed (`\n" +`, `",`), a shell line continued (` \`)
_PEM_LINE_END = r"(?:(?:\\r)?\\n(?=[\"'`]))?[\"'`]?[ \t]*(?:[,+]|\\(?=\r?\n))?[ \t]*\r?"
_PEM_HEADER = r"[ \t]*(?:Proc-Type|DEK-Info|Version|Comment|Hash|Charset|MessageID):[^\n\\]*"
_PEM_BODY_LINE = (rf"[ \t]*[\"'`]?{_PEM_B64}{_PEM_LINE_END}"
                  r"(?=\r?\n|\\n|\\r\\n|\Z|[ \t]*-----END)")  # the whole line, not a word of a log line
_PEM_END = r"-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
PRIVATE_KEY_REST = (rf"(?:{_PEM_SEP}{_PEM_HEADER})*(?:{_PEM_SEP}[ \t]*\r?(?={_PEM_SEP}))?"
                    rf"(?:{_PEM_SEP}{_PEM_BODY_LINE})*(?P<end>(?:{_PEM_SEP})?[ \t]*[\"'`]?{_PEM_END})?")
"""What follows the BEGIN line in a private key block: headers, a blank line, body lines, the END line."""
# the BEGIN line; the rest of its line is a body too (a key whose line breaks became spaces)
PRIVATE_KEY_BLOCK = re.compile(r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----"
                               rf"(?:[ \t]*{_PEM_B64}(?:[ \t]+{_PEM_B64})*)?{_PEM_LINE_END}"
                               + PRIVATE_KEY_REST)
_T = TokenRule
TOKENS: list[TokenRule] = [
    _T("aws_access_key", re.compile(r"A(?:KIA|SIA|BIA|CCA|3T[A-Z0-9])[A-Z0-9]{16}(?![A-Za-z0-9])"),
       first="A"),
    _T("gcp_api_key", re.compile(r"AIza[\w-]{35}" + _EDGE), first="AIza"),
    _T("gcp_service_account", re.compile(r"\"private_key_id\"[ \t]*:[ \t]*\"([0-9a-f]{40})\""), 1),
    _T("github_token", re.compile(r"gh[pousr]_[A-Za-z0-9]{36,251}" + _EDGE), first="gh"),
    _T("github_token", re.compile(r"github_pat_[A-Za-z0-9_]{50,255}" + _EDGE), first="github_pat_"),
    _T("gitlab_token", re.compile(r"gl(?:pat|dt|ft|soat|rt|ptt|cbt|imt|oas|agent|ffct)-[\w-]{20,}" + _EDGE),
       first="gl"),
    _T("gitlab_token", re.compile(r"GR1348941[\w-]{20,}" + _EDGE), first="GR1348941"),
    _T("slack_token", re.compile(r"xox[abposre]-[A-Za-z0-9-]{10,}" + _EDGE), first="xox"),
    _T("slack_token", re.compile(r"xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+" + _EDGE), first="xapp-"),
    _T("slack_webhook", re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[\w/-]{20,}")),
    _T("stripe_key", re.compile(r"sk_(?:live|test)_[A-Za-z0-9]{16,}" + _EDGE), first="sk_"),
    _T("stripe_key", re.compile(r"rk_(?:live|test)_[A-Za-z0-9]{16,}" + _EDGE), first="rk_"),
    _T("stripe_key", re.compile(r"whsec_[A-Za-z0-9+/=]{24,}" + _EDGE)),
    _T("anthropic_key", re.compile(r"sk-ant-[a-z]+\d*-[\w-]{20,}" + _EDGE), first="sk-ant-"),
    _T("openai_key", re.compile(r"sk-(?!ant-)(?:[a-z]+-)?[\w-]{20,}" + _EDGE), check=mixed, first="sk-"),
    _T("npm_token", re.compile(r"npm_[A-Za-z0-9]{36}" + _EDGE), first="npm_"),
    _T("pypi_token", re.compile(r"pypi-AgE[\w-]{50,}"), first="pypi-"),
    _T("jwt", re.compile(r"eyJ[\w-]{6,}\.eyJ[\w-]{6,}(?:\.[\w-]*){0,3}"), first="eyJ"),
    _T("private_key", PRIVATE_KEY_BLOCK),
    _T("private_key", re.compile(r"LS0tLS1CRUdJTi[A-Za-z0-9+/]{20,}={0,2}"), check=_b64_private_key),
    _T("azure_storage_key", re.compile(r"AccountKey=([A-Za-z0-9+/]{40,}={0,2})"), 1),
    _T("azure_storage_key", re.compile(r"SharedAccessKey=([A-Za-z0-9+/]{40,}={0,2})"), 1),
    _T("azure_sas_token", re.compile(r"sig=([A-Za-z0-9%+/=]{30,})"), 1, before=re.compile(r"[?&]\Z")),
    _T("azure_client_secret", re.compile(r"Q~[\w~.-]{31,34}(?![\w~.-])"), before=_before(r"[\w~.]{3}\d"),
       widen=True),
    _T("api_token", re.compile(r"SG\.[\w-]{22}\.[\w-]{43}" + _EDGE)),
    _T("api_token", re.compile(r"hf_[A-Za-z]{30,40}" + _EDGE), first="hf_"),
    _T("api_token", re.compile(r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}" + _EDGE), first="shp"),
    _T("api_token", re.compile(r"do[por]_v1_[a-f0-9]{64}" + _EDGE), first="do"),
    _T("api_token", re.compile(r"GOCSPX-[\w-]{28}" + _EDGE), first="GOCSPX-"),
    _T("api_token", re.compile(r"hv[sb]\.[\w-]{24,}" + _EDGE)),
    _T("api_token", re.compile(r"key-[0-9a-f]{32}" + _EDGE), first="key-"),
    _T("api_token", re.compile(r"dp\.(?:st|pt|ct|sa)\.[\w-]{40,}" + _EDGE)),
    _T("api_token", re.compile(r"ATATT3[\w=-]{100,}" + _EDGE), first="ATATT3"),
    _T("api_token", re.compile(r"dapi[a-f0-9]{32}" + _EDGE), first="dapi"),
    _T("api_token", re.compile(r"lin_api_[A-Za-z0-9]{40}" + _EDGE), first="lin_api_"),
    _T("api_token", re.compile(r"ntn_[A-Za-z0-9]{40,}" + _EDGE), first="ntn_"),
    _T("api_token", re.compile(r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}" + _EDGE), first="PMAK-"),
    _T("api_token", re.compile(r"gl(?:sa|c)_[A-Za-z0-9_]{32,}" + _EDGE), first="gl"),
    _T("api_token", re.compile(r"figd_[\w-]{40,}" + _EDGE), first="figd_"),
    _T("api_token", re.compile(r"r8_[A-Za-z0-9]{37}" + _EDGE), first="r8_"),
    _T("api_token", re.compile(r"gsk_[A-Za-z0-9]{48,}" + _EDGE), first="gsk_"),
    _T("api_token", re.compile(r"pplx-[A-Za-z0-9]{48}" + _EDGE), first="pplx-"),
    _T("api_token", re.compile(r"sq0(?:atp|csp)-[\w-]{22,43}" + _EDGE), first="sq0"),
    _T("api_token", re.compile(r"EAAA[\w-]{60}" + _EDGE), first="EAAA"),
    _T("api_token", re.compile(r"-us\d{1,2}" + _EDGE), before=_before(r"[0-9a-f]{32}"), widen=True),
    _T("api_token", re.compile(r":AA[\w-]{33}" + _EDGE), before=_before(r"\d{8,10}"), widen=True),
    _T("url_password", re.compile(r"://[^\s:/?#@'\"<>]*:([^\s@/'\"<>]+)@(?=[\w\[])"), 1,
       before=_before(r"([A-Za-z][\w+.-]{1,30})")),
]
# one search that tells whether any token rule can match (used for short texts)
TOKEN_GATE = re.compile(r"A(?:KIA|SIA|BIA|CCA|3T)|AIza|private_key_id|gh[pousr]_|github_pat_|gl[a-z]{2,7}-"
                        r"|GR13|xox|xapp-|_live_|_test_|whsec_|sk-|npm_|pypi-|eyJ|-----BEGIN|LS0tLS1CRUdJTi|AccessKey="
                        r"|AccountKey=|sig=|Q~|SG\.|hf_|shp|_v1_|GOCSPX|hv[sb]\.|key-|dp\.|ATATT|dapi|lin_api|ntn_"
                        r"|PMAK|glsa_|glc_|figd_|r8_|gsk_|pplx-|sq0|EAAA|-us\d|:AA|://")
_DB_SCHEMES = ("postgres", "postgresql", "mysql", "mariadb", "mongodb", "redis", "rediss", "amqp", "amqps",
               "mssql", "sqlserver", "oracle", "jdbc", "clickhouse", "cockroachdb", "neo4j", "cassandra",
               "db2")
_CONTEXT_WINDOW = 40
RUN_RULES = [r for r in TOKENS if r.first]
SCANNED_RULES = [r for r in TOKENS if not r.first]
_RUN_CHARS = string.ascii_letters + string.digits + "_-"
_RUNS = str.maketrans(_RUN_CHARS, "a" * len(_RUN_CHARS))
_LONG_RUN = re.compile("a" * 15 + "a*")  # on the translated copy: 15 or more [\w-] in a row
_RUN_PREFIX = re.compile("|".join(sorted({re.escape(r.first) for r in RUN_RULES}, key=len, reverse=True)))
_ANY_RUN_PREFIX = re.compile(f"(?=({_RUN_PREFIX.pattern}))")  # every position where a prefix starts
_RUN_BY_FIRST: dict[str, list[TokenRule]] = collections.defaultdict(list)
for _rule in RUN_RULES:
    _RUN_BY_FIRST[_rule.first].append(_rule)


def find_tokens(text: str, gated: bool, glued: bool = False) -> Iterator[Found]:
    """Vendor tokens, private key blocks and passwords in URLs (``gated``: only if an anchor is there).

    Most vendor tokens are long runs of ``[\\w-]`` that start with a known prefix: those are found
    with one scan for long runs (in a copy where every such character is ``a``) and a look at how
    each run starts; the other rules scan the text for their own literal. ``glued``: a token may
    also start inside a run, right after a word (OCR drops spaces: ``tokenAKIA...``).
    """
    if gated and not TOKEN_GATE.search(text):
        return
    for rule in SCANNED_RULES:
        for m in rule.pattern.finditer(text):
            yield from _token(text, rule, m, glued)
    if glued:
        yield from _glued_tokens(text)
        return
    for run in _LONG_RUN.finditer(text.translate(_RUNS)):
        p = run.start()
        if first := _RUN_PREFIX.match(text, p):
            for rule in _RUN_BY_FIRST[first.group()]:
                if m := rule.pattern.match(text, p):
                    yield from _token(text, rule, m)


def _glued_tokens(text: str) -> Iterator[Found]:
    """The run-prefixed tokens of ``find_tokens`` starting anywhere in a run, not only at its start."""
    for run in _LONG_RUN.finditer(text.translate(_RUNS)):
        for first in _ANY_RUN_PREFIX.finditer(text, run.start(), run.end()):
            for rule in _RUN_BY_FIRST[first.group(1)]:
                if m := rule.pattern.match(text, first.start()):
                    yield from _token(text, rule, m, glued=True)


def _token(text: str, rule: TokenRule, m: re.Match[str], glued: bool = False) -> Iterator[Found]:
    """The hit for a candidate of ``rule``, if its context and value checks pass."""
    start = m.start()
    ctx = None
    if rule.before is not None:
        ctx = rule.before.search(text, max(0, start - _CONTEXT_WINDOW), start)
        if ctx is None:
            return
        if rule.widen:
            start = ctx.start()
    elif start and text[start - 1] in _WORDISH and not (glued and text[start - 1].isalnum()):
        return
    value = m.group(rule.group)
    if rule.check is not None and not rule.check(value):
        return
    label = rule.label
    if label == "url_password":
        if not literal(value, quoted=True):
            return
        scheme = ctx.group(1).lower()  # type: ignore[union-attr]
        label = "connection_string" if scheme.startswith(_DB_SCHEMES) else "password_in_url"
    if rule.group:
        yield m.start(rule.group), m.end(rule.group), label, 3
    else:
        yield start, m.end(), label, 4 if label == "private_key" else 3


# ---------------------------------------------------------------- keyword rules (lower-cased text)
# one search (in the lower-cased text) that tells whether any keyword or command rule can match
KEYWORD_GATE = re.compile(r"pass|pw|secret|token|key|auth|bearer|cred|sig|login|sudo|-p|-u|-a|-w|mysql"
                          r"|mariadb|config|sqlplus|sqlldr|value|:(?:\d{1,5}|\*):")
KEYWORDS = ("pass", "pw", "secret", "token", "key", "auth", "cred", "sig")
# after a keyword: the rest of the key, a closing quote or bracket, then a separator (or a flag's space)
_TAIL = r"([a-z0-9_.-]{0,64})['\"`\]]{0,3}(?:[ \t]*[:=!]|([ \t]+)[^\s=:])"
_IDCHARS = "abcdefghijklmnopqrstuvwxyz0123456789_.-$@"
_KEY_TAIL = re.compile(_TAIL)
_FLAG_BEFORE = re.compile(r"(?<![^\s'\"=])--?[a-z0-9_.-]*\Z")
_SEP_VAL = re.compile(r"(?P<close>['\"`]?\]?['\"]?)[ \t]*(?P<sep>:=|=>|={1,3}|!==?|:|[ \t](?=[^\s=:]))[ \t]*"
                      r"(?P<val>\"[^\"\n]{0,4096}\"|'[^'\n]{0,4096}'|`[^`\n]{0,4096}`"
                      r"|['\"`]?[^\s'\"`,;]{1,4096})")
_VALUE_REST = re.compile(r"[^\s'\"`,;]*")  # the rest of a value longer than the 4096 characters matched
_AUTHZ = re.compile(r"authorization[ \t]*[:=][ \t]*['\"]?"
                    r"(?:(?:bearer|basic|token|bot|digest|apikey|key|sso-key)[ \t]+)?(?P<v>[^\s'\"]{8,4096})")
_PROSE = re.compile(r"(?:pass(?:word|phrase|code|wd)|pw)[ \t]+(?:is|was|:)[ \t]+(?P<v>\S{6,})")
_NEAR = re.compile(r"(?:passw(?:or)?d|pwd|secret|token|key|credential)s?\b[^\n]{0,24}?(?<![\w+/=.~-])"
                   r"(?P<v>[a-z0-9+/_~.-]{20,}={0,2})(?![\w+/=~-])")
# per keyword, what else may follow it: a header, "password is ...", a random string near it
_LONG = r"s?\b[^\n]{0,24}?[a-z0-9+/_~.-]{20}"
_PROSE_AFTER = r"[ \t]+(?:is|was|:)[ \t]"
_AFTER = {"pass": rf"(?:word|phrase|code|wd){_PROSE_AFTER}|w(?:or)?d{_LONG}",
          "pw": rf"{_PROSE_AFTER}|d{_LONG}", "secret": _LONG, "token": _LONG, "key": _LONG,
          "auth": r"orization[ \t]*[:=]", "cred": rf"ential{_LONG}", "sig": r"(?!)"}
_KW_RX = [re.compile(f"{k}(?={_TAIL}|{_AFTER[k]})") for k in KEYWORDS]


class CommandRule(NamedTuple):
    """A credential on a command line or in a config line; ``pattern`` runs on the lower-cased text."""

    label: str
    pattern: re.Pattern[str]
    before: re.Pattern[str] | None = None   # context that must come before the match, on its line
    keyed: bool = False                     # the label comes from the key (group ``k`` or the XML key before)
    words: tuple[str, ...] = ()             # one of these must be in the 200 characters before (quick test)


def _cmd(label: str, pattern: str, before: str | None = None, keyed: bool = False,
         same_command: bool = True) -> CommandRule:
    tail = r"[^|;&\n]*\Z" if same_command else r"\Z"
    words = tuple(re.findall(r"[a-z][a-z-]+", before.split(")")[0])) if before and same_command else ()
    return CommandRule(label, re.compile(pattern, re.M), re.compile(before + tail) if before else None, keyed,
                       words)


_Q, _V = r"(?P<q>['\"]?)", r"(?P<v>[^\s'\"]+)(?P=q)"
COMMANDS = [
    _cmd("credential", r"bearer[ \t]+(?P<v>[\w.~+/-][^\s'\"]{15,})"),
    _cmd("credential", r"config(?::set)?[ \t]+(?:--?[\w-]+[ \t]+)*(?P<k>[\w.:-]+)[ =]" + _Q + _V, keyed=True),
    _cmd("credential", r"configure[ \t]+set[ \t]+(?:--?[\w-]+[ \t]+)*(?P<k>[\w.:-]+)[ =]" + _Q + _V,
         keyed=True),
    _cmd("credential", r"secret[ \t]+set[ \t]+(?:--?[\w-]+[ \t]+)*(?P<k>[\w.:-]+)[ =]" + _Q + _V, keyed=True),
    _cmd("credential", r"value[ \t]*=[ \t]*(?P<q>\")(?P<v>[^\"\n]*)\"", keyed=True),
    _cmd("password", r"m(?:ysql|ysqldump|ariadb|ysqladmin)\b[^|;&\n]{0,256}?[ \t]-p" + _Q + _V),
    _cmd("password", r"sshpass[ \t]+-p[ \t]*" + _Q + _V),
    _cmd("password", r"login\b[^|;&\n]{0,256}?[ \t]-p[ \t]+" + _Q + _V,
         r"\b(?:docker|podman|helm|buildah|skopeo|nerdctl|oras)\b"),
    _cmd("password", r"-(?:u|-user)[ =]" + _Q + r"[^\s:'\"]+:" + _V, r"\b(?:curl|wget|http)\b"),
    _cmd("password", r"smbclient\b[^|;&\n]{0,256}?[ \t]-u[ \t]*" + _Q + r"[^\s%'\"]+%" + _V),
    _cmd("password", r"echo[ \t]+(?P<q>['\"]?)(?P<v>[^\s'\"|]+)(?P=q)[ \t]*\|[ \t]*sudo[ \t]+"
         r"(?:-\w+[ \t]+)*-s"),
    _cmd("password", r"login[ \t]+\S+[ \t]+password[ \t]+(?P<v>\S+)"),
    _cmd("password", r"htpasswd(?:[ \t]+-\w+){0,3}[ \t]+-\w*b\w*(?:[ \t]+-\w+){0,3}[ \t]+[^\s-]\S*[ \t]+\S+"
         r"[ \t]+" + _Q + _V),
    _cmd("password", r"-[awp][ \t]+" + _Q + _V, r"\b(?:redis-cli|ldap\w+|sqlcmd|zip|useradd)\b"),
    _cmd("password", r"7za?\b[^|;&\n]{0,256}?[ \t]-p" + _Q + _V),
    _cmd("password", r"unrar\b[^|;&\n]{0,256}?[ \t]-p" + _Q + _V),
    _cmd("password", r"rar\b[^|;&\n]{0,256}?[ \t]-p" + _Q + _V),
    _cmd("password", r"pass:" + _Q + _V),
    _cmd("password", r"sql(?:plus|ldr)\b[^|;&\n]{0,256}?[ \t][^\s/@'\"]+/(?P<v>[^\s@/'\"]+)@"),
    _cmd("credential", r"<(?P<k>[\w:.-]{0,30}?(?:pass|pwd|secret|token|key)[\w:.-]{0,30})>"
         r"(?P<v>[^<\n]{1,200})</(?P=k)>", keyed=True),
    _cmd("password", r":(?:\d{1,5}|\*):[^:\s]+:[^:\s]+:(?P<v>\S+)$", r"(?:^|\n)[\w.-]+", same_command=False),
]
_XML_KEY_BEFORE = re.compile(r"(?:key|name)[ \t]*=[ \t]*\"([^\"]{1,60})\"[ \t]+\Z")

_PARTS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_PW_PARTS = {"password", "passwd", "pass", "passphrase", "passcode", "pwd", "pw"}
_SECRET_PARTS = {"secret", "token", "apikey", "credentials", "credential", "auth", "sig", "signature", "pat"}
_KEY_QUALIFIERS = {"api", "access", "secret", "private", "account", "auth", "master", "encryption", "signing",
                   "client", "app", "service", "storage", "shared", "subscription", "consumer", "license",
                   "session"}
_NOT_VALUES = {"none", "null", "nil", "true", "false", "undefined", "yes", "no", "on", "off", "required",
               "optional", "string", "str", "bytes", "int", "integer", "bool", "boolean", "any", "object",
               "text", "password", "passwd", "secret", "token", "redacted", "hidden", "masked", "self",
               "this", "env", "default", "empty", "unknown", "example", "placeholder", "dummy", "bearer",
               "basic"}
_IDENT = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_SNAKE_OR_CAMEL = re.compile(r"[a-z]+(?:_[a-z]+)+|[a-z]+(?:[A-Z][a-z]+)+|[A-Z]+(?:_[A-Z]+)+")
_REFERENCE_WORDS = re.compile(r"(?i)pass|pwd|secret|token|key|auth|cred|env|config|settings|getenv")
_PATH = re.compile(r"(?:~|\.\.?)?/[\w.@-]+(?:/[\w.@-]*)*")
_CALL = re.compile(r"[A-Za-z_][\w.]*[(\[]")
_DIGIT = re.compile(r"\d")
_HEXDIGITS = re.compile(r"[0-9a-fA-F]+")
_MASK = "*xX•.-_#?0"
_WORDS_OR_NAMES = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+|[a-z0-9]+(?:[-_.][a-z0-9]+)+")
_STATEMENT_END = re.compile(r"[ \t]*(?:$|[,;)}\]#]|//)", re.M)


@functools.lru_cache(maxsize=4096)
def key_label(key: str) -> str | None:
    """``password``, ``credential`` or ``aws_secret_key`` when ``key`` names a secret, else ``None``."""
    parts = [p.lower() for p in _PARTS.findall(key)]
    if not parts or {"public", "publishable", "pub"} & set(parts):
        return None
    last = parts[-1]
    if last in _PW_PARTS or last.endswith(("password", "passwd")):
        return "password"
    if last == "key" and len(parts) > 1 and parts[-2] in _KEY_QUALIFIERS or last in _SECRET_PARTS \
            or last.endswith(("token", "secret", "apikey")) \
            or parts[-2:] == ["key", "base"] and "secret" in parts:
        return "aws_secret_key" if "aws" in parts and "secret" in parts else "credential"
    return None


def literal(value: str, quoted: bool, spaced: bool = False) -> bool:
    """True if ``value`` is a literal secret rather than a reference, template, type or mask."""
    v = value.strip().rstrip(".!?:")
    if len(v) < (3 if quoted else 4) or v[0] in "${<" or "<" in v or not quoted and v[0] in "([" \
            or spaced and not quoted and (v[0] == "#" or v[0] == "*" and v[1:].replace("-", "_")
                                          .isidentifier()):
        return False  # a reference, placeholder or tuple; after `: ` a comment or a YAML alias (*name)
    if "{" in v and ("}" in v or "${" in v or "{{" in v) or v[0] == "%" and v[1] in "({s" \
            or v[0] == "!" and v[1:].isalpha() or not v.strip(_MASK) or v.lower() in _NOT_VALUES:
        return False
    if quoted:
        return True
    if v[0] in "/~." and _PATH.fullmatch(v) or _CALL.match(v):
        return False
    if _IDENT.fullmatch(v):
        digit = _DIGIT.search(v)
        if "." in v and (spaced or not digit):
            return False  # `settings.SECRET_KEY`, `os.environ`
        if not digit and (_SNAKE_OR_CAMEL.fullmatch(v)
                          or (spaced or "_" in v) and _REFERENCE_WORDS.search(v)):
            return False  # `user_input`, `newPassword`, `DB_PASS`, `password = secret_from_vault`
    return True


def _passwordish(v: str) -> bool:
    """Prose such as "the password is X": X must look like a password, not like a word."""
    v = v.rstrip(".,;:!?)")
    return len(v) >= 6 and (_DIGIT.search(v) is not None or not v.isalnum() or v.lower() != v != v.upper())


def _random_looking(v: str) -> bool:
    """A string next to a keyword that looks generated: digits and letters, high Shannon entropy."""
    if not _DIGIT.search(v) or v.isdigit() or _WORDS_OR_NAMES.fullmatch(v):
        return False  # `sha256_module.sha256`, `ip3._get_networks_key`, `bert-base-uncased`
    if "/" in v and not mixed(v.replace("/", "")):
        return False  # a path
    v = v[:64]
    return entropy(v) >= (3.0 if _HEXDIGITS.fullmatch(v) else 3.5)


def _header_value(v: str) -> bool:
    """The value of an Authorization header: a credential, not code that reads one."""
    return literal(v, quoted=False) and _credentialish(v)


_AT_KEYWORD: list[tuple[re.Pattern[str], Callable[[str], bool], str]] = [
    (_AUTHZ, _header_value, "credential"), (_PROSE, _passwordish, "password"),
    (_NEAR, _random_looking, "high_entropy")]


def _assignment(text: str, low: str, i: int, j: int) -> tuple[Found | None, int]:
    """The secret assigned to the identifier around ``low[i:j]`` (a keyword), if any, and where the
    value examined ends (-1 if none was): keywords inside that value are not looked at again."""
    tail = _KEY_TAIL.match(low, j)
    j, k = tail.end(1), tail.end() - 1  # type: ignore[union-attr]
    head = low[max(0, i - 64):i]
    i -= len(head) - len(head.rstrip(_IDCHARS))
    if i and low[i - 1] == "<" or low[k] not in ":=!" and low[i] != "-":
        return None, -1  # a placeholder; or `password policy`: only flags take a value after a space
    key = text[i:j].lstrip("-$@")
    label = key_label(key)
    m = _SEP_VAL.match(text, j) if label else None
    if m is None:
        return None, -1
    start, end = m.span("val")
    val = m.group("val")
    quoted = val[:1] in "\"'`" and len(val) >= 2 and val[-1] == val[0]
    if not quoted:
        if val[:1] in "\"'`":
            start += 1  # an opening quote without its closing one in reach: a long or broken value
        if end - start >= 4096:
            end = _VALUE_REST.match(text, end).end()  # type: ignore[union-attr]
    return _judge(text, m, key, label, start, end, quoted), end  # type: ignore[arg-type]


def _judge(text: str, m: re.Match[str], key: str, label: str, start: int, end: int,
           quoted: bool) -> Found | None:
    """The hit for the value ``text[start:end]`` assigned to ``key``, unless it is not a secret."""
    sep, value_end = m.group("sep"), end
    if not quoted and text[value_end:value_end + 1] in ("\"", "'", "`") and text[value_end:value_end + 1]:
        value_end += 1  # the closing quote of a value too long for the quoted pattern
    if quoted:
        start, end = start + 1, end - 1
    else:
        while end > start and text[end - 1] in ")]}>:;,\"'`":
            end -= 1
    value = text[start:end]
    spaced = text[m.end("close"):m.start("val")] != sep
    if sep in ("==", "===", "!=", "!==") and not (quoted and _passwordish(value)):
        return None  # `if token == "lambda"`: a comparison in code, unless against a password-like literal
    if spaced and not _STATEMENT_END.match(text, value_end):
        return None  # `x = a + b`, `a = b = ''`, `"pwd: expected bytes"`: an expression or prose
    if spaced and not quoted and "." in key and _IDENT.fullmatch(value) and not _DIGIT.search(value):
        return None  # `self.password = user`: an attribute set from a variable
    if label != "password" and not _credentialish(value) or key.lower() == "auth" and len(value) < 12:
        return None  # `auth` alone: `AUTH=CRAM-MD5` in IMAP capabilities is not a credential
    return (start, end, label, 2) if literal(value, quoted, spaced) else None


def _credentialish(v: str) -> bool:
    """Machine-made tokens and keys have digits, or are long and mixed-case; not hex or dotted numbers."""
    v = v.strip()
    if len(v) < 8 or v.startswith(("0x", "0X")) or not v.strip("0123456789."):
        return False
    return _DIGIT.search(v) is not None or len(v) >= 16 and v.lower() != v != v.upper()


def find_keywords(text: str, low: str) -> Iterator[Found]:
    """``password=...``-style assignments, headers, command lines, and high entropy near keywords.

    ``low`` is ``text.lower()`` with the same length (offsets are shared).
    """
    flag = _FLAG_BEFORE.search
    for rx in _KW_RX:
        covered = -1  # the end of the last value examined: keywords inside it were judged with it
        for m in rx.finditer(low):
            i = m.start()
            if i < covered:
                continue
            # a value after a space counts only after a flag (`--password x`, not `password policy`)
            spaced_ok = not m.group(2) or low[i - 1] == "-" or flag(low, max(0, i - 40), i)
            if m.group(1) is not None and spaced_ok:
                hit, covered = _assignment(text, low, i, m.end())
                if hit is not None:
                    yield hit
                    continue
            if i and low[i - 1].isalpha() and not text[i].isupper():
                continue  # `bypass`, `monkey`, `pwdhash`: not a keyword of its own
            for matcher, check, label in _AT_KEYWORD:
                if (m2 := matcher.match(low, i)) is not None:
                    covered = max(covered, m2.end("v"))
                    v = text[m2.start("v"):m2.end("v")]
                    if literal(v, quoted=True) and check(v):
                        yield m2.start("v"), m2.end("v"), label, 2
                        break
    yield from _commands(text, low)


def _commands(text: str, low: str) -> Iterator[Found]:
    """Credentials on command lines (``mysql -pX``, ``curl -u user:X``...) and in config lines."""
    for rule in COMMANDS:
        for m in rule.pattern.finditer(low):
            s = m.start()
            if s and low[s].isalpha() and low[s - 1] in _WORDISH:
                continue
            if rule.words and not any(w in low[max(0, s - 200):s] for w in rule.words):
                continue
            if rule.before is not None and not rule.before.search(low, max(0, s - 200), s):
                continue
            label = rule.label
            if rule.keyed:
                if m.re.groupindex.get("k"):
                    key = text[m.start("k"):m.end("k")]
                else:
                    km = _XML_KEY_BEFORE.search(text, max(0, s - 80), s)
                    key = km.group(1) if km else ""
                label = key_label(key) or ""
                if not label:
                    continue
            quoted = "q" in m.re.groupindex and m.group("q") in ("'", '"')
            if literal(text[m.start("v"):m.end("v")], quoted=quoted):
                yield m.start("v"), m.end("v"), label, 2
