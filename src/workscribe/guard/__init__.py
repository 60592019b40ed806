"""The guard stage: what may be recorded, decided before anything is captured or stored.

- ``consent``: the contributor's grant (apps, sites, repos, sources, retention), stored owner-only.
- ``scope``: pure matchers of windows to apps and of page URLs to sites.
- ``secure``: secure contexts (password prompts, password managers, terminals with echo off).
- ``guard``: the per-recording state machine that admits events and marks gaps.
"""

from workscribe.guard.consent import (
    CODING_SOURCES,
    CONSENT_FILE,
    DEVICE_KEY_FILE,
    GUI_SOURCES,
    POLICY_VERSION,
    SOURCES,
    Consent,
    ConsentError,
    check_repos,
    device_key,
    grant,
    load,
    pseudonym,
    require,
    revoke,
)
from workscribe.guard.guard import Guard, Rect
from workscribe.guard.scope import AppMatcher, PatternError, SiteMatcher, WindowLike

__all__ = [
    "CODING_SOURCES", "CONSENT_FILE", "DEVICE_KEY_FILE", "GUI_SOURCES", "POLICY_VERSION", "SOURCES",
    "AppMatcher", "Consent", "ConsentError", "Guard", "PatternError", "Rect", "SiteMatcher", "WindowLike",
    "check_repos", "device_key", "grant", "load", "pseudonym", "require", "revoke",
]
