"""The rules for OCR'd lines: OCR's misreadings, lost and added spaces are still found; ordinary
terminal output as OCR reads it gets no hit.

The misread lines are as rapidocr read rendered terminal lines (``workscribe bench redact``'s
frames), with the values swapped for fakes; each case checks first that ``find_hits`` misses it,
so that every case tests the OCR tolerance and nothing else.
"""

from __future__ import annotations

import pytest

from workscribe.redact.ocr_text import find_hits_ocr, ocr_skeleton
from workscribe.redact.text import find_hits

# fake values, assembled so that no secret-shaped literal sits in the source
SLACK = "-686447592211-6697284576377-" + "sgUfp9DcTJvfD4nNBWeZ4A2h"
AWS = "Q3M0CKKEY7EXAMPL"
KEY_LINE = "w9o40IavNMtNZ0LA3eLn+H2myFDj94cip94HiW46lXpy0y9cnCIS/0uhnmRNR6E5"

# (line as OCR read it, the value that must be covered, its label)
MISREAD = [
    ("SLACK_B0T_T0KEN=x0Xp" + SLACK, "x0Xp" + SLACK, "slack_token"),           # 0 for o, X for x
    ("slack: x0xb" + SLACK, "x0xb" + SLACK, "slack_token"),
    ("aws_access_key_id = AKlA" + AWS, "AKlA" + AWS, "aws_access_key"),         # l for I
    ("awS_aCceSs_key_id = AKIAGUBBBAYN3B0470w0", "AKIAGUBBBAYN3B0470w0", "aws_access_key"),  # w for W
    ("PRIVATE-T0KEN: g1pat-PAlvDdSX609shQDauq8l", "g1pat-PAlvDdSX609shQDauq8l", "gitlab_token"),
    ("STRIPE_KEY=sk_1ive_of56Gn1BhmWfdTA90jpKq4fz", "sk_1ive_of56Gn1BhmWfdTA90jpKq4fz", "stripe_key"),
    ("card 411l 111l 1111 111l exp 12/29", "411l 111l 1111 111l", "card"),     # l for 1
    ("Signed-off-by: Bob <olga+newsl0@acme-corp.i0>", "olga+newsl0@acme-corp.i0", "email"),  # 0 for o
    ("iban: GB59 NwBK 0881 0950 5254 77", "GB59 NwBK 0881 0950 5254 77", "iban"),
    ("G00GLE_API_T0KEN=9f8a7b6c5d4e3f2a1b0c", "9f8a7b6c5d4e3f2a1b0c", "credential"),
    ("the password is_ s3cr3tRNowJI", "s3cr3tRNowJI", "password"),              # `_` before a space
    ("export PGPASSWoRD=hunter2hunter2", "hunter2hunter2", "password"),        # o in a name in capitals
    ("BearereyJhbGci0iJIUzI1NiJ9,eyJzdWIi0i27ACMfCRehNC60VyU0XdBCsH.YNnPfI0srg0VinIyWe-Bn8dHbxMk-EhA6SP",
     "eyJhbGci0iJIUzI1NiJ9,eyJzdWIi0i27ACMfCRehNC60VyU0XdBCsH.YNnPfI0srg0VinIyWe-Bn8dHbxMk-EhA6SP", "jwt"),
    (KEY_LINE, KEY_LINE, "private_key"),                                       # a key's body line alone
    ("dh/mSiaKR0XZCs9QiKj cASaA1QS+FocW6o4dj YMs+itkbkyIWw0MR6S2hYWIh4pw",    # ... with spaces added
     "dh/mSiaKR0XZCs9QiKj cASaA1QS+FocW6o4dj YMs+itkbkyIWw0MR6S2hYWIh4pw", "private_key"),
]
DROPPED_SPACE = [
    ("tokenAKIA" + AWS, "AKIA" + AWS, "aws_access_key"),
    ("KeyidAKIA3GQE0ETW3LD5CGZM", "AKIA3GQE0ETW3LD5CGZM", "aws_access_key"),
    ("githubghp_" + "q4AvLTgkQVEf3Q80TxaYzYDKp7IPSu1VD8Ce", "ghp_q4AvLTgkQVEf3Q80TxaYzYDKp7IPSu1VD8Ce",
     "github_token"),
    ("bottokenxoxp" + SLACK, "xoxp" + SLACK, "slack_token"),
    ("openai keysk-proj-" + "ig3tpLnD_BgZyx3xE7tQjpDy8RFKsuAIY08FoDoyQj0SSznH",
     "sk-proj-ig3tpLnD_BgZyx3xE7tQjpDy8RFKsuAIY08FoDoyQj0SSznH", "openai_key"),
    ("card4081 0422 8215 0529", "4081 0422 8215 0529", "card"),
    ("IBANDE60 3806 5580 3917 1569 38", "DE60 3806 5580 3917 1569 38", "iban"),
    ("from172.164.124.37", "172.164.124.37", "ip"),
    ("fr0m10.65.201.165", "10.65.201.165", "ip"),
    ("my token3e56ca41fdeeb0662f42c862d0fa069d", "3e56ca41fdeeb0662f42c862d0fa069d", "high_entropy"),
    ("mytoken 08ae8f3499e904f3b5888c1c5c2e51dc", "08ae8f3499e904f3b5888c1c5c2e51dc", "high_entropy"),
    ("mytokene34e66a5021656a8dfdof1d36b826c81", "e34e66a5021656a8dfdof1d36b826c81", "high_entropy"),
]
ADDED_SPACE = [
    ("key = 'sk-proj -UQR9FFxXsKKwhZhpgh6T5TEWEoJY6e6UqR8HKrAKN2t5qwuP",
     "sk-proj -UQR9FFxXsKKwhZhpgh6T5TEWEoJY6e6UqR8HKrAKN2t5qwuP", "openai_key"),
    ("SLACK_T0KEN=x0xb -686447592211-6697284576377-sgUfp9DcTJvfD4nNBWeZ4A2h",
     "x0xb -686447592211-6697284576377-sgUfp9DcTJvfD4nNBWeZ4A2h", "slack_token"),
    ("HF_TOKEN=hf_AkonDcpKgNZdHUQIKVILzvnhTOj tbddgjT", "hf_AkonDcpKgNZdHUQIKVILzvnhTOj tbddgjT",
     "api_token"),
    ("HF_TOKEN=hf_nLKGTQj BBGsvMQBmokdhPs cGWGtLCRHdfl", "hf_nLKGTQj BBGsvMQBmokdhPs cGWGtLCRHdfl",
     "api_token"),
    ("SLACK_WEBH00K=https : //hooks. slack.com/services/TU0X4SKIA/B96UXBIZJ/LgEIwNy6xfkxsNPuI00wYwml",
     "https : //hooks. slack.com/services/TU0X4SKIA/B96UXBIZJ/LgEIwNy6xfkxsNPuI00wYwml", "slack_webhook"),
    ("From: a.mueller97@firma. de", "a.mueller97@firma. de", "email"),
    ("From: bob.smith8l@acme -corp.io", "bob.smith8l@acme -corp.io", "email"),
    ("SLACK_WEBH00K=https : //hooks. s lack.com/services/TSB3XWTP7/BAAI7J8BK/8DANxydW9yXjCfLPARb5V1Dm",
     "https : //hooks. s lack.com/services/TSB3XWTP7/BAAI7J8BK/8DANxydW9yXjCfLPARb5V1Dm", "slack_webhook"),
    ("card 53005054 6632 9087 exp 12/29", "53005054 6632 9087", "card"),          # groups run together
    ("payment card:5121 7982 62595921", "5121 7982 62595921", "card"),
    ("card5123839305905608exp12/29", "5123839305905608", "card"),
]
GLUED_OPTION = [
    ("$ psql--password s3cr3ttcZcqU", "s3cr3ttcZcqU", "password"),
    ("$ psql--password correct-horse-khasa", "correct-horse-khasa", "password"),
    ("$sshpass-p Summer2024!sshdeploy@web1", "Summer2024!", "password"),
]

