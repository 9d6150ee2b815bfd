"""The blog's feed (feed.url): conditional fetches and new articles drafted, each once.

``poll_feed(workspace, sessions, now=...)`` does one poll; ``feed_report(sessions, url)`` says
what the last one found. See feed/poll.py for the rules (baseline, digest, exactly once).
"""
