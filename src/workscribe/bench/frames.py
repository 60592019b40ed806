"""Frame redaction: speed on one core, recall of secrets on screen, fills on ordinary lines.

Recall and fills are measured on rendered terminal screens (1280x800, DejaVu Sans Mono at 13 px,
48 lines a page) in which 121 planted secrets and PII items (``planted_lines``: AWS, GitHub,
GitLab, Slack, Stripe, OpenAI, Anthropic, npm, PyPI, Hugging Face and Google tokens, JWTs,
passwords after keywords and options, passwords in URLs, the body lines of a private key, e-mail
addresses, phone numbers (a UK one among them), cards, IBANs, IP addresses, an SSN) sit among 74
ordinary lines (``plain_lines``: ``ls -la``, ``git log`` and ``git status``, ``df -h``,
``os-release``, pytest, pip, docker, ``ps``, ``free``, paths, dates, git SHAs and other hex). About
twenty planted lines are drawn without the space before the value (``tokenAKIA...``,
``mailjane.doe@...``, ``password:hunter2``), as OCR often reads a line anyway.

Figures:

- ``frames_per_s_full``: a full frame read whole (the first frame of a recording, a window
  switch), and ``frames_per_s_typing``: the frames of a session where one line is typed at a
  time, which the ``FrameRedactionStage`` reads row band by row band. Both are timed on the frame
  they have always been timed on (``TIMED_LINES``), so that they stay comparable.
- ``frame_secret_recall``: the share of planted values that OCR can no longer read after
  redaction. A value is still read when the OCR'd text of its row in the redacted page holds a
  run of ``LEAK_RUN`` of its characters (all of it if shorter), compared after folding the
  characters OCR confuses (``0``/``O``/``o``, ``1``/``l``/``I``...) and dropping spaces, so that a
  misread value counts as read. The rows of all pages are read once, stacked into one image.
  ``frame_secrets_leaked`` lists the lines of the values still read.
- ``frame_plain_lines_filled``: the share of ordinary lines that got any fill.
"""

from __future__ import annotations

import random
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from workscribe.testing.corpus import luhn_number, random_string

if TYPE_CHECKING:
    from workscribe.redact.image import ImageRedactor

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")
WIDTH, HEIGHT, ROW, TOP, LEFT = 1280, 800, 16, 4, 4
ROWS = (HEIGHT - TOP) // ROW - 1  # 48 lines a frame
LEAK_RUN = 8  # a run of this many characters of a value still read after redaction is a leak
# the lines of the frame whose redaction rates are timed (the same since the first frame benchmark)
TIMED_LINES = ["export AWS_ACCESS_KEY_ID=AKIAQ3MOCKKEY7EXAMPL",
               "git remote add o https://ghp_Zx81mockTOKENabcdefghijklmnopqrstuv12@github.com/a/b",
               "mail jane.doe@example.org today", "card 4111 1111 1111 1111 exp 12/29",
               "curl -u admin:Sup3r-Secret-Pw1 https://api.example.com", "ls -la /var/log",
               "git status --short", "python -m pytest -q tests/", "cd ~/src/app && make"]
UP, LO, DI = string.ascii_uppercase, string.ascii_lowercase, string.digits
AN = UP + LO + DI


@dataclass(frozen=True)
class Planted:
    """A terminal line that shows ``value`` (a secret or PII item of ``kind``)."""

    line: str
    value: str
    kind: str


_s = random_string


def _iban(country: str, bban: str) -> str:
    """An IBAN of ``country`` for ``bban`` with correct check digits, in groups of four."""
    numeric = int("".join(str(int(c, 36)) for c in bban + country + "00"))
    compact = f"{country}{98 - numeric % 97:02d}{bban}"
    return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))


