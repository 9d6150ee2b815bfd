"""Staff passwords: the strength rule, and Argon2id hashes. No database code here.

A password is accepted when it has at least 12 characters (NIST SP 800-63B's advice for a
password alone is length plus a check against known-bad ones, not composition rules) and is
none of these: one of the shipped common passwords (``common_passwords.txt``), such a password
with digits and symbols added at either end ("Password2024!"), a run of keys ("qwertyuiopas",
"123456789012"), three or fewer different characters, or the person's own address.

Hashes are Argon2id in the PHC string format, with argon2-cffi's defaults (RFC 9106's second
recommended option: 3 passes over 64 MiB, 4 lanes; about 0.25 s per hash on the 2-core
development machine). ``verify`` never raises for a wrong or malformed hash: it answers False.

``PRODUCTION`` is the hasher every hash, check and rehash decision uses; ``use_hasher`` swaps in
another, for the test suite only (cheap parameters: ~0.1 ms a hash instead of 0.25-1.7 s, the
sign-ins of the web tests took a third of `make quick`). Nothing in mailer calls it, so the
parameters in production are argon2-cffi's defaults, checked by the tests of mailer.staff.
"""

from __future__ import annotations

import string
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 1_000  # longer input is a mistake or an attack, not a password
PRODUCTION = PasswordHasher()  # argon2.Type.ID, RFC 9106 low-memory profile
_hasher = PRODUCTION
_EDGES = string.digits + string.punctuation + string.whitespace
_RUNS = (
    "01234567890123456789",
    "abcdefghijklmnopqrstuvwxyz",
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertzuiopasdfghjklyxcvbnm",
    "azertyuiopqsdfghjklmwxcvbn",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "1q2w3e4r5t6y7u8i9o0p",
    "q1w2e3r4t5y6u7i8o9p0",
)


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list (package data), folded to lower case."""
    text = (resources.files("mailer.staff") / "common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip().casefold()
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )


def password_problem(password: str, email: str = "") -> str | None:
    """Why this password cannot be used (a sentence a person can act on), or None if it can."""
    if len(password) < MIN_LENGTH:
        return (
            f"a password needs at least {MIN_LENGTH} characters (this one has "
            f"{len(password)}); a few unrelated words make a long one that is easy to remember"
        )
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    folded = password.casefold()
    core = folded.strip(_EDGES)
    candidates = {folded, core, " ".join(core.split()), "".join(core.split())} - {""}
    if candidates & common_passwords():
        return "this is one of the most common passwords (attackers try them first); choose another"
    if len(set(folded)) <= 3:
        return "this password repeats too few characters; choose a less predictable one"
    if _is_run(folded) or (core and _is_run(core)):
        return "this password is a run of keys on the keyboard; choose another"
    local = email.casefold().partition("@")[0]
    if email and (email.casefold() in folded or (len(local) >= 4 and local in folded)):
        return "a password must not contain your email address (or its name part); choose another"
    return None


def _is_run(text: str) -> bool:
    """A stretch of one of the keyboard or alphabet runs, forwards or backwards, repeated or not
    ("123412341234" is three runs of "1234")."""
    for run in _RUNS:
        for source in (run, run[::-1]):
            for size in range(3, min(len(text), len(source)) + 1):
                piece = text[:size]
                if piece in source and (piece * (len(text) // size + 1)).startswith(text):
                    return True
    return False


def use_hasher(hasher: PasswordHasher) -> PasswordHasher:
    """Make ``hasher`` the one hash_password, verify and needs_rehash use; the one it replaces
    is returned, to be put back. For tests (see the module docstring), never for production."""
    global _hasher
    previous, _hasher = _hasher, hasher
    return previous


def hash_password(password: str) -> str:
    """The Argon2id hash (PHC string) of a password that passed ``password_problem``."""
    return _hasher.hash(password)


def verify(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches; False for a wrong password or an empty/malformed hash. An
    empty hash (no account, or no password set yet) is checked against a stand-in, so that it
    takes as long as a real one."""
    try:
        matched = _hasher.verify(password_hash or _dummy_hash(_hasher), password)
    except (VerificationError, InvalidHashError):
        return False
    return matched and bool(password_hash)


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's (rehash at sign-in)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash to verify against when there is no account, so that "no such address" takes as
    long as "wrong password" and the time of the answer does not tell which (made with the
    hasher in use, hence one per hasher)."""
    return hasher.hash("mailer: no account has this password")
