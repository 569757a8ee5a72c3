"""Validity arithmetic at the edges: month ends, leap days, year turns, long periods."""

from datetime import date

import pytest

from wps_common.validity import add_months

CASES = {
    "same_day_next_month": (date(2026, 4, 15), 1, date(2026, 5, 15)),
    "zero_months": (date(2026, 1, 31), 0, date(2026, 1, 31)),
    "jan_31_to_feb_28": (date(2026, 1, 31), 1, date(2026, 2, 28)),
    "jan_31_to_feb_29_in_a_leap_year": (date(2028, 1, 31), 1, date(2028, 2, 29)),
    "jan_30_to_feb_29_in_a_leap_year": (date(2028, 1, 30), 1, date(2028, 2, 29)),
    "mar_31_to_apr_30": (date(2026, 3, 31), 1, date(2026, 4, 30)),
    "aug_31_six_months_to_feb_28": (date(2026, 8, 31), 6, date(2027, 2, 28)),
    "may_31_to_jun_30": (date(2026, 5, 31), 1, date(2026, 6, 30)),
    "jun_30_keeps_the_30th_in_july": (date(2026, 6, 30), 1, date(2026, 7, 30)),
    "feb_28_keeps_the_28th_not_the_month_end": (date(2026, 2, 28), 1, date(2026, 3, 28)),
    "leap_day_plus_a_year_is_feb_28": (date(2028, 2, 29), 12, date(2029, 2, 28)),
    "leap_day_plus_four_years_is_a_leap_day": (date(2028, 2, 29), 48, date(2032, 2, 29)),
    "leap_day_plus_24_months": (date(2028, 2, 29), 24, date(2030, 2, 28)),
    "century_non_leap_year": (date(2099, 2, 28), 12, date(2100, 2, 28)),
    "jan_31_to_feb_of_2100_not_leap": (date(2100, 1, 31), 1, date(2100, 2, 28)),
    "feb_29_2000_was_leap": (date(1999, 1, 31), 13, date(2000, 2, 29)),
    "dec_to_jan_turns_the_year": (date(2026, 12, 31), 1, date(2027, 1, 31)),
    "nov_30_to_feb_across_the_year": (date(2026, 11, 30), 3, date(2027, 2, 28)),
    "twelve_months_is_a_year": (date(2026, 7, 4), 12, date(2027, 7, 4)),
    "thirty_six_months": (date(2026, 3, 1), 36, date(2029, 3, 1)),
    "ten_years": (date(2026, 10, 31), 120, date(2036, 10, 31)),
    "back_one_month": (date(2026, 3, 31), -1, date(2026, 2, 28)),
    "back_across_the_year": (date(2026, 1, 15), -1, date(2025, 12, 15)),
    "back_to_a_leap_day": (date(2029, 2, 28), -12, date(2028, 2, 28)),
}


@pytest.mark.parametrize(("start", "months", "expected"), CASES.values(), ids=CASES.keys())
def test_add_months(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected
