"""Issue 17: SMTP over several connections at once, with PIPELINING where the server offers it,
against real servers on loopback: Postfix's smtp-sink (C, fast) and aiosmtpd (the FakeSmtp)."""

from __future__ import annotations

import smtplib
from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailer.delivery.providers.smtp import SmtpProvider, _quoted, dot_stuffed, transact
from tests.fakes import make_recipients, make_template, smtp_sink
from tests.fakes.smtp_server import FakeSmtp
from tests.fakes.smtp_sink import SmtpSink


@pytest.mark.parametrize("connections", [1, 4])
def test_smtp_sink_gets_every_message_once_over_several_connections(connections: int) -> None:
    template = make_template()
    people = make_recipients(40)
    with SmtpSink() as sink:
        provider = SmtpProvider("127.0.0.1", sink.port, security="none", connections=connections)
        first = provider.send_batch(template, people[:25])
        second = provider.send_batch(template, people[25:])
        provider.close()
        got = sink.recipients()
        body = sink.messages()[0]
    assert len(first.accepted) == 25 and len(second.accepted) == 15
    assert not first.refused and not second.refused
    assert got == Counter({person.email: 1 for person in people})
    # Reused across the two batches; with 4, more than one was used at once.
    assert (
        provider.connections_opened == 1
        if connections == 1
        else 1 < provider.connections_opened <= 4
    )
    assert b"Hello " in body and b"X-Rcpt-Args:" in body


@pytest.mark.parametrize(
    ("options", "permanent", "bounced"),
    [
        (["-f", "RCPT", "-B", "550 5.1.1 <x>: Recipient address rejected: User unknown"], 1, 1),
        (["-f", "RCPT", "-B", "550 5.7.1 relaying denied"], 1, 0),
        (["-r", "RCPT", "-b", "450 4.2.1 mailbox busy"], 0, 0),
    ],
)
def test_smtp_sink_refusals_are_mapped_per_message(
    options: list[str], permanent: int, bounced: int
) -> None:
    people = make_recipients(12)
    with SmtpSink(extra=options) as sink:
        provider = SmtpProvider("127.0.0.1", sink.port, security="none", connections=3)
        result = provider.send_batch(make_template(), people)
        provider.close()
        assert sink.count() == 0
    assert result.accepted == []
    assert [failure.recipient for failure in result.refused] == people
    assert {(f.permanent, f.bounced) for f in result.refused} == {(bool(permanent), bool(bounced))}
    assert provider.connections_opened <= 3  # a refusal leaves the connection usable


@pytest.mark.parametrize("pipelining", [False, True])
def test_each_message_over_several_connections_gets_its_own_outcome(pipelining: bool) -> None:
    """aiosmtpd with and without PIPELINING offered: unknown, busy and content-refused addresses
    among 30 people sent over 4 connections: each refusal is that person's, everyone else gets
    exactly one message."""
    people = make_recipients(30)
    unknown, busy, refused = people[3].email, people[17].email, people[22].email
    with FakeSmtp(
        pipelining=pipelining,
        refuse={unknown},
        rcpt_replies={busy: ["450 4.2.1 Mailbox busy"]},
        refuse_data={refused},
    ) as server:
        provider = SmtpProvider("127.0.0.1", server.port, security="none", connections=4)
        result = provider.send_batch(make_template(), people)
        again = provider.send_batch(make_template(), [people[17]])  # busy once, then accepted
        provider.close()
        received = Counter(message.rcpt_tos[0] for message in server.messages)
        opened = server.connections
    failures = {f.recipient.email: (f.code, f.permanent, f.bounced) for f in result.refused}
    assert failures == {
        unknown: (550, True, True),
        busy: (450, False, False),
        refused: (554, True, False),
    }
    assert len(result.accepted) == 27 and [r.email for r in again.accepted] == [busy]
    assert received == Counter({p.email: 1 for p in people if p.email not in (unknown, refused)})
    assert 1 < opened <= 4