def planted_lines(seed: int = 0) -> list[Planted]:
    """Terminal lines with one planted secret or PII value each (deterministic for a seed).

    Each kind has its own value drawn per template; the templates without a space before the
    value (``token{v}``) are drawn as OCR often reads a line whose space it lost.
    """
    rng = random.Random(seed)
    hex_ = "0123456789abcdef"

    def slack() -> str:
        return rng.choice(["xoxb-", "xoxp-"]) + f"{_s(rng, DI, 12)}-{_s(rng, DI, 13)}-{_s(rng, AN, 24)}"

    def webhook() -> str:
        team, bot = _s(rng, UP + DI, 8), _s(rng, UP + DI, 8)
        return f"https://hooks.slack.com/services/T{team}/B{bot}/{_s(rng, AN, 24)}"

    def jwt() -> str:
        head = rng.choice(["eyJhbGciOiJIUzI1NiJ9", "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"])
        return f"{head}.eyJzdWIiOi{_s(rng, AN, 24)}.{_s(rng, AN + '-_', 43)}"

    def password() -> str:
        return rng.choice(["Summer2024!", "hunter2hunter2", "Tr0ub4dor&3", "P@ssw0rd-" + _s(rng, DI, 3),
                           _s(rng, AN, 14), "correct-horse-" + _s(rng, LO, 5), "s3cr3t" + _s(rng, AN, 6)])

    def email() -> str:
        user = rng.choice(["jane.doe", "bob.smith", "priya", "kenji.tanaka", "a.mueller", "olga+news"])
        domain = rng.choice(["example.org", "acme-corp.io", "firma.de", "mail.co.uk"])
        return f"{user}{rng.randrange(10, 99)}@{domain}"

    def card() -> str:
        number = luhn_number(rng.choice(["4", "51", "53", "55"]), 16, rng)
        return " ".join(number[j:j + 4] for j in range(0, 16, 4)) if rng.random() < 0.5 else number

    def ip() -> str:
        first = rng.choice([10, 172, 192, 203])
        return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    table: list[tuple[str, Callable[[], str], list[str]]] = [
        ("aws_access_key", lambda: rng.choice(["AKIA", "ASIA"]) + _s(rng, UP + "234567", 16),
         ["$ export AWS_ACCESS_KEY_ID={v}", "aws_access_key_id = {v}", "token {v}", "token{v}",
          "AWS_ACCESS_KEY_ID: {v}", "key id {v}", "aws_access_key_id={v}", "keyid{v}"]),
        ("aws_secret_key", lambda: _s(rng, AN + "+/", 40),
         ["aws_secret_access_key = {v}", "export AWS_SECRET_ACCESS_KEY={v}", "AWS_SECRET_ACCESS_KEY: {v}",
          "aws_secret_access_key={v}"]),
        ("github_token", lambda: rng.choice(["ghp_", "gho_", "ghs_"]) + _s(rng, AN, 36),
         ["$ export GITHUB_TOKEN={v}", "git remote add o https://{v}@github.com/a/b", "GH_TOKEN: {v}",
          "token:{v}", "Password for 'https://alice@github.com': {v}", "github{v}", "GITHUB_TOKEN={v}",
          "oauth {v}"]),
        ("github_token", lambda: f"github_pat_11{_s(rng, UP + DI, 20)}_{_s(rng, AN, 59)}", ["{v}"]),
        ("gitlab_token", lambda: "glpat-" + _s(rng, AN + "-_", 20),
         ["PRIVATE-TOKEN: {v}", "$ export GITLAB_TOKEN={v}", "CI_JOB_TOKEN={v}", "token{v}",
          "gitlab token: {v}"]),
        ("slack_token", slack, ["$ export SLACK_BOT_TOKEN={v}", "SLACK_TOKEN={v}", "slack: {v}",
                                "bot token {v}", "SLACK_BOT_TOKEN={v}", "bottoken{v}"]),
        ("slack_webhook", webhook, ["curl -X POST {v}", "SLACK_WEBHOOK={v}"]),
        ("stripe_key", lambda: rng.choice(["sk_live_", "rk_live_", "sk_test_"]) + _s(rng, AN, 24),
         ["STRIPE_SECRET_KEY={v}", 'stripe.api_key = "{v}"', "$ stripe login --api-key {v}", "key:{v}",
          "Stripe key {v}"]),
        ("openai_key", lambda: "sk-proj-" + _s(rng, AN + "-_", 48),
         ["OPENAI_API_KEY={v}", "export OPENAI_API_KEY={v}", "api_key: {v}", "openai key{v}", "key = '{v}'"]),
        ("anthropic_key", lambda: f"sk-ant-api03-{_s(rng, AN + '-_', 60)}AA",
         ["ANTHROPIC_API_KEY={v}", "x-api-key: {v}", "key{v}"]),
        ("jwt", jwt, ["Authorization: Bearer {v}", "JWT={v}", "session={v}", "Bearer{v}", "id_token: {v}"]),
        ("password", password,
         ["password: {v}", "password:{v}", "DB_PASSWORD={v}", "$ psql --password {v}",
          "$ mysql -u root -p{v} shop", "passwd: {v}", "export PGPASSWORD={v}", '  "password": "{v}",',
          "$ sshpass -p {v} ssh deploy@web1", "Password={v};", "$ redis-cli -a {v} ping",
          "the password is {v}"]),
        ("url_password", lambda: _s(rng, AN, 12),
         ["git clone https://alice:{v}@git.example.com/team/app.git",
          "DATABASE_URL=postgres://app:{v}@db:5432/app", "redis://default:{v}@cache:6379/0",
          "mongodb://ci:{v}@mongo.svc:27017/prod",
          "$ curl -u deploy:{v} https://api.example.com/me", "amqp://app:{v}@mq.example.org:5672/"]),
        ("npm_token", lambda: "npm_" + _s(rng, AN, 36), ["//registry.npmjs.org/:_authToken={v}"]),
        ("pypi_token", lambda: "pypi-AgEIcHlwaS5vcmc" + _s(rng, AN + "-_", 50),
         ["$ twine upload -p {v} dist/*"]),
        ("hf_token", lambda: "hf_" + _s(rng, UP + LO, 34),
         ["HF_TOKEN={v}", "huggingface-cli login --token {v}"]),
        ("google_secret", lambda: "GOCSPX-" + _s(rng, AN + "-_", 28), ["client_secret: {v}"]),
        ("email", email, ["$ mail {v} today", "mail{v}", "Author: Jane Doe <{v}>", "From: {v}",
                          "contact {v} for access", "user.email={v}", "Signed-off-by: Bob <{v}>", "email:{v}",
                          "  reviewer: {v}", "sent to{v}"]),
        ("phone", lambda: "+44 20 7946 " + _s(rng, DI, 4), ["call {v} after 5", "Call{v}"]),
        ("phone", lambda: "+44 7700 900" + _s(rng, DI, 3), ["tel: {v}", "mobile{v}"]),
        ("phone", lambda: "07700 900" + _s(rng, DI, 3), ["Tel: {v}", "phone {v}"]),
        ("phone", lambda: "+1 415 555 " + _s(rng, DI, 4), ["phone: {v}"]),
        ("phone", lambda: "(212) 555-" + _s(rng, DI, 4), ["Mobile: {v}"]),
        ("phone", lambda: "+49 30 " + _s(rng, DI, 7), ["whatsapp {v}"]),
        ("phone", lambda: f"+33 6 12 34 {_s(rng, DI, 2)} 78", ["Tel:{v}"]),
        ("phone", lambda: "+91 98765 " + _s(rng, DI, 5), ["on call: {v}"]),
        ("card", card, ["card {v} exp 12/29", "cc={v}", "Visa {v}", "card{v}", "payment card: {v}",
                        "PAN {v}"]),
        ("iban", lambda: _iban("DE", _s(rng, DI, 18)), ["IBAN {v}", "IBAN{v}"]),
        ("iban", lambda: _iban("GB", "NWBK" + _s(rng, DI, 14)), ["iban: {v}"]),
        ("iban", lambda: _iban("FR", _s(rng, DI, 23)), ["IBAN:{v}"]),
        ("iban", lambda: _iban("NL", "ABNA" + _s(rng, DI, 10)), ["account {v}"]),
        ("ip", ip, ["Failed password for root from {v} port 52314 ssh2", "inet {v}/24 brd", "ssh deploy@{v}",
                    "from{v}"]),
        ("ssn", lambda: f"{rng.randrange(100, 665)}-{rng.randrange(10, 99)}-{rng.randrange(1000, 9999)}",
         ["SSN {v}"]),
        ("private_key", lambda: _s(rng, AN + "+/", 64), ["{v}"] * 6),  # drawn under a BEGIN line
        ("gcp_api_key", lambda: "AIza" + _s(rng, AN + "-_", 35), ["GOOGLE_API_KEY={v}"]),
        ("hex_after_keyword", lambda: _s(rng, hex_, 32), ["api_key={v}", "my token {v}"]),
    ]
    return [Planted(t.replace("{v}", v), v, kind) for kind, draw, templates in table for t in templates
            for v in [draw()]]


