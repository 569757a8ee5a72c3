"""The reports page in a real browser: a cross table (gender × rank) whose withheld cells are
marked and explained, its CSV, the monthly series of compliance by gender for a period, in
English, Russian and Kazakh."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .conftest import Platform, assert_accessible, screenshot, sign_in, use_language
from .test_academy_oversight import Api


def test_a_cross_table_and_the_monthly_series(page: Any, platform: Platform) -> None:
    api = Api(platform, "academy.ala")
    # One woman of a rank nobody else holds: her cell, and what would give it away, is withheld.
    lonely = f"Rank {uuid.uuid4().hex[:6]}"
    api.trainee(rank=lonely, gender="female")
    report = api.get(
        api.enrolment,
        "/v1/reports/compliance",
        academy_id=api.academy["id"],
        by="gender",
        across="rank",
    )
    inner = {(c["group"], c["across"]): c for c in report["table"]}
    assert inner["female", lonely]["suppressed"]

    # The academy's own date may be tomorrow already (Asia/Almaty is UTC+5): end there.
    end = date.today() + timedelta(days=1)
    sign_in(page, "academy.ala", next_path="/academy/reports")
    use_language(page, "en")
    page.goto(f"/academy/reports?by=gender&across=rank&from=2026-01-01&to={end.isoformat()}")
    table = page.locator("table.cross-table[data-measure=compliance]")
    header = table.locator("thead th", has_text=lonely)
    assert header.count() == 1
    column = table.locator("thead th").all_inner_texts().index(lonely)
    women = table.locator("tbody tr", has_text="Women")
    assert "withheld" in women.locator("td").nth(column - 1).inner_text()
    why = page.locator("#withheld-why").inner_text()
    assert "row total or its column total" in why
    # The series: one row per month of the period, women and men as columns.
    series = page.locator("table[data-measure=monthly]")
    # The series ends at today (the latest date on Earth, UTC+14), whatever the period says.
    last = min(end, (datetime.now(UTC) + timedelta(hours=14)).date())
    months = (last.year - 2026) * 12 + last.month
    assert series.locator("tbody tr").count() == months
    assert series.locator("tbody th").first.inner_text() == "January 2026"
    assert_accessible(page)

    with page.expect_download() as download:
        page.locator("section", has=table).locator("a:has-text('Download as CSV')").click()
    raw = download.value.path().read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads Cyrillic ranks as UTF-8
    lines = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    cell = next(r for r in lines if (r["group"], r["column"]) == ("female", lonely))
    assert (cell["across"], cell["count"], cell["total"], cell["suppressed"]) == (
        "rank",
        "",
        "",
        "true",
    )
    with page.expect_download() as monthly:
        page.locator("section", has=series).locator("a:has-text('Download as CSV')").click()
    raw = monthly.value.path().read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    assert text.splitlines()[0] == "month,group,count,total,rate,suppressed,history"
    assert text.splitlines()[1].startswith("2026-01,")

    for language, heading, crossed in (
        ("ru", "Соответствие требованиям по полу, по месяцам", "Пересечь с"),
        ("kk", "Жынысы бойынша талаптарға сәйкестік, ай сайын", "Қиылыстыру"),
    ):
        use_language(page, language)
        assert page.locator("#m-monthly").inner_text() == heading
        assert page.locator("label[for=f-across]").inner_text() == crossed
        assert page.locator("table.cross-table[data-measure=compliance]").count() == 1
        assert_accessible(page)
        screenshot(page, f"academy-reports-cross-{language}")

    # A period longer than the series covers: the tables all the same, the series cut with
    # what to change.
    use_language(page, "en")
    page.goto(f"/academy/reports?by=gender&from=2010-01-01&to={end.isoformat()}")
    assert page.locator("table[data-measure=compliance]").count() == 1
    assert page.locator("table[data-measure=monthly]").count() == 0
    note = page.locator("#m-monthly ~ .notice").inner_text()
    assert "at most 120 months" in note and "start the period on" in note
    assert page.locator("#f-to[aria-invalid=true]").count() == 0
    assert_accessible(page)

    # A period before the history of statuses began: said, not "no data" or zeros.
    page.goto("/academy/reports?by=gender&from=2020-01-01&to=2020-02-29")
    compliance = page.locator("section", has=page.locator("table[data-measure=compliance]"))
    assert "No statuses are kept before" in compliance.locator("tbody").inner_text()
    months = page.locator("table[data-measure=monthly] tbody tr")
    assert months.count() == 2
    assert "No history kept before" in months.first.inner_text()
    assert "nobody" not in months.first.inner_text()
    with page.expect_download() as early:
        page.locator("section", has=page.locator("table[data-measure=monthly]")).locator(
            "a:has-text('Download as CSV')"
        ).click()
    first = early.value.path().read_bytes().decode("utf-8-sig").splitlines()[1]
    assert first == "2020-01,all,,,,false,false"
    assert_accessible(page)

    # On a phone each one-way table's rate column is in view (it stays while the counts
    # scroll), in the language with the longest words.
    use_language(page, "kk")
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(f"/academy/reports?by=gender&from=2026-01-01&to={end.isoformat()}")
    for measure in ("participation", "completion", "compliance"):
        last = page.locator(f"table[data-measure={measure}] thead th").last
        box = last.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390, (measure, box)
    screenshot(page, "academy-reports-kk-phone")
    page.set_viewport_size({"width": 1280, "height": 800})

    # The same grouping twice is refused with a sentence beside the field.
    use_language(page, "en")
    page.select_option("#f-by", "rank")
    page.select_option("#f-across", "rank")
    page.click("form.filters button:has-text('Show')")
    page.wait_for_load_state("load")
    assert page.locator("#f-across[aria-invalid=true]").count() == 1
    assert page.locator("#f-across-error").inner_text() == (
        "Cross with another grouping than the breakdown."
    )
    # The sentence under one field moves no label: they stay on one line.
    tops = {
        name: page.locator(f"label[for={name}]").bounding_box()["y"]
        for name in ("f-by", "f-across", "f-from", "f-to")
    }
    assert len(set(tops.values())) == 1, tops
