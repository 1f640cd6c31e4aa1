"""The SVG charts drawn on the box: well-formed, accessible, every label escaped, readable with zero
values, long Polish labels and many bars."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

import pytest

from appliance.web.charts import MAX_LABEL_CHARACTERS, WIDTH, Bar, Column, bar_chart, column_chart

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(1)"> & "quotes" \'too\''


def parse(svg: str) -> ElementTree.Element:
    return ElementTree.fromstring(svg)


def texts(root: ElementTree.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


def bar_widths(root: ElementTree.Element) -> list[float]:
    """The widths of the filled bars (the grey tracks behind them left out)."""
    return [float(r.get("width", 0)) for r in root.iter(f"{SVG}rect") if r.get("fill") == "#1f5fbf"]


def test_a_bar_chart_is_an_accessible_image_with_its_title_and_every_value() -> None:
    root = parse(bar_chart("Ulubiony kwiat?", "4 voters", [Bar("A · Róża", 3, "3 (75%)"), Bar("B · Tulipan", 1, "1 (25%)")],
                           chart_id="poll-1-chart"))

    assert root.tag == f"{SVG}svg" and root.get("role") == "img" and root.get("id") == "poll-1-chart"
    assert root.findtext(f"{SVG}title") == "Ulubiony kwiat?"
    assert root.get("aria-label") == "Ulubiony kwiat?. 4 voters. A · Róża: 3 (75%); B · Tulipan: 1 (25%)"
    assert "A · Róża: 3 (75%)" in (root.findtext(f"{SVG}desc") or "")
    assert ["A · Róża", "3 (75%)", "B · Tulipan", "1 (25%)"] == texts(root)[2:]
    assert [g.findtext(f"{SVG}title") for g in root.iter(f"{SVG}g")] == ["A · Róża: 3 (75%)", "B · Tulipan: 1 (25%)"]
    longest, shortest = bar_widths(root)
    assert longest == pytest.approx(3 * shortest, abs=0.2)


def test_labels_titles_and_numbers_are_escaped_and_what_xml_forbids_is_left_out() -> None:
    svg = bar_chart(HOSTILE, HOSTILE, [Bar(HOSTILE + "\x00\x1b\ud800", 1, HOSTILE)], chart_id='x" onload="alert(1)')

    assert "<script" not in svg and "<img" not in svg and 'onload="' not in svg and "\x00" not in svg
    root = parse(svg)  # well-formed: the browser shows text, never markup
    assert root.findtext(f"{SVG}title") == HOSTILE
    assert HOSTILE in texts(root)
    assert root.get("id") == 'x" onload="alert(1)'
    assert {element.tag for element in root.iter()} <= {f"{SVG}{tag}" for tag in ("svg", "title", "desc", "text",
                                                                                     "g", "rect", "line")}


def test_zero_votes_draw_empty_tracks_with_their_zeros() -> None:
    root = parse(bar_chart("Nikt jeszcze?", "0 voters", [Bar("A", 0, "0 (0%)"), Bar("B", 0, "0 (0%)")], chart_id="c"))

    assert bar_widths(root) == []
    assert texts(root).count("0 (0%)") == 2
    assert len([r for r in root.iter(f"{SVG}rect") if r.get("fill") != "#1f5fbf"]) == 2


def test_a_long_polish_label_is_shortened_on_its_line_and_whole_in_its_tooltip() -> None:
    label = "Zdecydowanie tak, poproszę o więcej informacji o ogrodach zimowych i pergolach z drewna"
    accented = "Łódź " + "ę" * 60 + "\u0301" * 3

    root = parse(bar_chart("Pytanie", "2 voters", [Bar(label, 1, "1 (50%)"), Bar(accented, 1, "1 (50%)")],
                           chart_id="c"))

    shown = texts(root)[2]
    assert shown.endswith("…") and len(shown) == MAX_LABEL_CHARACTERS and label.startswith(shown[:-1].rstrip())
    assert [g.findtext(f"{SVG}title") for g in root.iter(f"{SVG}g")][0] == f"{label}: 1 (50%)"
    assert not re.search("[\u0300-\u036f]…", texts(root)[4])  # never an accent cut from its letter


def test_many_bars_each_get_a_row_and_the_picture_grows() -> None:
    few = parse(bar_chart("Q", "s", [Bar(f"Opcja {n}", n, str(n)) for n in range(3)], chart_id="c"))
    many = parse(bar_chart("Q", "s", [Bar(f"Opcja {n}", n, str(n)) for n in range(40)], chart_id="c"))

    assert len(list(many.iter(f"{SVG}g"))) == 40
    assert float(many.get("height", 0)) > float(few.get("height", 0)) * 8
    widths = bar_widths(many)
    assert widths == sorted(widths) and max(widths) <= WIDTH


def test_a_column_chart_has_an_axis_with_round_steps_and_numbers_on_a_week_s_columns() -> None:
    days = [Column(f"{d}.05", n, f"{d} maja: {n} wiadomości") for d, n in zip(range(1, 8), [0, 3, 12, 7, 0, 1, 23], strict=True)]

    root = parse(column_chart("Wiadomości dziennie", "46 wiadomości", days, chart_id="traffic"))

    assert root.get("role") == "img" and root.findtext(f"{SVG}title") == "Wiadomości dziennie"
    labels = texts(root)
    assert ["0", "5", "10", "15", "20", "25"] == labels[2:8]  # the axis
    assert [label for label in labels[8:] if label.isdigit()] == ["3", "12", "7", "1", "23"]  # on the columns
    assert [f"{d}.05" for d in range(1, 8)] == [label for label in labels if label.endswith(".05")]
    assert [g.findtext(f"{SVG}title") for g in root.iter(f"{SVG}g")][6] == "7 maja: 23 wiadomości"
    assert "3 maja: 12 wiadomości" in (root.get("aria-label") or "")


def test_ninety_columns_keep_every_value_in_tooltips_and_thin_out_the_dates() -> None:
    days = [Column(f"{n}", n * 10, f"day {n}: {n * 10}") for n in range(90)]

    root = parse(column_chart("Traffic", "s", days, chart_id="traffic"))

    tooltips = [g.findtext(f"{SVG}title") for g in root.iter(f"{SVG}g")]
    assert tooltips[0] == "day 0: 0" and tooltips[89] == "day 89: 890" and len(tooltips) == 90
    columns = [r for r in root.iter(f"{SVG}rect")]
    assert len(columns) == 90 and float(columns[89].get("height", 0)) > float(columns[1].get("height", 0)) * 80
    dates = [label for label in texts(root)[2:] if label in {str(n) for n in range(90)}]
    assert 5 <= len(dates) <= 20 and "890" not in texts(root)  # no numbers squeezed onto 4-unit columns


def test_a_column_chart_of_nothing_is_still_a_chart() -> None:
    root = parse(column_chart("Traffic", "0 messages", [Column("1.05", 0, "1 May: 0")], chart_id="t"))

    assert ["0", "1"] == texts(root)[2:4] and root.findtext(f"{SVG}title") == "Traffic"
