"""Redaction before disk: text rules (secrets and PII become typed placeholders) and their version.

No unredacted text is written by the recorder: every typed string, title, URL, command and output
passes through ``redact_text`` (or ``redact_lines``) first, and every record names
``RULESET_VERSION``, the rule set that cleaned it.

Example:
    >>> redact_text("export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE")[0]
    'export AWS_ACCESS_KEY_ID=<SECRET:aws_access_key>'
"""

from workscribe.redact.rules import PII_LABELS, placeholder
from workscribe.redact.text import RULESET_VERSION, Hit, category, find_hits, redact_lines, redact_text

__all__ = ["PII_LABELS", "RULESET_VERSION", "Hit", "category", "find_hits", "placeholder", "redact_lines",
           "redact_text"]