# ordinary terminal output as OCR read it, its misreadings and lost spaces included
ORDINARY = [
    "-rw-r--r--1 alice staff 4096 Nov3 14:22 README.md",
    "drwxr-xr-x 15 alice staff 64987 Sep 8 1l:14 requirements.txt",
    "lrwxrwxrwx6 alice staff22097 Sep8 00:49 tests",
    "On branch main", "Your branch is up to date with'origin/main'.", "modified:src/app/cache.py",
    "(use \"git add <file>...\" to update what will be committed)",
    "commit855e7cb4ee0c5c1f8c8dfba276cc0aee530c6c63", "commit 2c1dd9837a9d4c5902588be7e0d2411ee3b5210b",
    "* 41l60a7 (HEAD -> main， origin/main） Refactor cache eviction", "index 0d33960..eldfe62 100644",
    "[main 3f2alb4] Fix off-by-one in the parser", "Date:Mon Nov 3 14:22:01 2025 +0100",
    "FilesystemSizeUsed Avail Use% Mounted on", "/dev/nvme0nlp2468G312G133G71%/",
    "tmpfs | 7.8G2.1M7.8G1%/dev/shm", "/dev/sdal | 511M 6.1M 505M2% /boot/efi",
    "overlay | 59G41G16G73%/var/lib/docker/overlay2/3f2alb4c9d8e/merged",
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm) “', 'VERSI0N="12 (bookworm)“', 'VERSI0N_ID="12"',
    'HOME_URL="https: //www. debian.org/"', "Linux build 6.1.0-26-amd64 #1 SMP PREEMPT_DYNAMIC Debian",
    "Python 3.11.2 (main, Mar 13 2023, 12:18:29） [GCC 12.2.0] on linux",
    "Requirement already satisfied: pillow>=l0.3 in ./.venv/lib/python3.1l/site-packages",
    'File "/usr/lib/python3.ll/json/_init_·py", line 248, in load',
    "==== 31l passed, 1 skipped in 70.23s :", "tests/test_parser.py....... | ......[ 57%]",
    "Digest:sha256:81la5433d76c36c48036cf78157d8dc8f3450e1f6ca7321de656cb67b2ale154",
    "·gitignore82e8923503e7e3bf8284adc6f9d3dc20", "setup.cfg 9612d8fee2a39717365cc476f43cebof",
    "ld8f4a46c33a  postgres:16. \"docker-entrypoint.s...\" 3 hours ago Up 2 hours  db",
    "web-2b1740c14a-2tunl 1/1 | Running | 3d", "alice58167 8.90.4 3943616359824pts/6sl+ 18:360:31python",
    "Mem: | 31Gi | 13Gi | 3Gi | 1.2G1 | 12G1 | 18G1", "Receiving objects: 94% (4983/9999)， 90.46 MiB",
    "2025-11-03T14:22:01.123Z INFO processed 1532 items in 0.842s", "$cd ~/src/app&&make test",
    "npm WARN deprecated export@6.15.8: use handler@28.1l instead", "Version=4.0.0.0, Culture=neutral",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI25d563088effd3e10aba61397eeea91adeff2e83 deploy@buildbox",
    "listen 127.0.0.1:8000; bind 0.0.0.0:80", "-----BEGIN RSA PRIVATE KEY--- -",
    "alice 58167 8.9 0.4 3943616 359824 pts/6", "card 4111 1111 1111 1112 (Luhn fails)",
    "Version=4.0.0.0, Culture=neutral, PublicKeyToken=b77a5c561934e089", "monkey business, a tokenizer",
]