def plain_lines(seed: int = 0) -> list[str]:
    """Ordinary terminal lines: listings, git, disk, system files, test runs, packages, paths, dates."""
    rng = random.Random(seed + 1)
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    names = ["README.md", "pyproject.toml", "src", "tests", "Makefile", ".gitignore", "setup.cfg", "docs",
             "main.py", "utils.py", "requirements.txt", "Dockerfile", "LICENSE", "notebook.ipynb", "data.csv"]
    subjects = ["Fix off-by-one in the parser", "Add retry to upload", "Bump numpy to 1.26.4",
                "Merge pull request #4521 from acme/parser", "Refactor cache eviction", "Docs: usage",
                'Revert "Add retry"', "CI: run on 3.12", "Speed up index build by 2x"]

    def hex_(n: int) -> str:
        return _s(rng, "0123456789abcdef", n)

    def ls() -> str:
        perm = rng.choice(["-rw-r--r--", "drwxr-xr-x", "-rwxr-xr-x", "lrwxrwxrwx"])
        day = f"{rng.choice(months)} {rng.randrange(1, 29):2d}"
        when = f"{day} {rng.randrange(24):02d}:{rng.randrange(60):02d}"
        size = f"{rng.randrange(1, 20):2d} alice staff {rng.randrange(99999):6d}"
        return f"{perm} {size} {when} {rng.choice(names)}"

    def git() -> str:
        sha = hex_(40)
        return rng.choice([f"{sha[:7]} {rng.choice(subjects)}", f"commit {sha}",
                           f"* {sha[:7]} (HEAD -> main, origin/main) {rng.choice(subjects)}",
                           f"index {sha[:7]}..{sha[7:14]} 100644", f"Merge: {sha[:7]} {sha[9:16]}"])

    def tests() -> str:
        n = rng.randrange(1, 400)
        return rng.choice([
            f"tests/test_{rng.choice(['cache', 'parser', 'cli', 'io'])}.py {'.' * rng.randrange(3, 30)} "
            f"[{rng.randrange(1, 100):3d}%]",
            f"========== {n} passed, {rng.randrange(3)} skipped in {rng.uniform(0.5, 90):.2f}s ==========",
            f"Successfully installed numpy-1.26.{rng.randrange(9)} torch-2.{rng.randrange(6)}.0 tqdm-4.66.1",
            f"Requirement already satisfied: pillow>=10.{rng.randrange(5)} in ./.venv/lib/python3.11/"
            "site-packages",
            f'  File "/usr/lib/python3.11/{rng.choice(["json", "asyncio", "http"])}/__init__.py", line {n}, '
            "in load"])

    def procs() -> str:
        cid = hex_(12)
        return rng.choice([
            f'{cid}   postgres:16   "docker-entrypoint.s..."   {rng.randrange(2, 9)} hours ago   Up 2 hours'
            "   db",
            f"web-{cid[:10]}-{_s(rng, LO + DI, 5)}   1/1     Running   {rng.randrange(4)}   "
            f"{rng.randrange(1, 30)}d",
            f"alice {rng.randrange(1000, 99999):7d}  {rng.uniform(0, 9):.1f}  {rng.uniform(0, 9):.1f} "
            f"{rng.randrange(10**5, 10**7):8d} {rng.randrange(10**4, 10**6):7d} pts/{rng.randrange(9)}  Sl+  "
            f"{rng.randrange(24):02d}:{rng.randrange(60):02d}   0:{rng.randrange(60):02d} "
            "python -m http.server",
            f"sha256:{hex_(64)}", f"Digest: sha256:{hex_(64)}", f"{rng.choice(names)}  {hex_(32)}"])

    def misc() -> str:
        return rng.choice([
            f"$ cd ~/src/{rng.choice(['app', 'workscribe', 'site'])} && make {rng.choice(['test', 'lint'])}",
            f"/usr/local/lib/python3.11/dist-packages/{rng.choice(['numpy', 'torch'])}/core/_methods.py",
            f"2025-11-{rng.randrange(1, 29):02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:"
            f"{rng.randrange(60):02d}.{rng.randrange(1000):03d}Z INFO processed {rng.randrange(9999)} items",
            f"[{rng.randrange(1, 9999):5d}.{rng.randrange(10**6):06d}] usb 1-{rng.randrange(1, 9)}: new "
            f"high-speed USB device number {rng.randrange(2, 20)} using xhci_hcd",
            f"$ python -m pytest -q tests/ -k {rng.choice(['cache', 'parser', 'not slow'])}",
            f"Receiving objects: {rng.randrange(101)}% ({rng.randrange(9999)}/9999), "
            f"{rng.uniform(1, 99):.2f} MiB",
            "              total        used        free      shared  buff/cache   available",
            f"Mem:           31Gi        {rng.randrange(2, 30)}Gi       {rng.randrange(1, 9)}Gi       1.2Gi"
            f"        12Gi        18Gi",
            f"{rng.randrange(1, 9999):6d} {rng.choice(['ls', 'git status', 'make test', 'vim README.md'])}",
            f"Downloading model.safetensors: {rng.randrange(101)}%|####      | {rng.randrange(999)}M/1.2G",
            "Press ENTER to continue, or Ctrl-C to abort", "Connection to github.com closed.", "total 48"])

    fixed = ["On branch main", "Your branch is up to date with 'origin/main'.",
             "Changes not staged for commit:", '  (use "git add <file>..." to update what will be committed)',
             "        modified:   src/app/cache.py", "        deleted:    tests/test_old.py",
             "Untracked files:",
             "Date:   Mon Nov 3 14:22:01 2025 +0100", "Filesystem      Size  Used Avail Use% Mounted on",
             "/dev/nvme0n1p2  468G  312G  133G  71% /", "tmpfs           7.8G  2.1M  7.8G   1% /dev/shm",
             "/dev/sda1       511M  6.1M  505M   2% /boot/efi",
             "overlay          59G   41G   16G  73% /var/lib/docker/overlay2/3f2a1b4c9d8e/merged",
             'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"', 'NAME="Debian GNU/Linux"', 'VERSION_ID="12"',
             'VERSION="12 (bookworm)"', "VERSION_CODENAME=bookworm", 'HOME_URL="https://www.debian.org/"',
             "Linux build 6.1.0-26-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.112-1 (2024-09-30) x86_64",
             "Python 3.11.2 (main, Mar 13 2023, 12:18:29) [GCC 12.2.0] on linux",
             "export PATH=$HOME/.local/bin:$PATH", "[main 3f2a1b4] Fix off-by-one in the parser",
             " 2 files changed, 14 insertions(+), 3 deletions(-)"]
    return fixed + [draw() for draw in (ls, git, tests, procs, misc) for _ in range(10)]


