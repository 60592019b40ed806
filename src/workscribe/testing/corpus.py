"""A seeded, labelled corpus of secrets, PII and ordinary text for ``workscribe bench redact``.

Every positive sample plants one fake but format-valid value (an AWS key id of the right shape, a
Luhn-valid test card, an IBAN with a correct checksum...) in a realistic context: env files, shell
commands, JSON, YAML, URLs, code, logs, e-mail signatures. Some formats are deliberately ones the
rules do not name (other vendors' tokens, ``alice at example dot com``, SSNs with spaces), so that
recall is measured rather than assumed. Negatives are code, shell, git output, logs, configuration
and prose that hold no secret and no PII, including the usual traps: git SHAs, UUIDs, versions,
timestamps, hex colours, hashes, base64 of public data, and code that *names* passwords and tokens
without holding one.
"""

from __future__ import annotations

import base64
import json
import random
import string
from dataclasses import dataclass
from typing import Literal

UP, LO, DI = string.ascii_uppercase, string.ascii_lowercase, string.digits
AN, HEX = UP + LO + DI, "0123456789abcdef"
B64, URL64 = AN + "+/", AN + "-_"


@dataclass(frozen=True)
class Sample:
    """One labelled text: ``value`` is the planted secret or PII (``None`` for negatives)."""

    text: str
    kind: Literal["secret", "pii", "negative"]
    label: str | None = None
    value: str | None = None


FIRST = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
         "nora", "oscar", "peggy", "rupert", "sybil", "trent", "victor", "wendy", "yusuf", "zoe", "amelie",
         "jonas", "priya", "li", "mateo", "sofia", "kenji", "fatima", "olga"]
LAST = ["smith", "jones", "garcia", "mueller", "rossi", "dubois", "tanaka", "kowalski", "nguyen", "okafor",
        "silva", "patel", "johansson", "novak", "murphy", "schmidt", "martin", "kim", "haddad", "ivanova"]
DOMAINS = ["example.com", "example.org", "acme-corp.io", "mail.example.co.uk", "company.de", "startup.dev",
           "uni-example.edu", "gmail.com", "outlook.com", "proton.me", "consulting.fr", "firma.at"]
WORDS = ["parser", "cache", "worker", "session", "upload", "invoice", "report", "queue", "router", "index",
         "schema", "buffer", "config", "cluster", "metrics", "render", "bundle", "export", "search", "client",
         "handler", "service", "payload", "request", "migration", "snapshot", "frame", "segment", "episode"]
HOSTS = ["db.internal.example.com", "localhost", "api.example.com", "redis", "postgres",
         "cluster0.ab1cd.mongodb.net",
         "mq.example.org", "sql-prod-01.example.net", "cache.svc.cluster.local", "git.example.com"]


def random_string(rng: random.Random, alphabet: str, n: int) -> str:
    """``n`` characters drawn from ``alphabet``."""
    return "".join(rng.choice(alphabet) for _ in range(n))


_s = random_string  # the short name the generators below use


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _password(rng: random.Random) -> str:
    style = rng.randrange(5)
    if style == 0:
        return rng.choice(["Summer", "Winter", "Dragon", "Monkey", "Sunshine", "Football"]) + \
            str(rng.randrange(1990, 2030)) + rng.choice("!#$%?*")
    if style == 1:
        return "-".join(rng.choice(["correct", "horse", "battery", "staple", "orbit", "lemon", "violet",
                                    "canyon", "maple", "rocket"]) for _ in range(4))
    if style == 2:
        return _s(rng, AN + "!@#%^&*_-", rng.randrange(12, 25))
    if style == 3:
        return _s(rng, AN, rng.randrange(16, 33))
    return rng.choice(["Tr0ub4dor", "P@ssw0rd", "s3cr3tP4ss", "hunter2Hunter", "qwerty123Q", "Letmein99"]) + \
        _s(rng, DI, 3)


