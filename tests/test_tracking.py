"""Signed link tokens: what /c/ and /u/ links carry, and what a tampered one gets."""

from __future__ import annotations

import base64
import re

import pytest

from mailer.errors import TokenError
from mailer.tokens import (
    DEVELOPMENT_KEY,
    SecretKey,
    click_token,
    make_token,
    read_click_token,
    read_token,
    unsubscribe_token,
)
from mailer.workspace import Workspace

KEY = "test-secret-key-0123456789abcdef"
OTHER_KEY = "another-clinic-key-0123456789abcdef"


def test_round_trip_carries_subscriber_and_campaign() -> None:
    token = make_token(KEY, "u", 2**40 + 7, "2026-03-10-spring")
    found = read_token(KEY, token, "u")
    assert (found.kind, found.subscriber_id, found.campaign) == (
        "u",
        2**40 + 7,
        "2026-03-10-spring",
    )
    assert re.fullmatch(r"[A-Za-z0-9_-]+", token)  # safe in a URL path as is


def test_token_is_compact_with_a_16_byte_mac() -> None:
    token = unsubscribe_token(KEY, 12345, "2026-03-10-spring")
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert len(raw) == 1 + 2 + len("2026-03-10-spring") + 16
    assert len(token) < 60


def test_unsubscribe_token_never_expires() -> None:
    # No time inside: the same link works next week and next year.
    assert unsubscribe_token(KEY, 9) == unsubscribe_token(KEY, 9)
    assert read_token(KEY, unsubscribe_token(KEY, 9), "u").subscriber_id == 9


def test_click_token_carries_link_index() -> None:
    token = click_token(KEY, 42, "2026-03-10-spring", 3)
    found = read_click_token(KEY, token)
    assert (found.subscriber_id, found.campaign, found.link_index) == (42, "2026-03-10-spring", 3)


def flip(token: str, position: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    swapped = alphabet[(alphabet.index(token[position]) + 1) % len(alphabet)]
    return token[:position] + swapped + token[position + 1 :]


@pytest.mark.parametrize("position", [0, 1, 5, 10, -2])
def test_tampered_token_is_refused(position: int) -> None:
    token = make_token(KEY, "u", 77, "2026-03-10-spring")
    with pytest.raises(TokenError):
        read_token(KEY, flip(token, position % len(token)))


def test_foreign_key_wrong_kind_and_garbage_are_refused() -> None:
    token = make_token(KEY, "u", 77, "spring")
    with pytest.raises(TokenError):
        read_token(OTHER_KEY, token)
    with pytest.raises(TokenError):
        read_token(KEY, token, "c")  # an unsubscribe token is not a click token
    with pytest.raises(TokenError):
        read_click_token(KEY, f"{token}.0")
    for garbage in ["", "abc", "!!!!", token[:-4], token + "AA", "x" * 500]:
        with pytest.raises(TokenError):
            read_token(KEY, garbage)
    for bad_click in [click_token(KEY, 1, "s", 0).replace(".0", ""), "abc.1", "abc.x"]:
        with pytest.raises(TokenError):
            read_click_token(KEY, bad_click)


def test_another_subscriber_cannot_be_forged() -> None:
    mine = make_token(KEY, "c", 100, "spring")
    forged = make_token(OTHER_KEY, "c", 101, "spring")
    assert read_token(KEY, mine).subscriber_id == 100
    with pytest.raises(TokenError):
        read_token(KEY, forged)


def test_workspace_key_and_development_fallback(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = SecretKey.for_workspace(workspace)
    assert not key.development and key.value == b"test-secret-key-0123456789abcdef"
    monkeypatch.delenv("MAILER_SECRET_KEY")
    unset = SecretKey.for_workspace(Workspace(workspace.root))
    assert unset.development and unset.value == DEVELOPMENT_KEY.encode()
    with pytest.raises(TokenError):  # development links do not verify with the real key
        read_token(key, make_token(unset, "u", 1))


@pytest.mark.parametrize("campaign", ["2026-03-10-spring", "", "café-news"])
def test_a_link_signer_makes_the_tokens_link_tokens_makes(campaign: str) -> None:
    """LinkSigner (a send's fast path, issue 17) and link_tokens agree on every id, and on the
    preview identity; both keys (str and SecretKey) alike."""
    from mailer.tokens import LinkSigner, link_tokens

    for key in (KEY, SecretKey(KEY.encode())):
        signer = LinkSigner(key, campaign)
        for subscriber_id in (None, 0, 1, 127, 128, 16_383, 16_384, 2**40 + 7):
            assert signer.link_tokens(subscriber_id) == link_tokens(key, subscriber_id, campaign)
    with pytest.raises(ValueError):
        LinkSigner(KEY, campaign).link_tokens(-1)


@pytest.mark.parametrize(
    "name",
    [
        "Maria",
        "Anne Marie",
        " Maria",
        "Maria ",
        "Anne  Marie",
        "Ma\tria",
        "Ma\x00ria",
        "Jo\x7f",
        "Ana\u00a0Luísa",
        "Zoë",
        "",
        "   ",
        "x" * 61,
        "x" * 60,
        "Ma\u200bria",
        "李 小龙",
    ],
)
def test_first_names_are_cleaned_as_before(name: str) -> None:
    """The fast path of clean_first_name (a name already clean is kept as is) changes nothing."""
    from mailer.campaigns.personalize import (
        _CONTROL,
        FALLBACK_FIRST_NAME,
        MAX_NAME,
        clean_first_name,
    )

    slow = " ".join(_CONTROL.sub(" ", name).split())[:MAX_NAME] or FALLBACK_FIRST_NAME
    assert clean_first_name(name) == slow
