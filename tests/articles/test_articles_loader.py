"""The one entry point: importer chosen by extension or content; unusable inputs refused clearly."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from mailer.articles import load_article, load_articles
from mailer.articles.source import MAX_BYTES
from mailer.errors import ArticleError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "articles"


def refused(source: str | Path) -> ArticleError:
    with pytest.raises(ArticleError) as caught:
        load_article(source)
    assert str(source) in caught.value.message  # the message names the source
    assert caught.value.hint  # and says what to do
    return caught.value


def test_missing_file(tmp_path: Path) -> None:
    assert "no such file" in refused(tmp_path / "nope.txt").message


@pytest.mark.parametrize("content", [b"", b"  \n\n\t \r\n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    assert "empty" in refused(path).message


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "photo.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    assert "binary" in refused(path).message


def test_text_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes("Caf\u00e9 cr\u00e8me and neck pain.\n".encode("latin-1"))
    assert "not UTF-8" in refused(path).message


def test_a_50_mb_file_is_refused_quickly_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as handle:  # sparse: instant to make, 50 MB long
        handle.truncate(50 * 1024 * 1024)
    started = time.perf_counter()
    error = refused(path)
    assert time.perf_counter() - started < 0.5
    assert "too large" in error.message and "50.0 MB" in error.message


def test_just_under_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    line = "Paragraph {0:07d} of a long article about the upper neck keeps going. " * 7 + "\n"
    count = (MAX_BYTES - 100) // len(line.format(0))
    path.write_text("Long Title\n\n" + "".join(line.format(n) for n in range(count)))
    article = load_article(path)
    assert article.title == "Long Title"
    assert len(article.paragraphs) == count


def test_a_folder_and_a_non_http_address(tmp_path: Path) -> None:
    assert "folder" in refused(tmp_path).message
    assert "only http:// and https://" in refused("ftp://www.summitspine.example/a.txt").message


def test_a_page_with_only_furniture_has_no_article_text(tmp_path: Path) -> None:
    path = tmp_path / "furniture.txt"
    path.write_text("top of page\n\nBook Now\n\n20 views0 comments\n\nbottom of page\n")
    assert "no article text" in refused(path).message


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("headaches-upper-neck.txt", "Why Headaches Can Start in the Upper Neck"),
        ("sleep-position.md", "Sleep Position and Neck Pain"),
        ("hostile.html", "Posture at the Desk"),
        ("summit-rss.xml", "Sleep Position and Neck Pain"),
    ],
)
def test_importer_chosen_by_extension(name: str, title: str) -> None:
    assert load_article(FIXTURES / name).title == title


@pytest.mark.parametrize(
    ("fixture", "renamed", "title"),
    [
        ("hostile.html", "page.htm", "Posture at the Desk"),
        ("hostile.html", "saved-page", "Posture at the Desk"),
        ("sleep-position.md", "post", "Sleep Position and Neck Pain"),
        ("headaches-upper-neck.txt", "export", "Why Headaches Can Start in the Upper Neck"),
    ],
)
def test_importer_chosen_by_content_without_a_known_extension(
    tmp_path: Path, fixture: str, renamed: str, title: str
) -> None:
    path = tmp_path / renamed
    path.write_bytes((FIXTURES / fixture).read_bytes())
    assert load_article(path).title == title


def test_url_option_sets_the_address_of_a_page_export() -> None:
    url = "https://www.summitspine.example/post/headaches"
    article = load_article(FIXTURES / "headaches-upper-neck.txt", url=url)
    assert article.url == url
    assert load_articles(FIXTURES / "headaches-upper-neck.txt", url=url)[0].url == url


def test_a_page_export_does_not_load_the_heavy_libraries() -> None:
    """`mailer draft` on a page export must start fast: no trafilatura, feedparser or httpx."""
    code = (
        "import sys; from mailer.articles import load_article; "
        f"load_article({str(FIXTURES / 'headaches-upper-neck.txt')!r}); "
        "print(sorted(m for m in ('trafilatura', 'feedparser', 'httpx', 'lxml') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout.strip() == "[]"


def test_a_web_page_saved_as_txt_is_read_as_html(tmp_path: Path) -> None:
    path = tmp_path / "saved.txt"
    path.write_bytes((FIXTURES / "hostile.html").read_bytes())
    article = load_article(path)
    assert article.title == "Posture at the Desk"
    assert "onclickMarker" not in repr(article)