def _covers(text: str, value: str, hits: list) -> bool:
    start = text.index(value)
    return all(any(h.start <= i < h.end for h in hits) for i in range(start, start + len(value)))


@pytest.mark.parametrize("text, value, label", MISREAD + DROPPED_SPACE + ADDED_SPACE + GLUED_OPTION,
                         ids=[f"{label}:{text[:24]}" for text, _, label in
                              MISREAD + DROPPED_SPACE + ADDED_SPACE + GLUED_OPTION])
def test_what_ocr_misreads_is_still_found(text: str, value: str, label: str) -> None:
    assert not _covers(text, value, find_hits(text)), "find_hits alone finds this: not an OCR case"
    hits = find_hits_ocr(text)
    assert _covers(text, value, hits), hits
    assert label in {h.label for h in hits if h.start <= text.index(value) < h.end}


@pytest.mark.parametrize("line", ORDINARY)
def test_ordinary_terminal_output_read_by_ocr_has_no_hits(line: str) -> None:
    assert find_hits_ocr(line) == []


def test_what_find_hits_finds_is_found_the_same() -> None:
    for text in ("export AWS_ACCESS_KEY_ID=AKIA" + AWS.replace("0", "O"), "mail jane.doe@example.org now",
                 "curl -u admin:Sup3r-Secret-Pw1 https://api.example.com", "card 4111 1111 1111 1111"):
        assert find_hits_ocr(text) == find_hits(text)


def test_hits_of_respaced_variants_point_into_the_line_read() -> None:
    text = "IBANDE60 3806 5580 3917 1569 38 paid"
    [hit] = find_hits_ocr(text)
    assert text[hit.start:hit.end] == "DE60 3806 5580 3917 1569 38" and hit.label == "iban"
    text = "SLACK_T0KEN=x0xb -686447592211-6697284576377-sgUfp9DcTJvfD4nNBWeZ4A2h done"
    [hit] = find_hits_ocr(text)
    assert text[hit.end:] == " done" and text[hit.start:hit.start + 4] == "x0xb"


def test_an_identifier_misread_with_a_zero_is_no_password_when_its_case_tells() -> None:
    # K keeps case: `newPassw0rd` folds to the identifier `newPassword`, which the keyword rules skip
    assert find_hits_ocr("password=newPassword") == []
    assert find_hits_ocr("password = getpass.getpass('Passw0rd: ')") == []


def test_the_skeleton_folds_what_ocr_confuses_and_keeps_the_length() -> None:
    assert ocr_skeleton("A1ice@W0rkstation-58") == ocr_skeleton("alice@workstation-sb")
    assert ocr_skeleton("A1ice@W0rkstation-58") == "allce@workstatlon-sb"
    assert len(ocr_skeleton("İstanbul")) == len("İstanbul")
