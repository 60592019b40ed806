"""Text redaction: every category with its exact placeholder, the usual false-positive traps left
byte-identical, line counts kept, batches equal to single lines, and the benchmark's corpus."""

from __future__ import annotations

import pytest

from workscribe.bench.redact import bench_redact, evaluate
from workscribe.redact import RULESET_VERSION, category, redact_lines, redact_text
from workscribe.redact.pii import card_ok, iban_ok
from workscribe.testing.corpus import build_corpus

# fake tokens are assembled here, so that no secret-shaped literal sits in the source
R = "a1B2" * 40
HEX40 = "0123456789abcdef" * 2 + "01234567"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0." + "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
PEM_BODY = ["MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7" + "x" * 12, "Zm9vYmFy" * 8, "YmF6cXV4" * 4]

SECRETS = [
    ("export AWS_ACCESS_KEY_ID=AKIA" + "ABCDEFGHIJKLMNOP",
     "export AWS_ACCESS_KEY_ID=<SECRET:aws_access_key>"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKE",
     "aws_secret_access_key = <SECRET:aws_secret_key>"),
    ("export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+" + "bPxRfiCYEXAMPLEKE",
     "export AWS_SECRET_ACCESS_KEY=<SECRET:aws_secret_key>"),
    ("https://maps.googleapis.com/maps/api/geocode/json?key=AIza" + R[:35],
     "https://maps.googleapis.com/maps/api/geocode/json?key=<SECRET:gcp_api_key>"),
    ('  "private_key_id": "' + HEX40 + '",', '  "private_key_id": "<SECRET:gcp_service_account>",'),
    ("AccountName=acme;AccountKey=" + "Ab9+" * 21 + "Ab==;EndpointSuffix=core.windows.net",
     "AccountName=acme;AccountKey=<SECRET:azure_storage_key>;EndpointSuffix=core.windows.net"),
    ("GITHUB_TOKEN=ghp_" + R[:36], "GITHUB_TOKEN=<SECRET:github_token>"),
    ("git clone https://gho_" + R[:36] + "@github.com/acme/app.git",
     "git clone https://<SECRET:github_token>@github.com/acme/app.git"),
    ("token: github_pat_11" + "ABCDEFGHIJ" * 2 + "_" + R[:59], "token: <SECRET:github_token>"),
    ("PRIVATE-TOKEN: glpat-" + R[:20], "PRIVATE-TOKEN: <SECRET:gitlab_token>"),
    ("SLACK_BOT_TOKEN=xoxb-123456789012-1234567890123-" + R[:24], "SLACK_BOT_TOKEN=<SECRET:slack_token>"),
    ("curl -X POST https://hooks.slack.com/services/T0123ABCD/B0123ABCD/" + R[:24],
     "curl -X POST <SECRET:slack_webhook>"),
    ('stripe.api_key = "sk_live_' + R[:24] + '"', 'stripe.api_key = "<SECRET:stripe_key>"'),
    ("OPENAI_API_KEY=sk-proj-" + R[:60], "OPENAI_API_KEY=<SECRET:openai_key>"),
    ("x-api-key: sk-ant-api03-" + R[:60] + "AA", "x-api-key: <SECRET:anthropic_key>"),
    ("//registry.npmjs.org/:_authToken=npm_" + R[:36], "//registry.npmjs.org/:_authToken=<SECRET:npm_token>"),
    ("twine upload -u __token__ -p pypi-AgEIcHlwaS5vcmc" + R[:70] + " dist/*",
     "twine upload -u __token__ -p <SECRET:pypi_token> dist/*"),
    ("Authorization: Bearer " + JWT, "Authorization: Bearer <SECRET:jwt>"),
    ("git clone https://alice:S3cretPass99@git.example.com/team/app.git",
     "git clone https://alice:<SECRET:password_in_url>@git.example.com/team/app.git"),
    ("DATABASE_URL=postgres://app:pa55w0rd-x@db.internal:5432/app",
     "DATABASE_URL=postgres://app:<SECRET:connection_string>@db.internal:5432/app"),
    ("mongodb+srv://ann:Zx9-qq7Lm@cluster0.ab1cd.mongodb.net/?retryWrites=true",
     "mongodb+srv://ann:<SECRET:connection_string>@cluster0.ab1cd.mongodb.net/?retryWrites=true"),
    ("redis://:Rd-s3cret-77@cache:6379/0", "redis://:<SECRET:connection_string>@cache:6379/0"),
    ("Server=tcp:db.example.net,1433;User ID=ann;Password=Tr0ub4dor&3;Encrypt=True;",
     "Server=tcp:db.example.net,1433;User ID=ann;Password=<SECRET:password>;Encrypt=True;"),
    ('password="hunter2hunter2"', 'password="<SECRET:password>"'),
    ("passwd: Summer2024!", "passwd: <SECRET:password>"),
    ('  "password": "correct-horse-battery",', '  "password": "<SECRET:password>",'),
    ("token=9f8a7b6c5d4e3f2a1b0c", "token=<SECRET:credential>"),
    ("secret = 'Zq8!xw-77-Lp'", "secret = '<SECRET:credential>'"),
    ('"apiKey": "AbCdEf0123456789",', '"apiKey": "<SECRET:credential>",'),
    ("psql --password S3cret-Pw", "psql --password <SECRET:password>"),
    ("mysql -uroot -p'S3cret!x' shop", "mysql -uroot -p'<SECRET:password>' shop"),
    ("curl -u alice:Pa55-word https://api.example.com/me",
     "curl -u alice:<SECRET:password> https://api.example.com/me"),
    ("Authorization: Bearer " + R[:40], "Authorization: Bearer <SECRET:credential>"),
    ("my token 9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c", "my token <SECRET:high_entropy>"),
]