@dataclass(frozen=True)
class ScreenLine:
    """One line of a benchmark frame: planted (its value must go), plain (it must stay), or neither."""

    text: str
    planted: Planted | None = None
    plain: bool = False


def frame_pages(seed: int = 0) -> list[list[ScreenLine]]:
    """The benchmark's frames, ``ROWS`` lines each: planted lines spread among plain ones in a fixed
    random order; a private key's body lines stay together under their BEGIN line (neither planted
    nor plain: a BEGIN line alone is no secret, and filling it is no false fill)."""
    rng = random.Random(seed)
    planted = planted_lines(seed)
    units = [[ScreenLine(p.line, p)] for p in planted if p.kind != "private_key"]
    units += [[ScreenLine(line, plain=True)] for line in plain_lines(seed)]
    rng.shuffle(units)
    key = [ScreenLine("-----BEGIN RSA PRIVATE KEY-----")]
    key += [ScreenLine(p.line, p) for p in planted if p.kind == "private_key"]
    units.insert(rng.randrange(len(units)), key)
    lines = [line for unit in units for line in unit]
    return [lines[i:i + ROWS] for i in range(0, len(lines), ROWS)]


def _screen(lines: list[str]) -> np.ndarray:
    img = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), 13) if FONT.exists() else ImageFont.load_default(size=13)
    for i, line in enumerate(lines):
        draw.text((LEFT, TOP + ROW * i), line, fill="black", font=font)
    return np.array(img)


