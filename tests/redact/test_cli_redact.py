"""``workscribe redact`` and ``workscribe bench redact`` through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import run_cli
from workscribe.redact import RULESET_VERSION

TOKEN = "ghp_" + "a1B2" * 9
KEY_BODY = ["MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7xxxxxxxxxxxx", "Zm9vYmFy" * 8]
MIXED = "\n".join([
    "$ export GITHUB_TOKEN=" + TOKEN,
    "mail bob@example.com\r",
    "",
    "plain words, nothing to hide",
    "-----BEGIN RSA PRIVATE KEY-----", *KEY_BODY, "-----END RSA PRIVATE KEY-----",
    "commit 2c1dd9837a9d4c5902588be7e0d2411ee3b5210b",
    "from 203.0.113.42 card 4111 1111 1111 1111",
    "last line without a newline",
])


def test_text_is_redacted_line_for_line() -> None:
    r = run_cli("redact", "--text", input=MIXED)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    out = r.stdout.split("\n")
    assert len(out) == len(MIXED.split("\n"))
    assert out[0] == "$ export GITHUB_TOKEN=<SECRET:github_token>"
    assert out[1] == "mail <EMAIL>"  # (text mode reads \r\n as \n; bytes are checked below)
    assert out[2:4] == ["", "plain words, nothing to hide"]
    assert out[4] == "<SECRET:private_key>" and out[5:8] == ["", "", ""]
    assert out[8] == "commit 2c1dd9837a9d4c5902588be7e0d2411ee3b5210b"
    assert out[9] == "from <IP> card <CARD>"
    assert out[-1] == "last line without a newline" and not r.stdout.endswith("\n")
    for secret in (TOKEN, "bob@example.com", *KEY_BODY, "203.0.113.42", "4111"):
        assert secret not in r.stdout


def test_a_truncated_key_in_a_log_blanks_only_its_own_lines() -> None:
    log = [f"2025-11-03 14:22:{i % 60:02d} INFO request {i} served in {i % 17} ms" for i in range(200)]
    lines = ["-----BEGIN RSA PRIVATE KEY-----", *KEY_BODY, "Zm9vYmFy", *log]
    r = run_cli("redact", "--text", input="\n".join(lines) + "\n")
    assert r.returncode == 0, r.stderr
    out = r.stdout.split("\n")[:-1]
    assert out == ["<SECRET:private_key>", "", "", "", *log]


def test_bytes_other_than_the_redacted_ones_pass_through_unchanged() -> None:
    raw = b"crlf bob@example.com\r\n\xff\xfe not utf-8 \xe9t\xe9\n\tkeep  spacing \n\nno newline"
    r = subprocess.run([sys.executable, "-m", "workscribe", "redact", "--text"], input=raw,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == raw.replace(b"bob@example.com", b"<EMAIL>")


def test_json_summary_goes_to_stderr_and_stdout_stays_text() -> None:
    r = run_cli("redact", "--text", "--json", input=MIXED)
    assert r.returncode == 0
    assert r.stdout.count("\n") == MIXED.count("\n") and "{" not in r.stdout
    summary = json.loads(r.stderr)
    assert summary == {"lines": len(MIXED.split("\n")), "ruleset_version": RULESET_VERSION,
                       "hits": {"card": 1, "email": 1, "github_token": 1, "ip": 1, "private_key": 1}}


def test_empty_input_gives_empty_output() -> None:
    r = run_cli("redact", "--text", input="")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def test_image_redaction_fills_secrets_and_reports_the_boxes(tmp_path) -> None:
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", (700, 80), "white")
    font_path = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
    try:
        font = ImageFont.truetype(font_path, 15)
    except OSError:
        font = ImageFont.load_default(size=15)
    ImageDraw.Draw(img).text((10, 10), "mail jane.doe@example.com now", fill="black", font=font)
    img.save(tmp_path / "in.png")
    r = run_cli("redact", "--image", str(tmp_path / "in.png"), "--out", str(tmp_path / "out.png"), "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert [b["label"] for b in result["boxes"]] == ["email"]
    assert "jane.doe" not in r.stdout  # the report shows the redacted line only
    out = Image.open(tmp_path / "out.png")
    x0, y0, x1, y1 = result["boxes"][0]["box"]
    assert out.getpixel(((x0 + x1) // 2, (y0 + y1) // 2)) == (0, 0, 0)


def test_image_errors_are_one_line() -> None:
    r = run_cli("redact", "--image", "missing.png", "--out", "out.png")
    assert r.returncode == 2 and r.stderr.startswith("Error: cannot read image") and r.stderr.count("\n") == 1
    r = run_cli("redact", "--image", "in.png")
    assert r.returncode == 2 and "needs --out" in r.stderr


def test_nothing_to_redact_is_a_usage_error() -> None:
    r = run_cli("redact")
    assert r.returncode == 2 and r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1


@pytest.mark.slow  # `bench redact` also times frame redaction
def test_bench_redact_json() -> None:
    r = run_cli("bench", "redact", "--json", "--seed", "2", "--mb", "0.2", timeout=600)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["ruleset_version"] == RULESET_VERSION
    assert result["secret_recall"] >= 0.99 and result["pii_recall"] >= 0.95
    assert result["false_positive_rate"] <= 0.02 and result["text_mb_per_s"] > 0
    assert result["frame_secrets_planted"] >= 100 and 0 <= result["frame_secret_recall"] <= 1
    assert result["frames_per_s_full"] > 0 and result["frames_per_s_typing"] > 0
    assert 0 <= result["frame_plain_lines_filled"] <= 1