PII = [
    ("contact alice.smith+news@example.co.uk today", "contact <EMAIL> today"),
    ("Author: Jürgen Müller <jürgen@firma.de>", "Author: Jürgen Müller <<EMAIL>>"),
    ("write to alice at example dot com", "write to <EMAIL>"),
    ("Call +44 20 7946 0958 or (555) 123-4567.", "Call <PHONE> or <PHONE>."),
    ("555-123-4567 / +1-202-555-0143 / 1-800-555-0199", "<PHONE> / <PHONE> / <PHONE>"),
    ("+33 6 12 34 56 78 / 0049 30 123456 / +91 98765 43210", "<PHONE> / <PHONE> / <PHONE>"),
    ("+49 (0)30 1234567, tel:+14155550132", "<PHONE>, tel:<PHONE>"),
    ("Tel: 07700 900123", "Tel: <PHONE>"),
    ("card 4111 1111 1111 1111, 4111-1111-1111-1111, 378282246310005", "card <CARD>, <CARD>, <CARD>"),
    ("cc=5555555555554444&exp=12/29", "cc=<CARD>&exp=12/29"),
    ("IBAN DE89 3704 0044 0532 0130 00 or GB29NWBK60161331926819", "IBAN <IBAN> or <IBAN>"),
    ("SSN 123-45-6789; ssn: 123 45 6789", "SSN <SSN>; ssn: <SSN>"),
    ("Failed password for root from 203.0.113.42 port 52314 ssh2",
     "Failed password for root from <IP> port 52314 ssh2"),
    ("inet 10.0.3.17/24 and host 1.2.3.4", "inet <IP>/24 and host <IP>"),
    ("2001:db8::8a2e:370:7334 and fe80::1ff:fe23:4567:890a%eth0 and [2001:db8::1]:8080",
     "<IP> and <IP> and [<IP>]:8080"),
]

