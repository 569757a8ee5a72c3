"""Calendar-month arithmetic of validity periods."""

from datetime import date

import pytest

from wps_common.validity import add_months


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 11, 23), 24, date(2028, 11, 23)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2027, 1, 31), 13, date(2028, 2, 29)),
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
    ],
)
def test_add_months_keeps_the_day_or_takes_the_last_of_a_shorter_month(
    start: date, months: int, expected: date
) -> None:
    assert add_months(start, months) == expected
