"""A clinic blog's feed on loopback for the feed tests: RSS or Atom the test changes between polls.

The server answers conditional GETs as a blog would (304 when If-None-Match or If-Modified-Since
matches), counts requests and keeps their headers, and can be told to fail (an HTTP status, a
slow answer, a web page instead of the feed). Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

SITE = "https://www.summitspine.example"


@dataclass(frozen=True)
class Post:
    """One blog article as the feed lists it."""

    slug: str
    title: str
    paragraphs: tuple[str, ...]
    published: datetime
    guid: bool = True  # False: an RSS item with no <guid> (identified by its link)

    @property
    def link(self) -> str:
        return f"{SITE}/blog/{self.slug}"

    @property
    def html(self) -> str:
        return "".join(f"<p>{escape(p)}</p>" for p in self.paragraphs)


START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def _post(days: int, slug: str, title: str, *paragraphs: str) -> Post:
    return Post(slug, title, paragraphs, START + timedelta(days=days))


POSTS = [
    _post(
        0,
        "stiff-neck-mornings",
        "Why a Stiff Neck Can Start With How You Sleep",
        "If you wake up with a neck that will not turn, the night may be the cause. A pillow "
        "that is too high or too flat holds the top of the neck at an angle for hours.",
        "Try a pillow that keeps your nose in line with your breastbone when you lie on your "
        "side. Sleeping on your stomach twists the upper neck, so ease out of it if you can.",
    ),
    _post(
        3,
        "tension-headaches-upper-neck",
        "Tension Headaches and the Top of the Neck",
        "Many headaches that feel like a band around the head begin where the skull meets the "
        "spine. The small muscles there tighten when the head sits forward for long stretches.",
        "Notice when your headaches start. If they build through the workday, look at your "
        "screen height and take a short walk every hour.",
    ),
    _post(
        7,
        "desk-habits-shoulders",
        "Three Desk Habits That Ease Shoulder Strain",
        "Raise your screen so its top edge sits at eye level. Keep your elbows close to your "
        "sides. Plant both feet on the floor instead of crossing your legs.",
        "None of these take long to learn, and your shoulders will thank you by Friday.",
    ),
    _post(
        10,
        "first-upper-cervical-visit",
        "What Happens at Your First Upper Cervical Visit",
        "Your first visit starts with a conversation about your health history and what brings "
        "you in. Then we look at posture, head tilt and how your neck moves.",
        "If we think we can help, we explain what we found in plain words before any care "
        "begins. Most first visits take about an hour.",
    ),
    _post(
        14,
        "text-neck",
        "Text Neck: Looking Down Adds Up",
        "Every inch your head drifts forward adds load to the muscles at the back of the neck. "
        "Hours of looking down at a phone add up over a week.",
        "Lift the phone to eye level for long messages, and look at the horizon between tasks.",
    ),
    _post(
        17,
        "dizziness-after-a-fall",
        "Dizziness After a Fall? Check the Upper Neck",
        "A slip on the ice or a bump in the car can strain the top of the neck. Some people "
        "feel dizzy or foggy for weeks afterwards and never connect it to the fall.",
        "Tell your doctor about any fall, and mention it when you come to see us.",
    ),
]


def rss(posts: Sequence[Post]) -> bytes:
    """An RSS 2.0 feed listing ``posts`` in the order given (blogs list newest first)."""
    items = []
    for post in posts:
        guid = f'<guid isPermaLink="false">summit-{post.slug}</guid>' if post.guid else ""
        items.append(
            f"<item><title>{escape(post.title)}</title><link>{post.link}</link>{guid}"
            f"<pubDate>{format_datetime(post.published)}</pubDate>"
            f"<description>{escape(post.html)}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        "<title>Summit Upper Cervical blog</title>"
        f"<link>{SITE}/blog</link><description>Notes on necks, headaches and posture"
        "</description>" + "".join(items) + "</channel></rss>\n"
    ).encode()


def atom(posts: Sequence[Post]) -> bytes:
    """An Atom feed listing ``posts``, each with full content."""
    entries = []
    for post in posts:
        stamp = post.published.isoformat().replace("+00:00", "Z")
        entries.append(
            f"<entry><title>{escape(post.title)}</title>"
            f'<link rel="alternate" href="{post.link}"/>'
            f"<id>tag:summitspine.example,2026:{post.slug}</id>"
            f"<updated>{stamp}</updated><published>{stamp}</published>"
            f'<content type="html">{escape(post.html)}</content></entry>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>Summit Upper Cervical blog</title>"
        f'<link href="{SITE}/blog"/><id>tag:summitspine.example,2026:blog</id>'
        f"<updated>2026-03-20T00:00:00Z</updated>" + "".join(entries) + "</feed>\n"
    ).encode()


BLOG_PAGE = b"""<!doctype html>
<html><head><title>Summit Upper Cervical blog</title>
<link rel="alternate" type="application/rss+xml" title="Blog" href="/feed">
</head><body><h1>Blog</h1><p>Notes on necks, headaches and posture.</p></body></html>
"""


@dataclass
class FeedSite:
    """What the server serves at /feed; tests change it between polls."""

    base: str = ""
    body: bytes = b""
    content_type: str = "application/rss+xml; charset=utf-8"
    last_modified: str = ""
    send_etag: bool = True
    status: int = 200  # anything else: an error page with that status
    delay: float = 0.0  # seconds before answering /feed
    requests: list[dict[str, str]] = field(default_factory=list)  # headers of each /feed GET
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"{self.base}/feed"

    def publish(self, body: bytes, *, modified: datetime | None = None) -> None:
        """Serve a new document (a new Last-Modified too)."""
        with self.lock:
            self.body = body
            stamp = modified or datetime.now(UTC)
            self.last_modified = format_datetime(stamp.astimezone(UTC), usegmt=True)

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:20] + '"'

    @property
    def full_answers(self) -> int:
        """How many requests got the whole document (not a 304)."""
        return sum(1 for r in self.requests if r.get("_answer") == "200")


def _handler(site: FeedSite) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/feed":
                self._feed()
            elif self.path == "/blog":
                self._send(200, "text/html; charset=utf-8", BLOG_PAGE)
            elif self.path == "/moved":
                self.send_response(301)
                self.send_header("Location", "/feed")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif self.path == "/loop":
                self.send_response(302)
                self.send_header("Location", "/loop")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._send(404, "text/html", b"<h1>Not found</h1>")

        def _feed(self) -> None:
            with site.lock:
                record = {k.lower(): v for k, v in self.headers.items()}
                site.requests.append(record)
                delay, status, body = site.delay, site.status, site.body
                etag, last_modified = site.etag, site.last_modified
                content_type, send_etag = site.content_type, site.send_etag
            if delay:
                time.sleep(delay)
            if status != 200:
                record["_answer"] = str(status)
                self._send(status, "text/html", b"<h1>Something went wrong</h1>")
                return
            matches = (
                record.get("if-none-match") == etag
                if send_etag and "if-none-match" in record
                else bool(last_modified) and record.get("if-modified-since") == last_modified
            )
            if matches:
                record["_answer"] = "304"
                self.send_response(304)
                if send_etag:
                    self.send_header("ETag", etag)
                self.end_headers()
                return
            record["_answer"] = "200"
            headers = {"Last-Modified": last_modified} if last_modified else {}
            if send_etag:
                headers["ETag"] = etag
            self._send(200, content_type, body, headers)

        def _send(
            self, status: int, content_type: str, body: bytes, headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextlib.contextmanager
def serve_feed() -> Iterator[FeedSite]:
    site = FeedSite()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    httpd.daemon_threads = True
    # shutdown() returns at the server's next poll: 0.5 s by default, paid by every feed test.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    site.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield site
    finally:
        httpd.shutdown()
        httpd.server_close()