NEGATIVES = [
    "commit 2c1dd9837a9d4c5902588be7e0d2411ee3b5210b",
    "* 3f2a1b4 (HEAD -> main, tag: v2.13.0) Merge pull request #4521 from acme/parser",
    "index 3f2a1b4..9c8d7e6 100644",
    "request_id=3f2a1b4c-9d8e-4f7a-8b6c-5d4e3f2a1b0c",
    "numpy==1.26.4 torch==2.13.0 pip install foo==1.2.3.4",
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0.0.0 Safari/537.36",
    "Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089",
    "version 1.2.3.4 of the SNMP OID 1.3.6.1.4.1",
    "2025-11-03T14:22:01.123Z INFO processed 1532 items in 0.842s",
    "[2025-11-03 14:22:01,123] ts=1762180921 ms=1762180921123 ns=1762180921123456789",
    "Date:   Mon Nov 3 14:22:01 2025 +0100",
    "color: #3b82f6; background: #fff url(./bg.png);",
    "listen 127.0.0.1:8000; bind 0.0.0.0:80; ::1; netmask 255.255.255.0",
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    '"integrity": "sha512-' + "z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg" * 2 + '=="',
    "  ca.crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM=",
    "card 4111 1111 1111 1112 (Luhn fails)",
    "IBAN DE89 3704 0044 0532 0130 01 (checksum fails)",
    "000-12-3456 666-12-3456 912-34-5678 123-00-4567 123-45-0000",
    "ISBN 978-3-16-148410-0, room 4.12, pages 112-148, scores 12-10",
    "order #1762180921123 shipped; id 98765432101234",
    "x = a[10::2]; std::vector<int> v; Foo::Bar::baz();",
    "git remote add origin git@github.com:acme/app.git",
    "npm i @types/node@20.11.5; @pytest.mark.parametrize",
    "password = getpass.getpass('Password: ')",
    "api_key = os.environ['OPENAI_API_KEY']",
    "    self.password = password",
    "def check_password(password: str, hashed: bytes) -> bool:",
    "conn = connect(host=host, password=db_password)",
    "password: ${DB_PASSWORD}",
    'api_key: "{{ vault_api_key }}"',
    "export GITHUB_TOKEN=$(gh auth token)",
    "password: ********",
    "token_ttl_seconds: 3600 max_tokens=1024 token_count = len(tokens)",
    "tokenizer = AutoTokenizer.from_pretrained('bert-base-uncased')",
    "secretKeyRef: { name: db-creds, key: password }",
    "Forgot your password? Please enter your password to continue.",
    "read -s -p 'Password: ' PASSWORD",
    "ssh-keygen -t ed25519 -f ~/.ssh/id_ed25519",
    "-----BEGIN PUBLIC KEY-----",
    "",
    "   \t  ",
]


@pytest.mark.parametrize("text, expected", SECRETS, ids=[e.split("<SECRET:")[1][:24] for _, e in SECRETS])
def test_each_secret_kind_becomes_its_placeholder(text: str, expected: str) -> None:
    out, hits = redact_text(text)
    assert out == expected
    assert hits and all(category(h.label) == "secret" for h in hits)


@pytest.mark.parametrize("text, expected", PII, ids=[e[:30] for e, _ in PII])
def test_each_pii_kind_becomes_its_placeholder(text: str, expected: str) -> None:
    out, hits = redact_text(text)
    assert out == expected
    assert hits and all(category(h.label) == "pii" for h in hits)


@pytest.mark.parametrize("text", NEGATIVES)
def test_ordinary_text_stays_byte_identical(text: str) -> None:
    assert redact_text(text) == (text, [])


def test_hit_offsets_point_into_the_original_text() -> None:
    text = "mail bob@example.com, key AKIA" + "ABCDEFGHIJKLMNOP" + " now"
    out, hits = redact_text(text)
    assert [(h.label, text[h.start:h.end]) for h in hits] == [
        ("email", "bob@example.com"), ("aws_access_key", "AKIA" + "ABCDEFGHIJKLMNOP")]
    assert out == "mail <EMAIL>, key <SECRET:aws_access_key> now"


@pytest.mark.parametrize("template", ["KEY_SECRET={v} tail", 'password: "{v}"', 'password="{v}',
                                      '"api_key": "{v}",', 'token = "{v}"  # c'])
