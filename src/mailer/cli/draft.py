"""`mailer draft SOURCE...`: one campaign file from one or more articles.

Only typer is imported at module level: the importers and composer load when the command runs,
so `mailer --help` and every other command stay quick.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import typer

from mailer.cli.common import command
from mailer.words import plural

if TYPE_CHECKING:
    from mailer.app.drafting import EarlierDraft


@dataclass(frozen=True)
class DraftReport:
    """What `mailer draft --json` prints."""

    path: str
    slug: str
    subject: str
    preheader: str
    body: str  # whole article, teaser, or digest
    articles: list[dict[str, str]]
    replaced: str | None = None  # the earlier draft this one was written over
    earlier_drafts: list[dict[str, str]] = field(default_factory=list)  # slug, kept_because

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


app = typer.Typer()


@command(app, "draft")
def draft_command(
    sources: list[str] = typer.Argument(
        ...,
        metavar="SOURCE",
        help="Article files (.txt page export, .md, .html), web addresses, or a feed (its newest "
        "entry, or the newest five when feed.mode is digest). Several make a digest.",
    ),
    urls: list[str] = typer.Option(
        [],
        "--url",
        metavar="URL",
        help="An article's web address, when its file does not say it: once per SOURCE, in "
        "order (--url '' skips one). One article then carries a teaser and a 'Read the full "
        "article' button instead of the whole text; a digest entry, a 'Read more' button.",
    ),
    replace: bool = typer.Option(
        False,
        "--replace",
        help="Write over the earlier draft of the same article, if nobody approved or sent it "
        "(on a terminal you are asked; otherwise a new file, <slug>-2.md, is written).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document and nothing else."),
) -> None:
    """Draft a campaign from articles: writes campaigns/<date>-<slug>.md, status draft.

    One article with a web address gives a teaser with a link to it; one without, the whole
    article; several, a digest featuring the first. Edit the file, then preview it.
    The new file's path is the last line printed. The email ends with the closing lines set
    as draft.closing_lines in mailer.toml.

    An article drafted before gets a new file (<slug>-2.md), and you are told so: with
    --replace (or your yes on a terminal) the new draft replaces the earlier one instead,
    when that one was never approved nor sent.

    Examples:
      mailer draft articles/headaches.txt --url https://www.summitspine.example/blog/headaches
      mailer draft articles/one.md articles/two.md articles/three.html
      mailer draft a.txt b.txt --url https://x.example/blog/a --url https://x.example/blog/b
    """
    from rich.markup import escape

    from mailer.app.drafting import draft_from_articles, earlier_drafts, load_sources
    from mailer.campaigns.draft import draft_kind
    from mailer.cli.common import console, display_path, print_json, state
    from mailer.errors import UsageError

    if len(urls) > len(sources):
        raise UsageError(
            f"{len(urls)} --url options for {plural(len(sources), 'source')}: "
            "--url is given once per source, in order",
            hint="give one --url after another in the order of the sources "
            "(--url '' for a source whose file says its address)",
        )
    for url in urls:
        if url and not url.startswith(("http://", "https://")):
            raise UsageError(
                f"--url {url}: not a web address",
                hint="give the article's full address, "
                "e.g. https://www.yourclinic.example/blog/post",
            )
    workspace = state.workspace()
    # A feed as a source: its newest entry, or a few for a digest (the [feed] mode setting).
    articles = load_sources(workspace, sources, urls)
    earlier = earlier_drafts(workspace, state.database(), articles)
    over = _draft_to_replace(earlier, replace, as_json)
    campaign = draft_from_articles(workspace, articles, over=over)
    assert campaign.path is not None  # write_draft saved it
    shown = display_path(campaign.path)
    if as_json:
        refs = [{"title": ref.title, "url": ref.url or ""} for ref in campaign.articles]
        kind = draft_kind(articles).value
        report = DraftReport(
            shown,
            campaign.slug,
            campaign.subject,
            campaign.preheader,
            kind,
            refs,
            replaced=over.slug if over else None,
            earlier_drafts=[{"slug": d.slug, "kept_because": d.kept_because} for d in earlier],
        )
        print_json(report.as_dict())
        return

    say = partial(console.print, soft_wrap=True)  # paths and addresses stay whole on one line
    if over is not None:
        say(f"Replaced the earlier draft {escape(over.slug)} (never approved nor sent).")
    elif earlier:
        kept = [d for d in earlier if not d.replaceable]
        say(
            f"[yellow]This article was drafted before: {escape(', '.join(d.slug for d in earlier))}"
            f". This draft is a new file, {escape(campaign.slug)}.[/yellow]"
        )
        if any(d.replaceable for d in earlier):
            say("  To write over the earlier draft instead, draft again with --replace.")
        for draft in kept:
            say(f"  {escape(draft.slug)} is {draft.kept_because}: it is never replaced.")
    say(f"Drafted [bold]{escape(campaign.subject)}[/bold]")
    say(f"  preheader: {escape(campaign.preheader)}")
    say(f"  body: {escape(draft_kind(articles).value)}")
    for ref in campaign.articles:
        say(f"  article: {escape(ref.title)}" + (f" <{escape(ref.url)}>" if ref.url else ""))
    say(f"Next: edit {escape(shown)} (subject, preheader, text), then see it as subscribers will:")
    say(f"  mailer preview {campaign.slug} --out preview/")
    typer.echo(shown)  # the Contract: the path is the last line, unwrapped


def _draft_to_replace(
    earlier: list[EarlierDraft], replace: bool, as_json: bool
) -> EarlierDraft | None:
    """The earlier draft to write over: the newest replaceable one, with --replace or a yes on
    a terminal; None for a new file. --replace with only approved or sent ones is refused."""
    import sys

    from mailer.errors import UsageError

    replaceable = [draft for draft in earlier if draft.replaceable]
    if replace and earlier and not replaceable:
        raise UsageError(
            "--replace: the earlier drafts of this article were approved or sent ("
            + ", ".join(f"{d.slug}: {d.kept_because}" for d in earlier)
            + "); they are never replaced",
            hint="draft without --replace: the new draft gets a file of its own",
        )
    if not replaceable:
        return None
    newest = replaceable[-1]
    if replace:
        return newest
    on_terminal = sys.stdin.isatty() and sys.stdout.isatty() and not as_json
    if on_terminal and typer.confirm(
        f"This article was drafted before as {newest.slug}, never approved. Replace that draft?",
        default=False,
    ):
        return newest
    return None
