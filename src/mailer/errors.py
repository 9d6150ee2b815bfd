"""The one exception tree of mailer.

MailerError                 anything mailer reports to a person; never shown as a traceback
├── UsageError              the command was given something it cannot use      (exit 2)
│   ├── ConfigError         mailer.toml or a MAILER_* variable is wrong         (exit 2)
│   └── WorkspaceError      no workspace here, or it is incomplete              (exit 2)
├── InputError              a file or value given to mailer cannot be read      (exit 1)
│   ├── ArticleError        an article source is empty, binary, too big, ...
│   ├── CampaignError       a campaign file is malformed, missing, or changed under you
│   │   ├── CampaignNotFoundError   no campaign file by that name (or not a slug at all)
│   │   └── StaleCampaignError      the file changed since it was opened: reload, edit again
│   └── TokenError          a link token is tampered with or foreign
├── ApprovalError           the campaign is not approved as it stands now       (exit 1)
├── TemplateError           a template failed to render (file and line named)   (exit 1)
├── StorageError            the database refused or is unreachable              (exit 1)
├── FeedError               the blog's feed could not be fetched or read        (exit 1)
├── DeliveryError           the provider refused or failed                      (exit 1)
│   ├── SendConflictError   another process started the same campaign's send at the same time
│   └── ProviderError       TransientProviderError (RateLimited), PermanentProviderError:
│                           see mailer.delivery.errors
├── OutcomeError            the command did its work, and the outcome is a failure (exit 1)
│   ├── CheckFailed         the preflight check found errors (check, approve)
│   ├── SendDeclined        the person answered "no" to the send question
│   ├── SendPaused          the send paused (an outage, a refused key): resume after the fix
│   ├── PollFailed          the feed poll could not fetch or read the feed
│   ├── SlotFailed          a slot fired at once (scheduler run --now) did not send
│   ├── SchemaBehind        the database schema is not the one this mailer needs
│   └── Interrupted         Ctrl-C stopped the work after what was in flight    (exit 130)

Library errors are re-raised as one of these ``from err`` so the cause stays visible in logs,
while the command line prints only the message and the hint.

The command line's one error mapper (``mailer.cli.main``) turns each into its exit status, the
message and hint on stderr, and with ``--json`` the error document on stdout. An outcome error
may carry the command's own result ``document`` (then ``--json`` prints that, as on success,
instead of the error document), and ``reported=True`` when the command has already shown the
outcome (its report, or the person's own answer): the mapper then adds no message.

An error's ``kind`` is the "type" of the --json error document: its class name, except for a
refinement added later for library callers (CampaignNotFoundError), which keeps the kind of the
branch it refines so scripts written against that keep working.
"""

from __future__ import annotations

from typing import Any, ClassVar


class MailerError(Exception):
    """Base of every error mailer reports. ``hint`` says what to do next."""

    exit_code = 1
    # The --json "type" when it is not the class name (see the module docstring).
    reported_as: ClassVar[str | None] = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    @property
    def kind(self) -> str:
        return self.reported_as or type(self).__name__

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(MailerError):
    exit_code = 2


class ConfigError(UsageError):
    """The configuration is wrong: names the file or variable, the key and what is expected."""


class WorkspaceError(UsageError):
    pass


class InputError(MailerError):
    pass


class ArticleError(InputError):
    pass


class CampaignError(InputError):
    pass


class CampaignNotFoundError(CampaignError):
    """No campaigns/<slug>.md by that name; also a name that is not a slug (a "/", "..").

    A web face answers it with 404, the command line with exit 1 (as any CampaignError).
    """

    reported_as = "CampaignError"  # what `mailer send --json` said for it before it existed


class StaleCampaignError(CampaignError):
    """A save carried the hash of the file as it was opened, and the file has changed since
    (another person or process saved it): nothing was written. A web face answers 409."""


class TokenError(InputError):
    """A link token was tampered with, truncated, or signed with another key."""


class ApprovalError(MailerError):
    """Not approved, approved by hand-editing the file only, changed since approval, or sent."""


class TemplateError(MailerError):
    pass


class StorageError(MailerError):
    pass


class FeedError(MailerError):
    """Polling feed.url failed: network, HTTP status, or not a feed. The next poll tries again."""


class DeliveryError(MailerError):
    pass


class SendConflictError(DeliveryError):
    """Two sends of one new campaign started at once: the other one sends it."""


class OutcomeError(MailerError):
    """The work was done and its outcome is a failure: exit status 1 (Interrupted: 130).

    ``document``: what ``--json`` prints (the command's result document, failure included);
    ``reported``: the command has already shown the outcome, so no message is added. ``label``
    starts the message on stderr (``error: ...``, ``paused: ...``).
    """

    label = "error"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        document: dict[str, Any] | None = None,
        reported: bool = False,
    ) -> None:
        super().__init__(message, hint=hint)
        self.document = document
        self.reported = reported


class CheckFailed(OutcomeError):
    """`mailer check` found errors, or `mailer approve` refused because of them."""


class SendDeclined(OutcomeError):
    """The person answered "no" when `mailer send` asked: nothing was sent."""


class SendPaused(OutcomeError):
    """The send paused (provider outage past its retries, a refused key or message); the
    ledger keeps its place and `mailer send SLUG` resumes it after the fix."""

    label = "paused"


class PollFailed(OutcomeError):
    """`mailer feed poll` could not fetch or read the feed (the next poll tries again)."""


class SlotFailed(OutcomeError):
    """`mailer scheduler run --now` fired a slot that did not send (staff were told)."""


class SchemaBehind(OutcomeError):
    """`mailer db status`: the schema is behind this mailer (or made by a newer one)."""


class Interrupted(OutcomeError):
    """Ctrl-C (SIGINT) stopped the work after the message or request in flight: exit 130, the
    shell's convention. What was done is recorded; the command says how to resume."""

    exit_code = 130

    def __init__(
        self,
        message: str = "interrupted",
        *,
        hint: str | None = None,
        document: dict[str, Any] | None = None,
        reported: bool = False,
    ) -> None:
        super().__init__(message, hint=hint, document=document, reported=reported)