def _row(box: tuple[int, int, int, int]) -> int:
    """The line of the screen that a box (an OCR'd line or a fill) sits on."""
    return ((box[1] + box[3]) // 2 - TOP) // ROW


_OCR_FOLD = str.maketrans("0oO1lIi|5sS8bB2zZ", "ooolllllsssbbbzzz")


def _fold(s: str) -> str:
    """The characters OCR confuses folded together, case and spaces dropped."""
    return "".join(s.lower().split()).translate(_OCR_FOLD)


def still_read(value: str, read: str) -> bool:
    """True when ``read`` (OCR'd text) holds a run of ``LEAK_RUN`` characters of ``value``."""
    v, r = _fold(value), _fold(read)
    n = min(LEAK_RUN, len(v))
    return any(v[i:i + n] in r for i in range(len(v) - n + 1))


def bench_frames(n_lines: int = 24, seed: int = 0) -> dict[str, Any]:
    """Full-frame and line-by-line redaction rates, recall of planted values, fills on plain lines.

    The rates are timed on the frame these figures have always been timed on (``TIMED_LINES``
    repeated to ``n_lines`` lines, each after a ``$``), so that they stay comparable; recall and
    fills are measured on the pages of ``frame_pages(seed)``.
    """
    from workscribe.redact.image import ImageRedactor

    redactor = ImageRedactor()
    lines = [f"$ {TIMED_LINES[i % len(TIMED_LINES)]}" for i in range(n_lines)]
    full = _screen(lines)
    redactor.redact(full[:64])  # load the models outside the timing
    t = time.process_time()
    redactor.redact(full)
    full_s = time.process_time() - t
    return {"frames_per_s_full": round(1 / full_s, 2), "frames_per_s_typing": _typing_rate(redactor, lines),
            **measure_pages(redactor, frame_pages(seed))}


def measure_pages(redactor: ImageRedactor, pages: list[list[ScreenLine]]) -> dict[str, Any]:
    """Redacts each page as a full frame; the recall of its planted values and the share of its
    plain lines that got any fill (see the module docstring).

    What OCR still reads of the planted values is read once for all pages: their rows of the
    redacted pages, stacked into one image (each row as it was on its page).
    """
    rows: list[np.ndarray] = []
    planted: list[Planted] = []
    plain = filled = 0
    for page in pages:
        out, hits = redactor.redact(_screen([line.text for line in page]))
        fill_rows = {_row(h.box) for h in hits}
        for i, line in enumerate(page):
            if line.planted is not None:
                planted.append(line.planted)
                rows.append(out[TOP + ROW * i:TOP + ROW * (i + 1)])
            elif line.plain:
                plain += 1
                filled += i in fill_rows
    read: dict[int, list[str]] = {}
    if rows:
        for box, text in redactor.read_lines(np.concatenate([np.full_like(rows[0][:TOP], 255), *rows])):
            read.setdefault(_row(box), []).append(text)
    leaked = [p for i, p in enumerate(planted) if still_read(p.value, " ".join(read.get(i, [])))]
    return {
        "frame_secret_recall": round(1 - len(leaked) / max(1, len(planted)), 3),
        "frame_secrets_planted": len(planted),
        "frame_secrets_leaked": [f"{p.kind}: {p.line}" for p in leaked],
        "frame_plain_lines": plain,
        "frame_plain_lines_filled": round(filled / max(1, plain), 3),
    }


def _typing_rate(redactor: ImageRedactor, lines: list[str]) -> float:
    """Frames a second when one more line appears on each frame, through the frame stage."""
    from workscribe.redact.frames import FrameRedactionStage

    stored: list[np.ndarray] = []
    stage = FrameRedactionStage(redactor, lambda e, img: stored.append(img) or True,
                                max_change_backlog=len(lines) + 1)
    frames = [_screen(lines[:k]) for k in range(1, len(lines) + 1)]
    t = time.process_time()
    for frame in frames:
        stage.put({"t": 0, "source": "screen", "kind": "frame", "data": {}}, frame)
    stage.close()
    return round(len(frames) / (time.process_time() - t), 2)
