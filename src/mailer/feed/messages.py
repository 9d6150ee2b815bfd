"""What staff read about a feed poll: the one-line detail and the staff notices.

The detail is what `mailer scheduler status` shows of the last poll; the notices go out when
the feed is connected and when drafts wait, through the ``notify`` the caller passes in
(:func:`mailer.app.mailing.notify_staff`: sending is a use case, above this domain package).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mailer.feed.address import shown_url
from mailer.feed.drafting import Draft
from mailer.words import plural
from mailer.workspace import Workspace

# Emails staff a notice (workspace, subject, body); its result is not needed here.
StaffNotify = Callable[[Workspace, str, str], object]


def poll_detail(
    *, found: int, baseline: int, drafts: Sequence[Draft], entries: int, connected: bool
) -> str:
    """One line: what the poll found (``connected``: the feed was connected before it)."""
    parts = []
    if not connected:
        noted = plural(baseline, "article")
        parts.append(f"connected: {noted} already in the feed noted, not drafted")
    elif found:
        parts.append(plural(found, "new article"))
    else:
        parts.append(f"no new articles ({entries} in the feed)")
    for draft in drafts:
        verb = "added to the digest" if draft.rebuilt else "drafted"
        state = "approved" if draft.approved else "waiting for approval"
        parts.append(f"{verb} campaigns/{draft.slug}.md ({state})")
    return "; ".join(parts)


def notify_connected(
    notify: StaffNotify, workspace: Workspace, url: str, baseline: int, drafted: int
) -> None:
    backfilled = (
        f"\n\nAs asked, the newest {plural(drafted, 'article')} "
        f"{'was' if drafted == 1 else 'were'} drafted: see the next email."
        if drafted
        else ""
    )
    notify(
        workspace,
        f"feed connected: {plural(baseline, 'existing article')}; new ones will be drafted",
        f"mailer now watches the blog's feed {shown_url(url)}.\n\n"
        f"The {plural(baseline, 'article')} already in it {'was' if baseline == 1 else 'were'} "
        "noted and not drafted. Each article "
        "published from now on becomes a draft newsletter, and you get an email when one "
        "waits." + backfilled + "\n\n"
        "To draft the newest existing article too: mailer feed poll --backfill 1",
    )


def notify_drafts(
    notify: StaffNotify, workspace: Workspace, url: str, drafts: Sequence[Draft]
) -> None:
    waiting = [d for d in drafts if not d.approved]
    if len(drafts) == 1:
        subject = (
            f"approved from the blog: {drafts[0].subject}"
            if drafts[0].approved
            else f"a draft waits: {drafts[0].subject}"
        )
    else:
        subject = f"{len(drafts)} drafts from the blog" + (
            f", {len(waiting)} waiting for approval" if waiting else ""
        )
    paragraphs = [f"New articles on the blog ({shown_url(url)}) were drafted in {workspace.root}."]
    for draft in drafts:
        what = (
            f"The digest “{draft.subject}” now has {draft.articles} articles"
            if draft.rebuilt
            else f"“{draft.subject}”"
            + (f" ({draft.articles} articles)" if draft.articles > 1 else "")
        )
        lines = [f"{what}: campaigns/{draft.slug}.md"]
        if draft.approved:
            lines.append(
                "Approved automatically (feed.auto_approve = true; `mailer check` found no "
                "errors): it goes out in the next weekly slot. To hold it: mailer unapprove "
                f"{draft.slug}"
            )
        else:
            if draft.not_approved_because:
                lines.append(
                    "Not approved automatically: `mailer check` found errors: "
                    f"{draft.not_approved_because}. Fix them in the file first."
                )
            lines.append(f"See it as subscribers will: mailer preview {draft.slug} --out preview/")
            lines.append(f"Approve it: mailer approve {draft.slug}")
        paragraphs.append("\n".join(lines))
    if waiting:
        paragraphs.append("Nothing is sent until it is approved.")
    notify(workspace, subject, "\n\n".join(paragraphs))