# ---------------------------------------------------------------- secret values, one function per kind
def _secret_values(rng: random.Random) -> dict[str, object]:
    """Functions that draw a fresh fake value of each kind."""
    def jwt() -> str:
        head = _b64url(json.dumps({"alg": rng.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"}).encode())
        body = _b64url(json.dumps({"sub": str(rng.randrange(10**6)), "name": rng.choice(FIRST).title(),
                                   "iat": 1762180000 + rng.randrange(10**6),
                                   "exp": 1762990000 + rng.randrange(10**6)}).encode())
        return f"{head}.{body}.{_b64url(rng.randbytes(rng.choice([32, 64])))}"

    return {
        "aws_access_key": lambda: rng.choice(["AKIA", "ASIA"]) + _s(rng, UP + "234567", 16),
        "aws_secret_key": lambda: _s(rng, B64, 40),
        "gcp_api_key": lambda: "AIza" + _s(rng, URL64, 35),
        "github_token": lambda: rng.choice([rng.choice(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]) + _s(rng, AN,
                                                                                                      36),
                                            "github_pat_11" + _s(rng, UP + DI, 20) + "_" + _s(rng, AN, 59)]),
        "gitlab_token": lambda: "glpat-" + _s(rng, URL64, 20),
        "slack_token": lambda: rng.choice(["xoxb-", "xoxp-", "xoxa-", "xoxs-"]) + _s(rng, DI, 12) + "-"
        + _s(rng, DI, 13) + "-" + _s(rng, AN, 24),
        "stripe_key": lambda: rng.choice(["sk_live_", "rk_live_", "sk_test_"]) + _s(rng, AN, rng.choice([24,
                                                                                                         99])),
        "openai_key": lambda: rng.choice(["sk-" + _s(rng, AN, 20) + "T3BlbkFJ" + _s(rng, AN, 20),
                                          "sk-proj-" + _s(rng, URL64, 156)]),
        "anthropic_key": lambda: "sk-ant-api03-" + _s(rng, URL64, 93) + "AA",
        "npm_token": lambda: "npm_" + _s(rng, AN, 36),
        "pypi_token": lambda: "pypi-AgEIcHlwaS5vcmc" + _s(rng, URL64, rng.randrange(70, 160)),
        "jwt": jwt,
        "azure_storage_key": lambda: base64.b64encode(rng.randbytes(64)).decode(),
        "other_token": lambda: rng.choice([
            "SG." + _s(rng, URL64, 22) + "." + _s(rng, URL64, 43), "hf_" + _s(rng, UP + LO, 34),
            "shpat_" + _s(rng, HEX, 32), "dop_v1_" + _s(rng, HEX, 64), "GOCSPX-" + _s(rng, URL64, 28),
            "hvs." + _s(rng, URL64, 24), "key-" + _s(rng, HEX, 32), "whsec_" + _s(rng, AN, 32),
            _s(rng, DI, 10) + ":AA" + _s(rng, URL64, 33)]),
        "generic": lambda: rng.choice([_s(rng, HEX, 64), _s(rng, AN, 32), _s(rng, URL64, 43), _s(rng, HEX,
                                                                                                 40),
                                       "django-insecure-" + _s(rng, LO + DI + "!@#$%^&*(-_=+)", 50)]),
    }


def _pem(rng: random.Random, kind: str, escaped: bool = False) -> tuple[str, str]:
    """A fake private key block and its body (the value that must disappear)."""
    header = {"rsa": "RSA PRIVATE KEY", "pkcs8": "PRIVATE KEY", "ec": "EC PRIVATE KEY",
              "openssh": "OPENSSH PRIVATE KEY", "enc": "ENCRYPTED PRIVATE KEY"}[kind]
    raw = base64.b64encode(rng.randbytes(rng.choice([120, 240, 400]))).decode()
    lines = [raw[i:i + 64] for i in range(0, len(raw), 64)]
    nl = "\\n" if escaped else "\n"
    body = nl.join(lines)
    return f"-----BEGIN {header}-----{nl}{body}{nl}-----END {header}-----", body


def _secrets(rng: random.Random) -> list[Sample]:
    v = _secret_values(rng)
    out: list[Sample] = []

    def add(label: str, value: str, template: str) -> None:
        out.append(Sample(template.replace("{v}", value), "secret", label, value))

    contexts = {
        "aws_access_key": ["aws_access_key_id = {v}", "export AWS_ACCESS_KEY_ID={v}",
                           '  "AccessKeyId": "{v}",',
                           "aws configure set aws_access_key_id {v}", "AWS_ACCESS_KEY_ID: {v}",
                           "https://bucket.s3.amazonaws.com/x.csv?AWSAccessKeyId={v}&Expires=1762180921",
                           "found {v} in the old deploy script, rotating it now",
                           "    access_key = '{v}'"],
        "aws_secret_key": ["aws_secret_access_key = {v}", "export AWS_SECRET_ACCESS_KEY={v}",
                           '  "SecretAccessKey": "{v}",', "AWS_SECRET_ACCESS_KEY: {v}",
                           "aws configure set aws_secret_access_key {v}",
                           's3 = boto3.client("s3", aws_secret_access_key="{v}")'],
        "gcp_api_key": ["https://maps.googleapis.com/maps/api/geocode/json?address=Paris&key={v}",
                        '  apiKey: "{v}",', "GOOGLE_API_KEY={v}",
                        "curl 'https://www.googleapis.com/youtube/v3/search?"
                        "part=snippet&q=cats&key={v}'", "const key = '{v}';"],
        "github_token": ["GITHUB_TOKEN={v}", "git clone https://{v}@github.com/acme/infra.git",
                         "Authorization: token {v}",
                         "echo {v} | docker login ghcr.io -u alice --password-stdin",
                         "gh auth login --with-token <<< {v}", '    "token": "{v}"', "export GH_TOKEN='{v}'",
                         "git remote set-url origin https://x-access-token:{v}@github.com/acme/app"],
        "gitlab_token": ["PRIVATE-TOKEN: {v}", "GITLAB_TOKEN={v}",
                         "git clone https://oauth2:{v}@gitlab.com/g/p.git",
                         'curl --header "PRIVATE-TOKEN: {v}" https://gitlab.example.com/api/v4/projects',
                         "    token = {v}"],
        "slack_token": ["SLACK_BOT_TOKEN={v}", 'client = WebClient(token="{v}")', "slack_token: {v}",
                        'curl -H "Authorization: Bearer {v}" https://slack.com/api/auth.test'],
        "stripe_key": ['stripe.api_key = "{v}"', "STRIPE_SECRET_KEY={v}",
                       "curl https://api.stripe.com/v1/charges -u {v}:",
                       "const stripe = require('stripe')('{v}');"],
        "openai_key": ["OPENAI_API_KEY={v}", 'client = OpenAI(api_key="{v}")', "Authorization: Bearer {v}",
                       "export OPENAI_API_KEY=\"{v}\"", "openai.api_key = '{v}'"],
        "anthropic_key": ["ANTHROPIC_API_KEY={v}", "x-api-key: {v}",
                          'client = anthropic.Anthropic(api_key="{v}")',
                          "curl https://api.anthropic.com/v1/messages -H 'x-api-key: {v}'"],
        "npm_token": ["//registry.npmjs.org/:_authToken={v}", "NPM_TOKEN={v}",
                      "npm config set _authToken {v}",
                      "      NODE_AUTH_TOKEN: {v}"],
        "pypi_token": ["password = {v}", "twine upload -u __token__ -p {v} dist/*", "UV_PUBLISH_TOKEN={v}",
                       "poetry config pypi-token.pypi {v}"],
        "jwt": ["Authorization: Bearer {v}", "Cookie: session={v}; theme=dark", '{"access_token": "{v}", '
                '"token_type": "Bearer", "expires_in": 3600}',
                "https://app.example.com/callback#id_token={v}",
                "const token = '{v}';", "jwt={v}"],
        "azure_storage_key": ["DefaultEndpointsProtocol=https;AccountName=acmelogs;AccountKey={v};"
                              "EndpointSuffix=core.windows.net", "AZURE_STORAGE_KEY={v}",
                              "az storage blob list --account-name acmelogs --account-key {v} -c logs",
                              '  "storageKey": "{v}"'],
        "other_token": ["SENDGRID_API_KEY={v}", "huggingface-cli login --token {v}", 'login("{v}")',
                        "Authorization: Bearer {v}", "  api_token: {v}",
                        "requests.get(url, headers={'X-Auth': '{v}'})",
                        "webhook_secret = '{v}'", "{v}"],
        "generic": ["SECRET_KEY={v}", "JWT_SECRET={v}", "session_secret: {v}", "client_secret={v}",
                    '  "apiKey": "{v}",', "X-API-Key: {v}", "API_KEY = '{v}'", "Authorization: Bearer {v}",
                    "app.config['SECRET_KEY'] = '{v}'", "--token {v}", "auth_token: \"{v}\"",
                    "DD_API_KEY={v}", "heroku config:set SESSION_SECRET={v}"],
    }
    for label, templates in contexts.items():
        n = 26 if label in ("generic", "other_token") else 14
        for i in range(n):
            add(label, v[label](), templates[i % len(templates)])

    # private keys: multi-line blocks, and escaped inside JSON (service accounts)
    for i in range(14):
        block, body = _pem(rng, ["rsa", "pkcs8", "ec", "openssh", "enc"][i % 5])
        pre = rng.choice(["", "$ cat ~/.ssh/id_rsa\n", "key: |\n", "ssh_key = '''\n"])
        out.append(Sample(pre + block + rng.choice(["", "\n", "\n'''"]), "secret", "private_key", body))
    for _ in range(8):
        block, body = _pem(rng, "pkcs8", escaped=True)
        add("gcp_service_account", body, f'  "private_key": "{block}\\n",')
        add("gcp_service_account", _s(rng, HEX, 40), '  "private_key_id": "{v}",')
    for _ in range(4):
        b64 = base64.b64encode(_pem(rng, "rsa")[0].encode()).decode()
        add("private_key", b64, "  tls.key: {v}")

    # passwords in URLs and connection strings
    for i in range(30):
        pw, user = _password(rng).replace("@", "#").replace("/", "!"), rng.choice(FIRST)
        host = rng.choice(HOSTS)
        t = ["https://{u}:{v}@{h}/", "ftp://{u}:{v}@ftp.example.org/pub/",
             "git clone https://{u}:{v}@{h}/team/app.git",
             "http://admin:{v}@{h}:8080/manage", "curl https://{u}:{v}@{h}/api/v1/status",
             "pip install --index-url https://{u}:{v}@pypi.example.com/simple/ internal-lib"][i % 6]
        add("password_in_url", pw, t.replace("{u}", user).replace("{h}", host))
    for i in range(40):
        pw = _password(rng).replace("@", "%40").replace("/", "%2F")
        user, host = rng.choice(FIRST), rng.choice(HOSTS)
        t = ["DATABASE_URL=postgres://{u}:{v}@{h}:5432/app", "postgresql+psycopg2://{u}:{v}@{h}/analytics",
             "mysql://root:{v}@{h}:3306/shop", "mongodb+srv://{u}:{v}@{h}/?retryWrites=true&w=majority",
             "REDIS_URL=redis://:{v}@{h}:6379/0", "amqp://{u}:{v}@{h}:5672/vhost",
             "Server=tcp:{h},1433;Database=sales;User ID={u};Password={v};Encrypt=True;",
             "Data Source={h};Initial Catalog=hr;User Id={u};Password={v}",
             "jdbc:postgresql://{h}:5432/app?user={u}&password={v}&ssl=true",
             "  url: postgresql://{u}:{v}@{h}/db"][i % 10]
        if "Password={v}" in t:
            pw = pw.replace(";", "")
        add("connection_string", pw, t.replace("{u}", user).replace("{h}", host))

    # password assignments in every syntax people use
    templates = ["password={v}", "DB_PASSWORD={v}", 'DB_PASSWORD="{v}"', "  password: {v}",
                 '  "password": "{v}",',
                 "passwd: {v}", "mysql -u root -p'{v}' shop", "mysql -uroot -p{v}", "psql --password {v}",
                 "PGPASSWORD={v} psql -h db -U app", "sshpass -p '{v}' ssh deploy@web1", "--password={v}",
                 "docker login -u alice -p {v} registry.example.com",
                 "curl -u alice:{v} https://api.example.com/me",
                 "machine api.example.com login alice password {v}", "SMTP_PASS={v}", "pwd = '{v}'",
                 "    conn = psycopg2.connect(host='db', user='app', password='{v}')",
                 "admin_password: '{v}'",
                 "ldap_bind_pw = {v}", "htpasswd -b .htpasswd alice {v}", "echo '{v}' | sudo -S apt update",
                 "db.example.com:5432:app:alice:{v}", "my password is {v}", "set PASSWORD={v}",
                 "<add key=\"Password\" value=\"{v}\" />", "spring.datasource.password={v}",
                 "$password = \"{v}\";"]
    for i in range(56):
        add("password", _password(rng).replace("'", "").replace('"', ""), templates[i % len(templates)])
    basic = [base64.b64encode(f"{rng.choice(FIRST)}:{_password(rng)}".encode()).decode() for _ in range(6)]
    for i, b in enumerate(basic):
        add("password", b, ["Authorization: Basic {v}", '      "auth": "{v}"'][i % 2])
    return out


# ---------------------------------------------------------------- PII
def luhn_number(prefix: str, length: int, rng: random.Random) -> str:
    """A card number of ``length`` digits starting with ``prefix``, with a valid Luhn check digit."""
    digits = prefix + _s(rng, DI, length - len(prefix) - 1)
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return digits + str((10 - total % 10) % 10)


IBAN_SHAPES = {"DE": "8n10n", "GB": "4a14n", "FR": "10n11c2n", "NL": "4a10n", "ES": "20n", "IT": "1a10n12c",
               "CH": "5n12c", "BE": "12n", "AT": "16n", "PL": "24n", "IE": "4a14n", "SE": "20n"}


def make_iban(country: str, rng: random.Random) -> str:
    """A random IBAN for ``country`` with a correct mod-97 checksum (no spaces)."""
    import re
    bban = ""
    for n, t in re.findall(r"(\d+)([nac])", IBAN_SHAPES[country]):
        bban += _s(rng, {"n": DI, "a": UP, "c": UP + DI}[t], int(n))
    num = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(num) % 97:02d}{bban}"


def _phone(rng: random.Random) -> tuple[str, bool]:
    """A phone number in one of many national and international formats; True if it needs context."""
    d = lambda n: _s(rng, DI, n)  # noqa: E731
    nz = lambda: str(rng.randrange(2, 10))  # noqa: E731
    forms = [
        (f"+44 20 {nz()}{d(3)} {d(4)}", False), (f"({nz()}{d(2)}) {nz()}{d(2)}-{d(4)}", False),
        (f"{nz()}{d(2)}-{nz()}{d(2)}-{d(4)}", False), (f"+1-{nz()}{d(2)}-555-0{d(3)}", False),
        (f"+33 6 {d(2)} {d(2)} {d(2)} {d(2)}", False), (f"0049 30 {d(6)}", False),
        (f"+91 9{d(4)} {d(5)}", False), (f"+49 (0)30 {d(7)}", False), (f"+81 3-{d(4)}-{d(4)}", False),
        (f"+61 2 {d(4)} {d(4)}", False), (f"+1 ({nz()}{d(2)}) 555-0{d(3)}", False),
        (f"{nz()}{d(2)}.{nz()}{d(2)}.{d(4)}", False), (f"1-800-{nz()}{d(2)}-{d(4)}", False),
        (f"+86 138 {d(4)} {d(4)}", False), (f"+7 495 {d(3)}-{d(2)}-{d(2)}", False),
        (f"+353 1 {d(3)} {d(4)}", False), (f"+55 11 9{d(4)}-{d(4)}", False), (f"+1{nz()}{d(2)}555{d(4)}",
                                                                              False),
        (f"+44 7700 900{d(3)}", False), (f"+34 6{d(2)} {d(3)} {d(3)}", False), (f"+39 3{d(2)} {d(7)}", False),
        (f"07700 900{d(3)}", True), (f"020 7946 {d(4)}", True), (f"06 {d(2)} {d(2)} {d(2)} {d(2)}", True),
        (f"030 {d(7)}", True), (f"0{nz()}{d(2)} {d(3)} {d(4)}", True), (f"+49 151 {d(8)}", False),
        (f"+1 {nz()}{d(2)} {nz()}{d(2)} {d(4)}", False), (f"+31 6 {d(8)}", False),
        (f"+46 70 {d(3)} {d(2)} {d(2)}", False),
    ]
    return rng.choice(forms)


def _pii(rng: random.Random) -> list[Sample]:
    out: list[Sample] = []

    def add(label: str, value: str, template: str) -> None:
        out.append(Sample(template.replace("{v}", value), "pii", label, value))

    for i in range(70):
        f, last = rng.choice(FIRST), rng.choice(LAST)
        local = [f"{f}.{last}", f"{f}", f"{f[0]}{last}", f"{f}+news", f"{f}_{last}{rng.randrange(100)}",
                 f"{f.title()}.{last.title()}", f"{f}-{last}"][i % 7]
        email = f"{local}@{rng.choice(DOMAINS)}"
        add("email", email, ["Author: {n} <{v}>", "git config --global user.email \"{v}\"",
                             '  "email": "{v}",',
                             "contact: {v}", "mailto:{v}", "To: \"{n}\" <{v}>", "{n},{v},Berlin,2024-03-01",
                             "ping {v} about the invoice", "Reply-To: {v}",
                             "ssh-keygen -t ed25519 -C \"{v}\"",
                             "Signed-off-by: {n} <{v}>", "{v}"][i % 12].replace("{n}", f"{f.title()} "
                                                                                       f"{last.title()}"))
    for f in ["alice", "bob", "carol"]:
        add("email", f"{f} at example dot com", "write to {v} if the form fails")
    for i in range(90):
        phone, needs_context = _phone(rng)
        ctx = ["Tel: {v}", "Phone: {v}", "call me at {v}", "Mobile: {v}", "  \"phone\": \"{v}\",",
               "TEL;TYPE=cell:{v}", "{v}", "Alice Smith | Product Lead | {v}",
               "<a href=\"tel:{v}\">Call us</a>",
               "Kontakt: {v}", "whatsapp {v} tonight", "mobile,{v}"]
        t = ctx[i % len(ctx)]
        if needs_context and t in ("{v}", "Alice Smith | Product Lead | {v}",
                                   "<a href=\"tel:{v}\">Call us</a>"):
            t = "Tel. {v}"
        add("phone", phone, t)
    test_cards = ["4111111111111111", "4242424242424242", "4012888888881881", "5555555555554444",
                  "5105105105105100", "2223003122003222", "378282246310005", "371449635398431",
                  "6011111111111117",
                  "6011000990139424", "3530111333300000", "30569309025904", "6200000000000005",
                  "4000056655665556"]
    prefixes = [("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15), ("6011", 16), ("65",
                                                                                                        16),
                ("3528", 16), ("36", 14), ("62", 16), ("4", 13), ("4", 19)]
    for i in range(60):
        num = test_cards[i] if i < len(test_cards) else luhn_number(*rng.choice(prefixes), rng)
        style = i % 3
        if style == 1 and len(num) == 16:
            num = " ".join(num[j:j + 4] for j in range(0, 16, 4))
        elif style == 2 and len(num) == 16:
            num = "-".join(num[j:j + 4] for j in range(0, 16, 4))
        elif style == 1 and len(num) == 15:
            num = f"{num[:4]} {num[4:10]} {num[10:]}"
        add("card", num, ["card: {v}", "{v}", '{"card_number": "{v}", "exp": "12/29"}',
                          "Card number {v} exp 04/28",
                          "cc={v}&cvv=123", "paid with {v} yesterday"][i % 6])
    for i in range(50):
        iban = make_iban(rng.choice(sorted(IBAN_SHAPES)), rng)
        if i % 2 == 0:
            iban = " ".join(iban[j:j + 4] for j in range(0, len(iban), 4))
        add("iban", iban, ["IBAN: {v}", "Please transfer to {v} by Friday", '  "iban": "{v}"', "{v}",
                           "Kontoinhaber: Max Mustermann, IBAN {v}, BIC DEUTDEFFXXX"][i % 5])
    for i in range(40):
        area = rng.choice([a for a in range(1, 900) if a != 666])
        ssn = f"{area:03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}"
        if i % 8 == 7:
            ssn = ssn.replace("-", " ")
        elif i % 8 == 6:
            ssn = ssn.replace("-", "")
        add("ssn", ssn, ["SSN: {v}", "ssn={v}", '  "ssn": "{v}",', "social security number {v}",
                         "Employee SSN {v}", "{v}", "SSN {v}", "SSN: {v}"][i % 8])
    for i in range(50):
        if i % 3 == 2:
            ip = rng.choice([f"2001:db8:{rng.randrange(65536):x}::{rng.randrange(65536):x}",
                             f"2a02:{rng.randrange(65536):x}:{rng.randrange(65536):x}:1:{rng.randrange(65536):x}:"
                             f"{rng.randrange(65536):x}:{rng.randrange(65536):x}:{rng.randrange(65536):x}",
                             f"fe80::{rng.randrange(65536):x}:{rng.randrange(65536):x}"])
        else:
            ip = rng.choice([f"203.0.113.{rng.randrange(1, 255)}", f"198.51.100.{rng.randrange(1, 255)}",
                             f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                             f"192.168.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                             f"{rng.randrange(11, 224)}.{rng.randrange(256)}.{rng.randrange(256)}."
                             f"{rng.randrange(1, 255)}"])
        ipt = f"[{ip}]" if ":" in ip and i % 2 else ip
        add("ip", ip, ['{v} - - [03/Nov/2025:14:22:01 +0000] "GET /index.html HTTP/1.1" 200 612',
                       "ssh deploy@{v}", "Failed password for root from {v} port 52314 ssh2",
                       "    inet {v}/24 brd 10.0.3.255 scope global eth0", "X-Forwarded-For: {v}",
                       "curl http://{v}:8080/healthz", "client={v} status=403 path=/admin",
                       "ping {v}"][i % 8].replace("{v}", ipt))
    return out


# ---------------------------------------------------------------- negatives
def _fill(rng: random.Random, template: str) -> str:
    def r(name: str) -> str:
        return {
            "w": rng.choice(WORDS), "W": rng.choice(WORDS).title(), "n": str(rng.randrange(1, 5000)),
            "sha": _s(rng, HEX, 40), "short": _s(rng, HEX, 7), "uuid": _uuid(rng), "ver": _ver(rng),
            "ts": _iso(rng), "unix": str(rng.randrange(1_600_000_000, 1_800_000_000)),
            "ms": str(rng.randrange(1_600_000_000_000, 1_800_000_000_000)), "hex6": _s(rng, HEX, 6),
            "port": str(rng.choice([80, 443, 3000, 5432, 6379, 8000, 8080, 9090])),
            "dur": f"{rng.random() * 10:.3f}", "pct": f"{rng.random() * 100:.1f}", "name": rng.choice(FIRST),
            "sha256": _s(rng, HEX, 64), "date": _iso(rng)[:10], "time": _iso(rng)[11:19],
            "pid": str(rng.randrange(100, 99999)),
        }[name]
    import re
    known = {"w", "W", "n", "sha", "short", "uuid", "ver", "ts", "unix", "ms", "hex6", "port", "dur", "pct",
             "name",
             "sha256", "date", "time", "pid"}
    text = re.sub(r"\{(\w+)\}", lambda m: r(m.group(1)) if m.group(1) in known else m.group(0), template)
    return text.replace("{{", "{").replace("}}", "}")


def _uuid(rng: random.Random) -> str:
    h = _s(rng, HEX, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{rng.choice('89ab')}{h[17:20]}-{h[20:]}"


def _ver(rng: random.Random) -> str:
    return ".".join(str(rng.randrange(0, 30)) for _ in range(rng.choice([2, 3, 3, 3])))


def _iso(rng: random.Random) -> str:
    return (f"20{rng.randrange(20, 27)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T"
            f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}")


NEGATIVE_TEMPLATES = [
    # python
    "def {w}_{w}(self, {w}: str, retries: int = 3) -> dict[str, Any]:",
    "    return self._{w}.get({w}_id, None)",
    "from workscribe.{w} import {W}{W}", "import numpy as np", "    for i, {w} in enumerate({w}s[:{n}]):",
    "class {W}{W}(BaseModel):", "    {w} = {W}.from_config(cfg, strict=True)",
    "@pytest.mark.parametrize(\"n\", [1, 2, {n}])",
    "    password = getpass.getpass(\"Password: \")", "    api_key = os.environ[\"OPENAI_API_KEY\"]",
    "    token = jwt.encode(payload, settings.SECRET_KEY, algorithm=\"HS256\")", "    if not password:",
    "def check_password(password: str, hashed: bytes) -> bool:", "    secret = secrets.token_hex(32)",
    "    api_key = os.getenv(\"API_KEY\")", "    self.password = password",
    "    token = request.headers.get(\"Authorization\")",
    "tokenizer = AutoTokenizer.from_pretrained(\"bert-base-uncased\")", "    max_tokens={n},",
    "PASSWORD_HASHERS = [\"django.contrib.auth.hashers.Argon2PasswordHasher\"]",
    "    conn = connect(host=host, password=db_password)",
    "    raise ValueError(f\"{w} {{value!r}} is not a valid {w}\")",
    "    logger.info(\"processed %d {w}s in %.2fs\", n, dt)",
    "SECRET_KEY = env(\"DJANGO_SECRET_KEY\")", "    assert resp.status_code == 200, resp.text",
    "    x = np.linspace(0, 1, {n}).reshape(-1, 4)", "    return hashlib.sha256(data).hexdigest()",
    "if __name__ == \"__main__\":", "    with open(path, \"rb\") as f:", "    token_count = len(tokens)",
    "reset_password_url = \"/accounts/password/reset/\"", "    # TODO: rotate the secret every 90 days",
    "    user = User.objects.get(pk={n})", "    t0 = time.perf_counter_ns()", "    timeout = {n} * 1e-3",
    # js / ts / go
    "const {w} = await fetch(`/api/{w}/${{id}}`);", "export function {w}({w}: string): Promise<void> {{",
    "  const token = localStorage.getItem('token');",
    "  if (!password) return res.status(400).json({{ error: 'missing' }});",
    "import {{ useState, useEffect }} from 'react';", "  color: #{hex6};",
    "  background: #{hex6} url(./img/bg.png);",
    "module.exports = {{ mode: 'production', devtool: 'source-map' }};", "  apiKey: process.env.API_KEY,",
    "func (s *{W}Server) Handle{W}(w http.ResponseWriter, r *http.Request) {{",
    "\tif err != nil {{ return nil, err }}",
    "\tctx, cancel := context.WithTimeout(ctx, {n}*time.Millisecond)",
    "\tpassword := os.Getenv(\"DB_PASSWORD\")",
    "\tdefer wg.Done()", "  password: string;", "type {W}Config struct {{ Token string `json:\"token\"` }}",
    "std::vector<int> {w}s; std::sort({w}s.begin(), {w}s.end());",
    "  let secret = vault.read('kv/data/app');",
    # shell
    "ls -la ~/projects/{w}", "git log --oneline -n {n}", "docker run --rm -p {port}:{port} nginx:1.25-alpine",
    "kubectl get pods -n kube-system -o wide", "pip install numpy=={ver} torch==2.13.0",
    "cd src/{w} && make -j8",
    "export PATH=\"$HOME/.local/bin:$PATH\"", "export NODE_ENV=production",
    "grep -rn \"{w}\" src/ | head -{n}",
    "python -m pytest tests/{w} -x -q", "tar czf {w}-{date}.tar.gz build/",
    "ssh-keygen -t ed25519 -f ~/.ssh/id_ed25519",
    "export GITHUB_TOKEN=$(gh auth token)", "read -s -p \"Password: \" PASSWORD",
    "sudo systemctl restart {w}.service",
    "chmod 600 ~/.ssh/id_rsa", "find . -name '*.pyc' -delete",
    "curl -s https://api.github.com/repos/acme/{w} | jq .stargazers_count",
    "dd if=/dev/zero of=/tmp/blob bs=1M count={n}", "docker pull ghcr.io/acme/{w}@sha256:{sha256}", "echo $?",
    "ffmpeg -i in.mp4 -vf scale=1280:720 -c:v libx264 -crf 23 out.mp4",
    "kubectl create secret generic db-creds --from-env-file=.env",
    "openssl rand -hex 32 > secret.key", "vault kv get -field=password secret/db",
    "ps aux | grep {w} | awk '{{print $2}}'",
    # git output
    "commit {sha}", "Merge: {short} {short}", "{short} Fix {w} handling in {w} (#{n})",
    "index {short}..{short} 100644",
    "Date:   Mon Nov 3 14:22:01 2025 +0100", "diff --git a/src/{w}.py b/src/{w}.py",
    "@@ -{n},7 +{n},9 @@ def {w}(",
    " {n} files changed, {n} insertions(+), {n} deletions(-)", "HEAD is now at {short} Bump version to {ver}",
    "   {short}..{short}  main -> main", "Your branch is ahead of 'origin/main' by {n} commits.",
    "* {short} (HEAD -> main, tag: v{ver}, origin/main) Merge pull request #{n} from acme/{w}",
    # logs
    "{ts}.{n}Z INFO  [{w}-{n}] processed {n} items in {dur}s",
    "[{date} {time},{n}] WARNING {w}: retrying in {n} ms",
    "{ts}Z ERROR request_id={uuid} status=500 duration_ms={n}",
    "Nov  3 14:22:01 buildhost systemd[1]: Started {W} Service.",
    "level=info ts={ts}Z caller={w}.go:{n} msg=\"tick\" lag_ms={n}",
    "  File \"/usr/lib/python3.11/{w}.py\", line {n}, in {w}",
    "trace_id={sha} span_id={short}{short}", "{ts}+00:00 | DEBUG | cache hit ratio {pct}% ({n}/{n})",
    "I1103 14:22:01.{n}  {pid} {w}.go:{n}] Successfully synced", "GET /api/v1/{w}/{uuid} 200 {dur}ms",
    "[{unix}] worker {pid} exited with code 0", "event_ts={ms} seq={n} kind=key_press",
    "{n} passed, 1 skipped in {dur}s",
    "token refresh scheduled in {n}s", "password policy: min length 12, 1 digit, 1 symbol",
    "Epoch {n}/100: loss={dur} acc={pct}% lr=3e-4", "Downloaded {w}-{ver}-py3-none-any.whl ({n} kB)",
    "npm WARN deprecated {w}@{ver}: use {w}@{ver} instead", "Successfully installed {w}-{ver} {w}-{ver}",
    # config and data
    "  image: postgres:16.{n}", "    secretName: tls-{w}",
    "        secretKeyRef: {{ name: db-creds, key: password }}",
    "  - name: DB_PASSWORD", "password_min_length: 12", "token_ttl_seconds: 3600", "[tool.ruff]",
    "line-length = 110",
    '  "version": "{ver}",', '  "integrity": "sha512-' + "{sha256}{sha256}" + '==",',
    "  resolved \"https://registry.yarnpkg.com/{w}/-/{w}-{ver}.tgz\"",
    '{{"id": "{uuid}", "created_at": "{ts}Z", "count": {n}}}', "  password: ${{DB_PASSWORD}}",
    "  api_key: \"{{{{ vault_api_key }}}}\"", "password = <your password here>", "  password: \"\"", "TOKEN=",
    "FROM python:3.11-slim", "EXPOSE {port}", "ENV PYTHONUNBUFFERED=1",
    "sha256sum: {sha256}  {w}-{ver}.tar.gz",
    "Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089",
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "Windows 10.0.19045.3693",
    "  <img src=\"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9Q"
    "DwADhgGAWjR9awAAAABJRU5ErkJggg==\">",
    "  ca.crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM=", "    listen 127.0.0.1:{port};",
    "bind 0.0.0.0:{port}",
    "  server_name {w}.example.com;", "netmask 255.255.255.0",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{sha} deploy@buildbox",
    "git remote add origin git@github.com:acme/{w}.git", "  id: {unix}{n}", "order #{ms} shipped",
    # prose and UI text
    "Forgot your password? Click here to reset it.",
    "The {w} migration finished on {date} at {time} without errors.",
    "Meeting moved to Thursday 14:30, room 4.12.", "Revenue grew {pct}% to $1,234,567 in Q3.",
    "We should cache the {w} before rendering the {w}; it cuts latency by {pct}%.",
    "See section 3.2.1 of the spec.",
    "The API returns a token that expires after one hour.", "Please enter your password to continue.",
    "Call the {w} endpoint twice and compare the results.", "Ticket PROJ-{n}: {W} fails on empty input",
    "ISBN 978-3-16-148410-0", "Coordinates: 48.8566, 2.3522", "Total: 1,299.99 EUR incl. 19% VAT",
    "Build {date}.{n} is ready for QA.", "Screen resolution 1920x1080 at 60 Hz", "Error code 0x80070005",
    "Scores: 12-10, 8-15, 21-19", "It took {n} ms, about {pct}% more than yesterday.",
    "Chapter 7, pages 112-148.",
    "The keyboard shortcut is Ctrl+Shift+T.", "Uptime: 3 days, 04:12:55",
    "Release v{ver} is out with {n} fixes.",
]


def _negatives(rng: random.Random, n: int = 2200) -> list[Sample]:
    out = [Sample(_fill(rng, NEGATIVE_TEMPLATES[i % len(NEGATIVE_TEMPLATES)]), "negative") for i in range(n)]
    cert = base64.b64encode(rng.randbytes(300)).decode()
    out.append(Sample("-----BEGIN CERTIFICATE-----\n" + "\n".join(cert[i:i + 64] for i in range(0, len(cert),
                                                                                                64))
                      + "\n-----END CERTIFICATE-----", "negative"))
    out.append(Sample("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE" + _s(rng, B64, 52)
                      + "\n-----END PUBLIC KEY-----", "negative"))
    return out


def build_corpus(seed: int = 0) -> list[Sample]:
    """The labelled corpus for ``seed``: secrets, then PII, then negatives (deterministic)."""
    rng = random.Random(seed)
    return _secrets(rng) + _pii(rng) + _negatives(rng)