class _Recording:
    """Just enough of an smtplib.SMTP for ``transact``: the writes and scripted replies."""

    def __init__(self, replies: list[tuple[int, bytes]], extensions: set[str]) -> None:
        self.replies = list(replies)
        self.extensions = extensions
        self.writes: list[bytes] = []
        self.closed = False
        self.sock: Any = object()

    def has_extn(self, name: str) -> bool:
        return name.lower() in self.extensions

    def send(self, data: bytes) -> None:
        self.writes.append(data)

    def getreply(self) -> tuple[int, bytes]:
        return self.replies.pop(0)

    def rset(self) -> tuple[int, bytes]:
        self.writes.append(b"RSET\r\n")
        return (250, b"ok")

    def close(self) -> None:
        self.closed = True


def _transact(connection: _Recording, data: bytes = b"Subject: x\r\n\r\nhi\r\n") -> None:
    transact(connection, "news@clinic.example", "ann@example.com", dot_stuffed(data), [])  # type: ignore[arg-type]


def test_with_pipelining_mail_rcpt_and_data_go_in_one_write() -> None:
    connection = _Recording(
        [(250, b"ok"), (250, b"ok"), (354, b"go"), (250, b"queued")], {"pipelining"}
    )
    _transact(connection)
    assert connection.writes == [
        b"MAIL FROM:<news@clinic.example>\r\nRCPT TO:<ann@example.com>\r\nDATA\r\n",
        b"Subject: x\r\n\r\nhi\r\n.\r\n",
    ]


def test_without_pipelining_each_command_waits_for_its_reply() -> None:
    connection = _Recording([(250, b"ok"), (550, b"5.1.1 unknown")], {"size"})
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        _transact(connection)
    assert refused.value.recipients == {"ann@example.com": (550, b"5.1.1 unknown")}
    assert connection.writes == [
        b"MAIL FROM:<news@clinic.example> SIZE=21\r\n",
        b"RCPT TO:<ann@example.com>\r\n",
        b"RSET\r\n",  # as smtplib's sendmail: the transaction is reset, the connection kept
    ]


def test_a_data_opened_after_a_refused_rcpt_gets_an_empty_message_and_a_reset() -> None:
    """RFC 2920: a pipelining server may answer DATA with 354 although RCPT failed; the
    client then ends the data at once instead of sending the message."""
    replies = [(250, b"ok"), (550, b"5.1.1 unknown"), (354, b"go"), (554, b"no recipients")]
    connection = _Recording(replies, {"pipelining"})
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        _transact(connection)
    assert connection.writes[1:] == [b".\r\n", b"RSET\r\n"]
    assert connection.replies == []


def test_a_421_anywhere_closes_the_connection_as_smtplib_does() -> None:
    replies = [(421, b"closing"), (421, b"closing"), (421, b"closing")]
    connection = _Recording(replies, {"pipelining"})
    with pytest.raises(smtplib.SMTPSenderRefused):
        _transact(connection)
    assert connection.closed and connection.writes[1:] == []


@given(st.lists(st.sampled_from([b".", b"..", b"\r\n", b"\n", b"\r", b"a"]), max_size=12))
def test_lines_starting_with_a_dot_are_doubled_as_smtplib_would(pieces: list[bytes]) -> None:
    data = b"".join(pieces)
    quoted = smtplib._quote_periods(data)  # type: ignore[attr-defined]
    ending = b"" if quoted.endswith(b"\r\n") else b"\r\n"
    assert dot_stuffed(data) == quoted + ending + b".\r\n"


def test_an_address_with_non_ascii_goes_with_smtputf8_in_utf8() -> None:
    connection = _Recording(
        [(250, b"ok"), (250, b"ok"), (354, b"go"), (250, b"ok")], {"pipelining"}
    )
    transact(connection, "news@clinic.example", "zoë@example.com", b".\r\n", ["SMTPUTF8"])  # type: ignore[arg-type]
    assert connection.writes[0].startswith(b"MAIL FROM:<news@clinic.example> SMTPUTF8\r\n")
    assert "zoë".encode() in connection.writes[0]


def test_connections_must_be_at_least_one() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SmtpProvider("127.0.0.1", 25, connections=0)


@given(st.text(alphabet='ab.@-+_ü"<>() ,;:[]\\!%', max_size=12))
def test_addresses_are_written_as_smtplib_writes_them(address: str) -> None:
    assert _quoted(address) == smtplib.quoteaddr(address)


def test_without_smtp_sink_a_test_skips_but_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(smtp_sink, "smtp_sink_path", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        smtp_sink.require_smtp_sink()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must have it"):
        smtp_sink.require_smtp_sink()
