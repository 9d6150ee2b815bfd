"""Articles from page exports, Markdown, HTML pages and feeds, all into one Article model."""
