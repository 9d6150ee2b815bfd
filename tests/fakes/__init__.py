"""Fakes of outside services (SendGrid, an SMTP server) on loopback, for tests and bench, and
in-process fakes of the send engine's two ports: ledger.py (an in-memory LedgerPort) and
provider.py (providers that answer as a script says).

Also a realistic campaign message and recipients (``make_template``, ``make_recipients``) with
the Contract headers and per-recipient placeholders, shared by provider tests and benchmarks.
"""

from __future__ import annotations

from typing import Any

from mailer.delivery.types import MessageTemplate, Recipient

UNSUBSCRIBE_BASE = "https://news.clinic.example/u/"


def make_template(**overrides: Any) -> MessageTemplate:
    """A newsletter as compose would hand it over: ~20 KB of HTML, placeholders filled late."""
    paragraphs = "\n".join(
        f'<tr><td style="padding:8px 24px;font-family:Georgia,serif">Paragraph {i}: '
        "upper-cervical care, posture and sleep — what our patients ask us most, "
        f'with a <a href="https://clinic.example/blog/{i}?utm_source=newsletter">link</a>.'
        "</td></tr>"
        for i in range(80)
    )
    html = (
        "<!doctype html><html><body><table>\n"
        "<tr><td>Hello %%first_name%%,</td></tr>\n"
        f"{paragraphs}\n"
        '<tr><td><a href="https://clinic.example/book?utm_campaign=week-12">Book your free '
        "consultation</a></td></tr>\n"
        '<tr><td>Clinic, 12 Main St, Denver CO · <a href="%%unsubscribe_url%%">Unsubscribe</a>'
        "</td></tr>\n</table></body></html>\n"
    )
    text = (
        "Hello %%first_name%%,\n\n"
        + "\n\n".join(f"Paragraph {i}: upper-cervical care, posture and sleep." for i in range(80))
        + "\n\nBook your free consultation: https://clinic.example/book\n"
        "Clinic, 12 Main St, Denver CO\nUnsubscribe: %%unsubscribe_url%%\n"
    )
    values: dict[str, Any] = {
        "campaign_slug": "week-12",
        "campaign_id": 12,
        "from_email": "news@clinic.example",
        "from_name": "Clinic News",
        "reply_to": "desk@clinic.example",
        "subject": "%%first_name%%, three things about sleep",
        "html": html,
        "text": text,
        "headers": {
            "List-Unsubscribe": "<%%unsubscribe_url%%>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": "Clinic News <news.clinic.example>",
        },
    }
    values.update(overrides)
    return MessageTemplate(**values)


def make_recipients(count: int, start: int = 0, domain: str = "example.com") -> list[Recipient]:
    return [
        Recipient(
            email=f"reader{i}@{domain}",
            name=f"Reader {i}",
            subscriber_id=i,
            substitutions={
                "%%first_name%%": f"Reader{i}",
                "%%unsubscribe_url%%": f"{UNSUBSCRIBE_BASE}tok{i}",
            },
        )
        for i in range(start, start + count)
    ]