def test_values_longer_than_the_pattern_limit_are_redacted_whole(template: str) -> None:
    value = "Ab3" * 2000
    out = redact_text(template.replace("{v}", value))[0]
    assert "Ab3" not in out and "<SECRET:" in out


def test_redacting_twice_changes_nothing_more() -> None:
    for text, _ in SECRETS + PII:
        once = redact_text(text)[0]
        assert redact_text(once)[0] == once


def test_private_key_block_is_replaced_and_keeps_its_line_count() -> None:
    block = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(PEM_BODY) + "\n-----END RSA PRIVATE KEY-----"
    text = f"$ cat id_rsa\n{block}\n$ ls"
    out, hits = redact_text(text)
    assert [h.label for h in hits] == ["private_key"]
    assert out == "$ cat id_rsa\n<SECRET:private_key>" + "\n" * (len(PEM_BODY) + 1) + "\n$ ls"
    assert out.count("\n") == text.count("\n")
    assert not any(line in out for line in PEM_BODY)


def test_private_key_inside_json_with_escaped_newlines() -> None:
    block = "-----BEGIN PRIVATE KEY-----\\n" + "\\n".join(PEM_BODY) + "\\n-----END PRIVATE KEY-----\\n"
    out = redact_text(f'  "private_key": "{block}",')[0]
    assert out == '  "private_key": "<SECRET:private_key>\\n",'


@pytest.mark.parametrize("batch_lines", [1, 2, 3, 1024])
def test_redact_lines_joins_a_key_that_arrives_line_by_line(batch_lines: int) -> None:
    lines = ["before", "-----BEGIN OPENSSH PRIVATE KEY-----", *PEM_BODY, "-----END OPENSSH PRIVATE KEY-----",
             "after bob@example.com"]
    out = list(redact_lines(lines, batch_lines=batch_lines))
    assert len(out) == len(lines)
    assert out[0] == "before" and out[1] == "<SECRET:private_key>" and out[-1] == "after <EMAIL>"
    assert all(line == "" for line in out[2:-1])


def test_redact_lines_redacts_an_unterminated_key_to_the_end() -> None:
    lines = ["-----BEGIN EC PRIVATE KEY-----", *PEM_BODY]
    out = list(redact_lines(lines))
    assert out == ["<SECRET:private_key>"] + [""] * len(PEM_BODY)


LOG = [f"2025-11-03 14:{i // 60:02d}:{i % 60:02d} INFO worker-{i % 7} processed batch {i} in 0.{i % 9}s"
       for i in range(200)]


@pytest.mark.parametrize("batch_lines", [1, 3, 64, 1024])
def test_a_truncated_key_takes_only_its_own_lines(batch_lines: int) -> None:
    lines = ["$ tail -n 204 app.log", "-----BEGIN RSA PRIVATE KEY-----", *PEM_BODY, *LOG]
    expected = ["$ tail -n 204 app.log", "<SECRET:private_key>", *[""] * len(PEM_BODY), *LOG]
    out, hits = redact_text("\n".join(lines))
    assert out.split("\n") == expected and [h.label for h in hits] == ["private_key"]
    assert list(redact_lines(lines, batch_lines=batch_lines)) == expected


def test_a_key_cut_off_at_the_end_of_the_text_is_redacted_to_the_end() -> None:
    text = "$ cat id_ecdsa\n-----BEGIN EC PRIVATE KEY-----\n" + "\n".join(PEM_BODY)
    assert redact_text(text)[0] == "$ cat id_ecdsa\n<SECRET:private_key>" + "\n" * len(PEM_BODY)


def test_an_encrypted_key_with_headers_and_its_end_line_is_redacted_whole() -> None:
    block = ["-----BEGIN RSA PRIVATE KEY-----", "Proc-Type: 4,ENCRYPTED",
             "DEK-Info: AES-128-CBC,0123456789ABCDEF", "", *PEM_BODY, "-----END RSA PRIVATE KEY-----"]
    lines = ["key: |", *[f"  {line}" for line in block], "name: web", *LOG[:3]]
    expected = ["key: |", "  <SECRET:private_key>", *[""] * (len(block) - 1), "name: web", *LOG[:3]]
    assert redact_text("\n".join(lines))[0].split("\n") == expected
    assert list(redact_lines(lines, batch_lines=2)) == expected


