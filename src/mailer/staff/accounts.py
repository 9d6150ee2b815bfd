"""Stand-in for the staffauth branch's accounts module: only the Role vocabulary.

Replaced at merge by the real module (accounts, Argon2id passwords, sessions).
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"  # also approves, unapproves, manages subscribers and staff
    EDITOR = "editor"  # drafts, edits, previews and sends tests
