"""LinkSigner signs a campaign's tokens from one keyed HMAC state it copies (issue 17): the
tokens must stay exactly the ones ``make_token`` signs, for any key length, and verify."""

from __future__ import annotations

import pytest

from mailer.tokens import (
    KIND_CLICK,
    KIND_UNSUBSCRIBE,
    LinkSigner,
    SecretKey,
    link_tokens,
    read_token,
)

# Around HMAC's 64-byte block: a longer key is hashed first, a shorter one padded.
KEYS = ["", "k", "x" * 63, "y" * 64, "z" * 65, "w" * 200, "clé-secrète-ü"]
IDS = [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 2**40 + 7, 2**63]


@pytest.mark.parametrize("key", KEYS)
def test_every_key_length_signs_as_make_token(key: str) -> None:
    for campaign in ("2026-03-10-spring", "", "café-news"):
        for secret in (key, key.encode(), SecretKey(key.encode())):
            signer = LinkSigner(secret, campaign)
            for subscriber_id in IDS:
                click, unsubscribe = signer.link_tokens(subscriber_id)
                assert (click, unsubscribe) == link_tokens(secret, subscriber_id, campaign)
                found = read_token(secret, unsubscribe, KIND_UNSUBSCRIBE)
                assert (found.subscriber_id, found.campaign) == (subscriber_id, campaign)
                assert read_token(secret, click, KIND_CLICK).subscriber_id == subscriber_id