def test_a_key_in_a_string_ends_where_its_string_ends() -> None:
    code = ('KEY = ("-----BEGIN PRIVATE KEY-----\\n"\n       "' + PEM_BODY[0] + '\\n"\n       "' + PEM_BODY[1]
            + '\\n")\nprint(KEY, "bob@example.com")')
    out = redact_text(code)[0].split("\n")
    assert out == ['KEY = ("<SECRET:private_key>', "", '\\n")', 'print(KEY, "<EMAIL>")']
    one_line = '{"private_key": "-----BEGIN PRIVATE KEY-----\\n' + PEM_BODY[2] + '\\n", "client_id": "42"}'
    assert redact_text(one_line)[0] == '{"private_key": "<SECRET:private_key>\\n", "client_id": "42"}'


@pytest.mark.parametrize("batch_lines", [7, 100, 1024])
def test_a_key_longer_than_the_held_lines_gives_what_redact_text_gives(batch_lines: int) -> None:
    from workscribe.redact.text import MAX_BLOCK_LINES

    lines = ["-----BEGIN RSA PRIVATE KEY-----", *[PEM_BODY[1]] * (MAX_BLOCK_LINES + 50), *LOG[:5]]
    expected = redact_text("\n".join(lines))[0].split("\n")
    assert expected == ["<SECRET:private_key>", *[""] * (MAX_BLOCK_LINES + 50), *LOG[:5]]
    assert list(redact_lines(lines, batch_lines=batch_lines)) == expected


def test_redact_lines_gives_the_same_lines_as_redact_text_line_by_line() -> None:
    lines = [line for s in build_corpus(3) if "PRIVATE KEY" not in s.text for line in s.text.split("\n")]
    assert list(redact_lines(lines, batch_lines=257)) == [redact_text(line)[0] for line in lines]


def test_redact_lines_counts_hits_per_label() -> None:
    import collections

    counts: collections.Counter[str] = collections.Counter()
    list(redact_lines(["a@example.com b@example.com", "GITHUB_TOKEN=ghp_" + R[:36]], counts=counts))
    assert counts == {"email": 2, "github_token": 1}


def test_corpus_is_deterministic_large_enough_and_format_valid() -> None:
    corpus = build_corpus(0)
    assert corpus == build_corpus(0) and corpus != build_corpus(1)
    kinds = {k: [s for s in corpus if s.kind == k] for k in ("secret", "pii", "negative")}
    assert len(kinds["secret"]) >= 300 and len(kinds["pii"]) >= 300 and len(kinds["negative"]) >= 2000
    assert all(s.value and s.value in s.text for s in kinds["secret"] + kinds["pii"])
    for s in kinds["pii"]:
        compact = (s.value or "").replace(" ", "").replace("-", "")
        if s.label == "card":
            assert card_ok(compact), s.value
        elif s.label == "iban":
            assert iban_ok(compact), s.value


def test_quality_on_the_corpus_meets_the_targets() -> None:
    result = evaluate(build_corpus(0))
    assert result["secret_recall"] >= 0.99, result["misses"]
    assert result["pii_recall"] >= 0.95, result["misses"]
    assert result["false_positive_rate"] <= 0.02, result["false_positives"]


def test_bench_reports_every_figure() -> None:
    result = bench_redact(seed=1, target_mb=0.2, repeats=1)
    assert result["ruleset_version"] == RULESET_VERSION
    assert {"secret_recall", "pii_recall", "false_positive_rate", "text_mb_per_s", "samples",
            "misses"} <= set(result)
    assert result["samples"]["bytes_timed"] >= 200_000 and result["text_mb_per_s"] > 0
