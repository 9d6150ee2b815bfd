"""Issue 14 item 5: server-side SVG charts carry their numbers in a table, escape what they
show, and say when there is nothing to show."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from mailer.web.charts import bars, columns

SVG = "{http://www.w3.org/2000/svg}"


def test_columns_have_a_title_a_bar_per_day_and_the_same_numbers_in_the_table() -> None:
    chart = columns("Clicks per day", ["1", "2", "3"], [12, 0, 3], "#1b6ca8")
    root = ET.fromstring(chart.svg)
    assert root.get("role") == "img"
    assert root.findtext(f"{SVG}title") == "Clicks per day"
    heights = [float(rect.get("height", "0")) for rect in root.iter(f"{SVG}rect")]
    assert len(heights) == 3 and heights[0] > heights[2] > heights[1] == 0
    assert chart.rows == [("1", "12"), ("2", "0"), ("3", "3")]
    assert not chart.empty


def test_bars_are_longest_first_escaped_and_empty_says_so() -> None:
    chart = bars("By link", [("read-more", 2), ("<script>alert(1)</script>", 5)], "#1b6ca8")
    assert "<script>" not in chart.svg
    ET.fromstring(chart.svg)  # well-formed XML after escaping
    assert [label for label, _ in chart.rows] == ["<script>alert(1)</script>", "read-more"]
    assert bars("Nothing", [], "#000").empty and columns("None", ["1"], [0], "#000").empty


def test_a_long_label_is_cut_in_the_picture_and_whole_in_the_table() -> None:
    label = "www.summitspine.example/blog/why-headaches-start-in-the-upper-neck (read more)"
    chart = bars("By link", [(label, 3)], "#1b6ca8")
    shown = [t.text or "" for t in ET.fromstring(chart.svg).iter(f"{SVG}text")]
    assert shown[0].endswith("…") and len(shown[0]) < 20
    assert chart.rows == [(label, "3")]
