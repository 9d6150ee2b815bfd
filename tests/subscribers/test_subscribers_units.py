"""The pure parts of the list: addresses, header names, tags, names, the seen-keys table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailer.errors import InputError
from mailer.subscribers.csv_export import neutralize
from mailer.subscribers.csv_source import Columns, Row, RowError, parse_row
from mailer.subscribers.dedupe import SeenKeys
from mailer.subscribers.import_plan import Existing, Plan, json_text
from mailer.subscribers.normalize import (
    InvalidAddress,
    normalize_email,
    split_name,
    split_tags,
    validate_batch,
)


def test_normalize_email_keeps_local_case_and_folds_the_key() -> None:
    address = normalize_email("  Foo.Bar@EXAMPLE.Com ")
    assert (address.email, address.key) == ("Foo.Bar@example.com", "foo.bar@example.com")
    with pytest.raises(InvalidAddress, match="@-sign"):
        normalize_email("no-at-sign.example.com")
    with pytest.raises(InvalidAddress, match="missing email"):
        normalize_email("   ")


def test_validate_batch_is_the_full_check_even_for_a_cached_domain() -> None:
    results = validate_batch(["a@example.com", "a..b@example.com", "b@example.com", "c@exa mple"])
    assert results[0] == ("a@example.com", "a@example.com")
    assert isinstance(results[1], str) and "period" in results[1]
    assert results[2] == ("b@example.com", "b@example.com")
    assert isinstance(results[3], str)


@pytest.mark.parametrize(
    ("header", "role"),
    [
        ("Email", "email"),
        ("E-mail", "email"),
        ("E-mail Address", "email"),
        ("Email Address", "email"),
        (" EMAIL ", "email"),
        ("\ufeffEmail", "email"),
    ],
)
def test_email_header_aliases(header: str, role: str) -> None:
    columns = Columns.from_header(Path("x.csv"), ["Other", header])
    assert columns.email == 1
    assert columns.attributes == [(0, "Other")]


def test_name_header_aliases_and_attributes() -> None:
    columns = Columns.from_header(
        Path("x.csv"), ["Email", "FirstName", "Surname", "Given name", "Tags", "Favourite Colour"]
    )
    assert (columns.first_name, columns.last_name, columns.tags) == (1, 2, 4)
    # A second column for a role already taken is kept as an attribute.
    assert columns.attributes == [(3, "Given name"), (5, "Favourite Colour")]
    with pytest.raises(InputError, match="no email column"):
        Columns.from_header(Path("x.csv"), ["Name", "Phone"])


def test_parse_row_limits_name_the_column() -> None:
    columns = Columns.from_header(Path("x.csv"), ["Email", "First Name", "Notes"])
    long_name = parse_row(columns, 7, ["a@example.com", "N" * 201, ""])
    assert isinstance(long_name, RowError) and long_name.line == 7
    assert "'First Name'" in long_name.reason
    too_many = parse_row(columns, 8, ["a@example.com", "A", "B", "extra"])
    assert isinstance(too_many, RowError) and "4 fields" in too_many.reason
    trailing_empty = parse_row(columns, 9, ["a@example.com", "A", "", "", ""])
    assert isinstance(trailing_empty, Row) and trailing_empty.attributes == {}


def test_split_tags_and_names() -> None:
    assert split_tags(" Patients ; workshop|VIP,, patients ") == ["patients", "workshop", "vip"]
    assert split_name("  Mary  Jane   Watson ") == ("Mary", "Jane Watson")
    assert split_name("Cher") == ("Cher", "")
    assert split_name("  ") == ("", "")


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+2", "'=1+2"),
        ("+1 555", "'+1 555"),
        ("-42", "'-42"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=x", "'\t=x"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_neutralize(cell: str, safe: str) -> None:
    assert neutralize(cell) == safe


def test_seen_keys_grows_and_remembers_first_lines() -> None:
    seen = SeenKeys(capacity=4)
    for line in range(2, 20_002):
        assert seen.add(SeenKeys.digest(f"person{line}@example.com"), line) is None
    assert len(seen) == 20_000
    assert seen.get(SeenKeys.digest("person2@example.com")) == 2
    assert seen.get(SeenKeys.digest("person20001@example.com")) == 20_001
    assert seen.add(SeenKeys.digest("person500@example.com"), 99_999) == 500
    assert seen.get(SeenKeys.digest("stranger@example.com")) is None


def test_attributes_text_matches_json_dumps() -> None:
    for attributes in (
        {"City": "Boulder"},
        {"Clinic Visit": "2026-05-01", "Notes": 'He said "hi"\r\nline two\t\\ ünïcode \u2028 😀'},
        {"n": 3, "nested": {"a": [1]}},  # not from a CSV, falls back to json.dumps
    ):
        assert json_text(attributes) == json.dumps(attributes)


def _row(**changes: object) -> Row:
    fields: dict[str, object] = {
        "line": 2,
        "email": "maria@example.com",
        "first_name": "Maria",
        "last_name": "Lopez",
        "tags": ["patients"],
        "attributes": {"City": "Boulder"},
        "status": "active",
        "consent_at": None,
        "consent_ip": "",
        "consent_source": "",
    }
    fields.update(changes)
    return Row(**fields)  # type: ignore[arg-type]


def _stored(status: str = "active") -> Existing:
    return Existing(
        7, "maria@example.com", "Maria", "Lopez", status, '{"City": "Boulder"}', {"patients"}
    )


@pytest.mark.parametrize(
    ("changes", "extra_tags", "status", "changed"),
    [
        ({}, [], "active", False),  # a re-import's row: nothing to write
        ({"first_name": "", "last_name": "", "tags": [], "attributes": {}}, [], "active", False),
        ({"first_name": "María"}, [], "active", True),
        ({"last_name": "Lopez-Ruiz"}, [], "active", True),
        ({"tags": ["patients", "vip"]}, [], "active", True),
        ({}, ["workshop"], "active", True),  # --tag on the command line
        ({}, ["patients"], "active", False),
        ({"attributes": {"City": "Denver"}}, [], "active", True),
        ({"attributes": {"Clinic": "North"}}, [], "active", True),
        ({"status": "unsubscribed"}, [], "active", True),  # the file takes them off the list
        ({"status": "active"}, [], "pending", False),  # an import never confirms anyone
    ],
)
def test_add_update_says_unchanged_only_when_nothing_is_written(
    changes: dict[str, object], extra_tags: list[str], status: str, changed: bool
) -> None:
    plan = Plan("import:test.csv", extra_tags)
    assert plan.add_update(_row(**changes), _stored(status)) is changed
    queued = plan.updates or plan.moves or plan.added_tags
    assert bool(queued) is changed
