"""CampaignFiles: the one way to a campaign file by slug (names, reads, atomic, guarded saves)."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from mailer.campaigns.campaign import load_campaign
from mailer.campaigns.files import CampaignFiles, is_slug
from mailer.errors import CampaignError, CampaignNotFoundError, StaleCampaignError
from mailer.workspace import Workspace


def campaign(subject: str, body: str = "Hello.") -> str:
    return f'---\nsubject: "{subject}"\npreheader: "A short note"\nstatus: draft\n---\n{body}\n'


@pytest.fixture
def files(tmp_path: Path) -> CampaignFiles:
    directory = tmp_path / "campaigns"
    directory.mkdir()
    return CampaignFiles(directory)


def put(files: CampaignFiles, slug: str, text: str) -> Path:
    path = files.directory / f"{slug}.md"
    path.write_text(text, encoding="utf-8")
    return path


def leftovers(files: CampaignFiles) -> list[str]:
    """Anything in the folder that is not a campaign file (a temporary file left behind)."""
    return sorted(p.name for p in files.directory.iterdir() if p.suffix != ".md")


# -- names ---------------------------------------------------------------------------------------


def test_of_a_workspace_is_its_campaigns_folder(workspace: Workspace) -> None:
    files = CampaignFiles.of(workspace)
    assert files.path("2026-03-10-spring") == workspace.root / "campaigns" / "2026-03-10-spring.md"


@pytest.mark.parametrize(
    "name",
    [
        "../mailer.toml",
        "../../etc/passwd",
        "..",
        "a/b",
        "a\\b",
        "/etc/passwd",
        ".hidden",
        "a..b",
        "",
        "spring\x00",
        "spring\n",
        "-rf",
        "x" * 201,
    ],
)
def test_a_name_that_is_not_a_slug_is_refused_before_any_file_is_touched(
    files: CampaignFiles, name: str
) -> None:
    outside = files.directory.parent / "mailer.toml"
    outside.write_text("[organization]\n", encoding="utf-8")
    with pytest.raises(CampaignNotFoundError, match="not a campaign name") as caught:
        files.path(name)
    assert caught.value.hint and "letters, digits" in caught.value.hint
    with pytest.raises(CampaignNotFoundError):
        files.save_text(name, campaign("Hostile"), expected_hash=None)
    with pytest.raises(CampaignNotFoundError):
        files.read(name)
    assert files.find(name) is None
    assert outside.read_text(encoding="utf-8") == "[organization]\n"
    assert list(files.directory.iterdir()) == []


def test_slugs_people_and_drafts_use_are_accepted() -> None:
    for slug in ("2026-11-24-why-headaches-start", "Spring_Issue", "v1.2-news", "a"):
        assert is_slug(slug), slug


def test_resolve_takes_a_slug_a_slug_with_md_or_a_path(
    files: CampaignFiles, tmp_path: Path
) -> None:
    path = put(files, "2026-03-10-spring", campaign("Spring"))
    elsewhere = tmp_path / "My draft.md"
    elsewhere.write_text(campaign("Elsewhere"), encoding="utf-8")
    assert files.resolve("2026-03-10-spring") == path
    assert files.resolve("2026-03-10-spring.md") == path
    assert files.resolve(str(path)) == path
    assert files.resolve(str(elsewhere)) == elsewhere  # a path given by hand, as before
    assert files.load("2026-03-10-spring").subject == "Spring"


def test_a_missing_campaign_names_the_nearest_slugs(files: CampaignFiles) -> None:
    put(files, "2026-03-10-spring-posture", campaign("Spring"))
    put(files, "2026-04-01-sleep-position", campaign("Sleep"))
    with pytest.raises(CampaignNotFoundError) as typo:
        files.resolve("2026-03-10-sprng-posture")
    assert "no campaign '2026-03-10-sprng-posture'" in typo.value.message
    assert typo.value.hint == "did you mean `2026-03-10-spring-posture`?"
    with pytest.raises(CampaignNotFoundError) as part:
        files.resolve("sleep")
    assert part.value.hint is not None and "`2026-04-01-sleep-position`" in part.value.hint
    with pytest.raises(CampaignNotFoundError) as hostile:
        files.resolve("../2026-04-01-sleep-position")
    assert "no campaign" in hostile.value.message


def test_a_missing_campaign_in_an_empty_folder_says_how_to_make_one(files: CampaignFiles) -> None:
    with pytest.raises(CampaignNotFoundError) as caught:
        files.resolve("spring")
    assert caught.value.hint is not None and "mailer draft" in caught.value.hint


# -- reading -------------------------------------------------------------------------------------


def test_slugs_and_all_list_every_campaign_file_by_name(files: CampaignFiles) -> None:
    put(files, "b-issue", campaign("B"))
    put(files, "a-issue", campaign("A"))
    (files.directory / "notes.txt").write_text("not a campaign", encoding="utf-8")
    assert files.slugs() == ["a-issue", "b-issue"]
    assert [c.subject for c in files.all()] == ["A", "B"]


def test_all_raises_for_a_broken_file_naming_it(files: CampaignFiles) -> None:
    put(files, "a-issue", campaign("A"))
    broken = put(files, "b-issue", "---\nsubject: B\nsend_on: [1\n---\nBody\n")
    with pytest.raises(CampaignError, match=str(broken)):
        files.all()
    assert [type(found).__name__ for _, found in files.scan()] == ["Campaign", "CampaignError"]


def test_a_file_whose_name_is_no_slug_is_not_a_campaign(files: CampaignFiles) -> None:
    put(files, "spring", campaign("Spring"))
    odd = put(files, "My Draft", campaign("Odd"))
    assert files.slugs() == ["spring"]
    assert files.misnamed() == [odd]
    with pytest.raises(CampaignError, match="not a campaign name") as caught:
        files.all()
    assert caught.value.hint == "rename it, e.g. to my-draft.md"


def test_read_gives_the_text_and_the_sha256_of_the_bytes(files: CampaignFiles) -> None:
    path = put(files, "spring", campaign("Spring – café"))
    read = files.read("spring")
    assert read.slug == "spring" and read.path == path
    assert read.text == path.read_text(encoding="utf-8")
    assert read.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(CampaignNotFoundError):
        files.read("autumn")


# -- writing -------------------------------------------------------------------------------------


def test_save_text_with_the_hash_it_read_writes_and_returns_the_new_hash(
    files: CampaignFiles,
) -> None:
    put(files, "spring", campaign("Spring"))
    opened = files.read("spring")
    saved = files.save_text("spring", campaign("Spring, edited"), expected_hash=opened.content_hash)
    assert load_campaign(saved.path).subject == "Spring, edited"
    assert saved.content_hash == hashlib.sha256(saved.path.read_bytes()).hexdigest()
    assert files.read("spring") == saved
    assert leftovers(files) == []


def test_a_stale_hash_is_refused_and_the_file_left_untouched(files: CampaignFiles) -> None:
    path = put(files, "spring", campaign("Spring"))
    opened = files.read("spring")
    path.write_text(campaign("Spring, saved by a colleague"), encoding="utf-8")
    theirs = path.read_bytes()
    with pytest.raises(StaleCampaignError) as caught:
        files.save_text("spring", campaign("Spring, mine"), expected_hash=opened.content_hash)
    assert caught.value.hint is not None and "reload" in caught.value.hint
    assert caught.value.exit_code == 1
    assert path.read_bytes() == theirs
    assert leftovers(files) == []


def test_a_file_deleted_since_it_was_opened_is_not_recreated(files: CampaignFiles) -> None:
    path = put(files, "spring", campaign("Spring"))
    opened = files.read("spring")
    path.unlink()
    with pytest.raises(StaleCampaignError, match="deleted"):
        files.save_text("spring", campaign("Spring"), expected_hash=opened.content_hash)
    assert not path.exists()


def test_text_that_is_not_a_campaign_is_refused_and_nothing_written(files: CampaignFiles) -> None:
    path = put(files, "spring", campaign("Spring"))
    before = path.read_bytes()
    with pytest.raises(CampaignError, match=rf"{path}:4: .*not valid YAML"):
        files.save_text("spring", "---\nsubject: x\nsend_on: [1\n---\nBody\n", expected_hash=None)
    with pytest.raises(CampaignError, match="status"):
        files.save_text("spring", "---\nstatus: published\n---\nBody\n", expected_hash=None)
    assert path.read_bytes() == before
    assert leftovers(files) == []


def test_of_two_saves_from_the_same_version_one_wins_the_other_is_stale(
    files: CampaignFiles,
) -> None:
    put(files, "spring", campaign("Spring"))
    for round_ in range(10):
        opened = files.read("spring")
        start = threading.Barrier(2)
        outcomes: list[str] = []
        threads = [
            threading.Thread(
                target=_save_when_both_ready,
                args=(files, start, f"{who} {round_}", opened.content_hash, outcomes),
            )
            for who in ("Ann", "Bob")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) == ["saved", "stale"], round_


def _save_when_both_ready(
    files: CampaignFiles, start: threading.Barrier, subject: str, opened: str, out: list[str]
) -> None:
    start.wait()
    try:
        # A large text: writing it takes a while, the window in which an unguarded check of
        # the other save would still see the old file.
        files.save_text("spring", campaign(subject, "x" * 1_000_000), expected_hash=opened)
        out.append("saved")
    except StaleCampaignError:
        out.append("stale")


def test_a_reader_never_sees_half_a_save(files: CampaignFiles) -> None:
    """Saves replace the file whole: a reader gets the old text or the new one, never a part
    (with an in-place write, reads of a 2 MB file mid-write come back short)."""
    versions = [campaign("Version A", "a" * 2_000_000), campaign("Version B", "b" * 2_000_000)]
    path = files.save_text("big", versions[0], expected_hash=None).path
    done = threading.Event()
    seen: list[str] = []

    def read() -> None:
        while not done.is_set():
            seen.append(path.read_text(encoding="utf-8"))

    reader = threading.Thread(target=read)
    with path.open("rb") as opened_before:
        reader.start()
        try:
            for n in range(20):
                files.save_text("big", versions[(n + 1) % 2], expected_hash=None)
        finally:
            done.set()
            reader.join()
        # Replaced, not rewritten: a file opened before the saves still reads whole.
        assert opened_before.read() == versions[0].encode("utf-8")
    assert seen and all(text in versions for text in seen)
    assert leftovers(files) == []


def test_save_writes_a_campaign_to_its_slugs_file(files: CampaignFiles) -> None:
    put(files, "spring", campaign("Spring"))
    loaded = files.load("spring")
    loaded.subject = "Spring: three habits"
    loaded.path = None
    files.save(loaded)
    assert loaded.path == files.path("spring")
    assert files.load("spring").subject == "Spring: three habits"


def test_reserve_claims_a_new_name_and_never_an_existing_one(files: CampaignFiles) -> None:
    from datetime import date

    first = files.reserve("Spring Posture", date(2026, 3, 10))
    second = files.reserve("Spring Posture", date(2026, 3, 10))
    assert [first.name, second.name] == [
        "2026-03-10-spring-posture.md",
        "2026-03-10-spring-posture-2.md",
    ]
    assert first.read_bytes() == b"" and second.read_bytes() == b""
