"""Shared set-up for scheduler tests: approved campaigns, what the outbox holds, slot rows."""

from __future__ import annotations

import email
import email.policy
from datetime import date, datetime
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mailer.store.models import ScheduledSlot
from mailer.workspace import Workspace
from tests.delivery_helpers import approve_file


def write_campaign(
    workspace: Workspace,
    sessions: sessionmaker[Session],
    slug: str,
    *,
    approved_at: str | None = "2026-11-20T10:00:00Z",
    status: str = "approved",
    send_on: date | None = None,
) -> Path:
    lines = [
        "---",
        f"subject: {slug.replace('-', ' ').title()}",
        "preheader: A few minutes for a calmer neck this week.",
        f"status: {status}",
        "articles:",
        f"- title: {slug.replace('-', ' ').title()}",
        f"  url: https://www.summitspine.example/blog/{slug}",
    ]
    if approved_at:
        lines.append(f"approved_at: '{approved_at}'")
    if send_on:
        lines.append(f"send_on: {send_on.isoformat()}")
    lines += [
        "---",
        "Most neck stiffness builds slowly, one long afternoon at a time.",
        "",
        "[[cta]]",
        "",
    ]
    path = workspace.campaigns_dir / f"{slug}.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    if status == "approved":  # through the real approval, at approved_at (else now)
        when = datetime.fromisoformat(approved_at.replace("Z", "+00:00")) if approved_at else None
        approve_file(workspace, sessions, path, now=when)
    return path


def outbox_count(workspace: Workspace, slug: str) -> int:
    return len(list((workspace.outbox_dir / slug).glob("*.eml")))


def staff_notices(workspace: Workspace) -> list[str]:
    """The text of every staff notice in the outbox, oldest first."""
    texts = []
    for folder in sorted(workspace.outbox_dir.glob("staff-notice-*")):
        for eml in sorted(folder.glob("*.eml")):
            message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            body = message.get_body(("plain",))
            assert body is not None
            texts.append(f"{message['Subject']}\n{body.get_content()}")
    return texts


def slot_rows(sessions: sessionmaker[Session]) -> list[ScheduledSlot]:
    with sessions() as session:
        return list(session.scalars(select(ScheduledSlot).order_by(ScheduledSlot.slot_at)))
