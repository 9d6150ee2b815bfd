"""The staff pages' secrets stay out of the logs (README: logs never hold link tokens): the
one-time set-password link in an access log line is masked."""

from __future__ import annotations

from mailer.logs import redact


def test_a_set_password_link_is_masked_in_log_lines() -> None:
    token = "dwFTZ1JrTzdkeGJzQ0MxejRpRm1pUFVLSHaPPmAmWxowhvTLPfOkb-aE"
    line = f'127.0.0.1:5123 - "GET /staff/welcome/{token} HTTP/1.1" 200'
    cleaned = redact(line)
    assert token not in cleaned
    assert "/staff/welcome/<token>" in cleaned
