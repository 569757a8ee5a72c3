"""Reports: compliance over a date range (read from the kept history of statuses), cross
tables (gender × rank, gender × unit) whose withheld cells cannot be recovered from any row or
column total, and the monthly series of compliance by gender."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import Principal, Role
from wps_common.events.contracts import RequirementChanged, Selector
from wps_common.testing import publish_event, wait_until
from wps_enrolment import reports
from wps_enrolment.models import Academy, Base, ComplianceChange, Requirement, Trainee
from wps_enrolment.reports import Cell, status_in, suppress_cross

from .conftest import Academy as RunningAcademy

ADMIN = Principal(subject="admin-1", roles=frozenset({Role.ADMIN}))
K = 5


@pytest.fixture
def service_metadata() -> MetaData:
    return Base.metadata


# --- the cross table's suppression, on its own ---------------------------------------------


def recoverable(
    inner: list[Cell], rows: list[Cell], columns: list[Cell], overall: Cell
) -> list[str]:
    """Every way a withheld number could be worked out from what is published, or narrowed
    below k: a line (row, column, margins) with a published total and exactly one withheld
    cell, or withheld cells summing to fewer than k people (meeting, or missing, the measure);
    a withheld total whose cells are all published."""
    lines = [(f"row {r.group}", [c for c in inner if c.group == r.group], r) for r in rows]
    lines += [(f"column {c.group}", [i for i in inner if i.across == c.group], c) for c in columns]
    lines += [("row totals", rows, overall), ("column totals", columns, overall)]
    found = []
    for name, cells, total in lines:
        for column in ("total", "count"):
            hidden = [c for c in cells if getattr(c, f"hide_{column}")]
            if getattr(total, f"hide_{column}"):
                if cells and not hidden:
                    found.append(f"{name}: its withheld {column} is the sum of its cells")
                continue
            if len(hidden) == 1 and len(cells) > 1:
                found.append(f"{name}: one withheld {column}, given by the total")
            # All of a line withheld too: "0 of 103" over withheld cells makes each of them 0.
            if len(hidden) >= 2 or (hidden and len(hidden) == len(cells)):
                sums = [sum(c.total for c in hidden)]
                if column == "count":
                    sums = [sum(c.count for c in hidden), sum(c.total - c.count for c in hidden)]
                if min(sums) < K:
                    found.append(f"{name}: withheld {column}s sum to fewer than {K}")
    return found


def table(*inner: tuple[str, str, int, int]) -> tuple[list[Cell], list[Cell], list[Cell], Cell]:
    cells = [Cell(g, count, total, across=a) for g, a, count, total in inner]
    rows = reports._margins(cells, lambda c: c.group)
    columns = reports._margins(cells, lambda c: c.across)
    overall = Cell("all", sum(c.count for c in cells), sum(c.total for c in cells))
    return cells, rows, columns, overall


def test_a_small_cell_of_a_cross_table_cannot_be_recovered_from_its_row_or_column() -> None:
    # Gender × rank: one woman captain, compliant.
    inner, rows, columns, overall = table(
        ("female", "Captain", 1, 1),
        ("female", "Lieutenant", 10, 20),
        ("female", "Sergeant", 8, 15),
        ("male", "Captain", 12, 25),
        ("male", "Lieutenant", 15, 30),
        ("male", "Sergeant", 20, 40),
    )
    assert recoverable(inner, rows, columns, overall) == []  # nothing withheld yet
    inner[0].hide_count = inner[0].hide_total = True  # the one-line rule alone …
    assert recoverable(inner, rows, columns, overall) != []  # … gives it away

    inner, rows, columns, overall = table(
        ("female", "Captain", 1, 1),
        ("female", "Lieutenant", 10, 20),
        ("female", "Sergeant", 8, 15),
        ("male", "Captain", 12, 25),
        ("male", "Lieutenant", 15, 30),
        ("male", "Sergeant", 20, 40),
    )
    suppress_cross(inner, rows, columns, overall, K)
    assert recoverable(inner, rows, columns, overall) == []
    cell = {(c.group, c.across): c for c in inner}
    assert cell["female", "Captain"].hide_total
    # Its row and its column each withhold a second cell, and the cell where those two cross
    # goes too (else the second ones could be worked out in turn): a rectangle of four.
    hidden = {key for key, c in cell.items() if c.hide_total}
    assert hidden == {
        ("female", "Captain"),
        ("female", "Sergeant"),
        ("male", "Captain"),
        ("male", "Sergeant"),
    }
    assert not overall.hide_total and not any(r.hide_total for r in rows)


@pytest.mark.parametrize(
    "inner",
    [
        # Small cells scattered through a larger table, margins large.
        [
            (g, r, (n * 7) % (n % 5 + 2), n % 5 + 2)
            for n, (g, r) in enumerate(
                (g, r) for g in ("female", "male", "other") for r in ("A", "B", "C", "D")
            )
        ],
        # A whole small row: its total is withheld, and so is something to hide it in.
        [
            ("other", "A", 1, 2),
            ("other", "B", 0, 1),
            ("female", "A", 9, 12),
            ("female", "B", 7, 9),
            ("male", "A", 20, 30),
            ("male", "B", 14, 22),
        ],
        # Nobody of a row took part: "0 of 103" would make each withheld count of it 0 (the
        # one woman lieutenant took part in nothing); and a column where everyone did.
        [
            ("female", "Lieutenant", 0, 1),
            ("female", "Captain", 0, 40),
            ("female", "Sergeant", 0, 62),
            ("male", "Lieutenant", 30, 30),
            ("male", "Captain", 20, 80),
            ("male", "Sergeant", 60, 178),
        ],
        # Everything large but one count that would single out the one who missed the measure.
        [
            ("female", "A", 11, 12),
            ("female", "B", 6, 11),
            ("male", "A", 8, 16),
            ("male", "B", 9, 18),
        ],
    ],
)
def test_no_withheld_cell_can_be_worked_out(inner: list[tuple[str, str, int, int]]) -> None:
    cells, rows, columns, overall = table(*inner)
    suppress_cross(cells, rows, columns, overall, K)
    assert recoverable(cells, rows, columns, overall) == []
    for cell in [*cells, *rows, *columns, overall]:  # every primary cell is withheld
        if 0 < cell.total < K:
            assert cell.hide_total
        if cell.total and (cell.count < K or cell.total - cell.count < K):
            assert cell.hide_count  # none meeting (or none missing) included


# --- compliance over a range, from the history ----------------------------------------------


def test_a_status_over_a_range() -> None:
    changes = [
        (date(2026, 1, 5), "due"),
        (date(2026, 2, 10), "compliant"),
        (date(2026, 3, 20), None),
    ]
    assert status_in(changes, date(2026, 1, 1), date(2026, 1, 31)) == "due"
    assert status_in(changes, date(2026, 2, 1), date(2026, 2, 28)) == "compliant"
    # Stopped applying on 20 March (deactivated): March counts them as they were then …
    assert status_in(changes, date(2026, 3, 1), date(2026, 3, 31)) == "compliant"
    # … and so does a range that begins on that day, one day long or longer: the same
    # people whatever day before it the range starts.
    assert status_in(changes, date(2026, 3, 20), date(2026, 3, 20)) == "compliant"
    assert status_in(changes, date(2026, 3, 19), date(2026, 3, 20)) == "compliant"
    assert status_in(changes, date(2026, 3, 21), date(2026, 3, 31)) is None
    # … April does not, nor a range before the first status.
    assert status_in(changes, date(2026, 4, 1), date(2026, 4, 30)) is None
    assert status_in(changes, date(2025, 12, 1), date(2025, 12, 31)) is None
    # Without a start: the status on the end day (or today).
    assert status_in(changes, None, date(2026, 3, 1)) == "compliant"
    assert status_in(changes, None, date(2026, 3, 25)) is None
    assert status_in(changes, None, None) is None


async def people(session: AsyncSession) -> None:
    """Twelve Lieutenants (six women, six men) due from January; ten compliant from
    10 February; two of those men expired on 15 March; one woman left on 20 March."""
    session.add(
        Academy(
            id="a-1",
            code="KZ-ALM",
            name="A",
            country="KZ",
            time_zone="Asia/Almaty",
            languages=["kk"],
        )
    )
    session.add(
        Requirement(
            code="REQ-GHR",
            revision=1,
            active=True,
            track_code="GHR-FOUND",
            selector={},
            grace_period_days=90,
            renewal_months=None,
            reminder_days=[],
            title={"en": "GHR"},
            created_on=date(2026, 1, 1),
            changed_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
    )
    for n in range(12):
        gender = "female" if n < 6 else "male"
        session.add(
            Trainee(
                id=f"t-{n:02d}",
                academy_id="a-1",
                employee_number=f"E-{n}",
                given_name="G",
                family_name="F",
                preferred_language="kk",
                gender=gender,
                rank="Lieutenant",
                unit="Patrol" if n % 2 else "Border",
                active=True,
            )
        )
    await session.flush()

    def change(n: int, on: date, status: str | None) -> ComplianceChange:
        return ComplianceChange(
            trainee_id=f"t-{n:02d}",
            academy_id="a-1",
            requirement_code="REQ-GHR",
            status=status,
            changed_on=on,
            changed_at=datetime(on.year, on.month, on.day, 4, tzinfo=UTC),
        )

    rows = [change(n, date(2026, 1, 5), "due") for n in range(12)]
    rows += [change(n, date(2026, 2, 10), "compliant") for n in (0, 1, 2, 3, 4, 6, 7, 8, 9, 10)]
    rows += [change(n, date(2026, 3, 15), "expired") for n in (9, 10)]
    rows += [change(0, date(2026, 3, 20), None)]
    session.add_all(rows)
    await session.flush()


def numbers(report: dict[str, Any]) -> dict[str, tuple[int | None, int | None]]:
    return {c["group"]: (c["count"], c["total"]) for c in [*report["cells"], report["overall"]]}


async def test_the_compliance_report_follows_its_date_range(service_session: AsyncSession) -> None:
    await people(service_session)

    async def ranged(start: date, end: date) -> dict[str, Any]:
        return await reports.build(
            service_session,
            who=ADMIN,
            measure="compliance",
            by="gender",
            academy_id=None,
            date_from=start,
            date_to=end,
            k=1,
        )

    january = await ranged(date(2026, 1, 1), date(2026, 1, 31))
    assert numbers(january) == {"female": (0, 6), "male": (0, 6), "all": (0, 12)}
    february = await ranged(date(2026, 2, 1), date(2026, 2, 28))
    assert numbers(february) == {"female": (5, 6), "male": (5, 6), "all": (10, 12)}
    march = await ranged(date(2026, 3, 1), date(2026, 3, 31))  # she left compliant in March
    assert numbers(march) == {"female": (5, 6), "male": (3, 6), "all": (8, 12)}
    april = await ranged(date(2026, 4, 1), date(2026, 4, 30))
    assert numbers(april) == {"female": (4, 5), "male": (3, 6), "all": (7, 11)}
    assert (april["date_from"], april["date_to"]) == (date(2026, 4, 1), date(2026, 4, 30))


async def test_the_monthly_series_by_gender(service_session: AsyncSession) -> None:
    await people(service_session)
    series = await reports.monthly(
        service_session,
        who=ADMIN,
        academy_id=None,
        date_from=date(2025, 12, 15),
        date_to=date(2026, 4, 10),
        k=K,
    )
    assert series["history_from"] == date(2026, 1, 5)
    months = {m["month"]: m for m in series["months"]}
    assert list(months) == ["2025-12", "2026-01", "2026-02", "2026-03", "2026-04"]
    assert (months["2025-12"]["date_from"], months["2026-04"]["date_to"]) == (
        date(2025, 12, 15),
        date(2026, 4, 10),
    )
    # Before the history began: nothing known, not zero.
    assert months["2025-12"]["history"] is False
    assert months["2025-12"]["cells"] == []
    assert months["2025-12"]["overall"]["total"] is None
    assert months["2026-01"]["history"] is True
    # Six and six: every count under k people either way is withheld, and so is the overall
    # "0 of 12", which would make each of them 0.
    assert months["2026-01"]["overall"] == {
        "group": "all",
        "count": None,
        "total": 12,
        "rate": None,
        "suppressed": True,
    }
    assert [c["count"] for c in months["2026-02"]["cells"]] == [None, None]
    assert months["2026-02"]["overall"]["count"] is None  # two missed it: too few to show
    text = reports.monthly_csv(series)
    lines = list(csv.DictReader(io.StringIO(text)))
    assert lines[0].keys() == {
        "month",
        "group",
        "count",
        "total",
        "rate",
        "suppressed",
        "history",
    }
    assert [(r["group"], r["count"], r["total"], r["history"]) for r in lines][:1] == [
        ("all", "", "", "false")
    ]
    assert [(r["month"], r["group"], r["total"]) for r in lines if r["month"] == "2026-01"] == [
        ("2026-01", "female", "6"),
        ("2026-01", "male", "6"),
        ("2026-01", "all", "12"),
    ]


async def test_a_cross_table_by_gender_and_unit(service_session: AsyncSession) -> None:
    await people(service_session)
    report = await reports.build(
        service_session,
        who=ADMIN,
        measure="compliance",
        by="gender",
        across="unit",
        academy_id=None,
        date_from=date(2026, 2, 1),
        date_to=date(2026, 2, 28),
        k=1,
    )
    table = {(c["group"], c["across"]): (c["count"], c["total"]) for c in report["table"]}
    assert table == {
        ("female", "Border"): (3, 3),
        ("female", "Patrol"): (2, 3),
        ("male", "Border"): (3, 3),
        ("male", "Patrol"): (2, 3),
    }
    assert {c["group"]: c["total"] for c in report["columns"]} == {"Border": 6, "Patrol": 6}
    lines = list(csv.DictReader(io.StringIO(reports.as_csv(report))))
    assert [(r["group"], r["column"], r["count"]) for r in lines][-3:] == [
        ("all", "Border", "6"),
        ("all", "Patrol", "4"),
        ("all", "all", "10"),
    ]
    assert {r["across"] for r in lines} == {"unit"}


# --- through the API -------------------------------------------------------------------------


async def test_the_reports_api_crosses_and_series(academy: RunningAcademy) -> None:
    await publish_event(
        academy.bus,
        RequirementChanged(
            requirement_code="REQ-ALL",
            revision=1,
            change="created",
            title={"en": "Foundation"},
            selector=Selector(),
            track_code="GHR-FOUND",
            grace_period_days=30,
            renewal_months=None,
            reminder_days=[],
            changed_at=datetime.now(UTC),
        ),
    )

    for n in range(24):
        await academy.trainee(
            f"X-{n:02d}",
            gender="female" if n % 3 == 0 else "male",
            rank="Captain" if n % 2 else "Lieutenant",
        )

    async def evaluated() -> bool:
        summary = await academy.client.get("/v1/compliance/summary", headers=academy.staff)
        return bool(summary.json()["total"] == 24)

    await wait_until(evaluated, what="24 trainees under the requirement")
    cross = await academy.client.get(
        "/v1/reports/compliance?by=gender&across=rank", headers=academy.staff
    )
    assert cross.status_code == 200, cross.text
    body = cross.json()
    assert body["across"] == "rank" and {c["across"] for c in body["table"]} == {
        "Captain",
        "Lieutenant",
    }
    assert body["overall"]["total"] == 24
    exported = await academy.client.get(
        "/v1/reports/participation?by=gender&across=unit&format=csv", headers=academy.staff
    )
    assert exported.status_code == 200
    assert exported.text.splitlines()[0] == (
        "measure,by,group,across,column,count,total,rate,suppressed"
    )
    today = date.today().isoformat()
    series = await academy.client.get(
        f"/v1/reports/compliance/monthly?from=2026-01-01&to={today}&format=csv",
        headers=academy.staff,
    )
    assert series.status_code == 200, series.text
    assert series.text.splitlines()[0] == "month,group,count,total,rate,suppressed,history"
    # A period reaching into the future ends at today: no month is reported before it ends.
    capped = await academy.client.get(
        "/v1/reports/compliance/monthly?from=2026-01-01&to=2199-12-31", headers=academy.staff
    )
    latest = (datetime.now(UTC) + timedelta(hours=14)).date()
    assert capped.status_code == 200, capped.text
    assert capped.json()["date_to"] == latest.isoformat()
    assert capped.json()["months"][-1]["month"] == latest.strftime("%Y-%m")
    for query, field in (
        ("/v1/reports/compliance?by=rank&across=rank", "across"),
        ("/v1/reports/compliance?by=track&across=gender", "by"),
        ("/v1/reports/compliance?across=age", "across"),
        ("/v1/reports/compliance/monthly?from=2026-03-01&to=2026-01-01", "to"),
        ("/v1/reports/compliance/monthly?from=2000-01-01&to=2026-01-01", "to"),
        ("/v1/reports/compliance/monthly?to=2026-01-01", "from"),
        ("/v1/reports/compliance/monthly?from=2199-01-01&to=2199-02-01", "from"),
    ):
        refused = await academy.client.get(query, headers=academy.staff)
        assert refused.status_code == 422, (query, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert field in refused.text, (query, refused.text)
    instructor = await academy.client.get(
        "/v1/reports/compliance/monthly?from=2026-01-01&to=2026-02-01", headers=academy.instructor
    )
    assert instructor.status_code == 403


def test_a_small_third_gender_does_not_take_the_womens_figure_with_it() -> None:
    """Women, Peace and Security: the 13 "other" records are withheld (2 meet the measure),
    and the complement that protects them is the men's figure, not the women's, although
    there are fewer women."""
    grouped = reports.Grouped(
        groups=[(("female",), 100, 147), (("male",), 200, 288), (("other",), 2, 13)],
        overall=(302, 448),
    )
    report = reports._one_way(grouped, K, reports.WOMEN_LAST)
    cells = {c["group"]: c for c in report["cells"]}
    assert (cells["female"]["count"], cells["female"]["rate"]) == (100, round(100 / 147, 4))
    assert cells["male"]["suppressed"] and cells["other"]["suppressed"]
    assert report["overall"]["count"] == 302
    # Other groupings keep the rule as it was: the smallest published cell.
    plain = reports._one_way(grouped, K)
    assert {c["group"]: c["suppressed"] for c in plain["cells"]}["female"]
    # And in a cross table by gender, women's cells are the last complements too.
    inner, rows, columns, overall = table(
        ("female", "A", 50, 70),
        ("female", "B", 50, 77),
        ("male", "A", 100, 140),
        ("male", "B", 100, 148),
        ("other", "A", 1, 6),
        ("other", "B", 1, 7),
    )
    suppress_cross(inner, rows, columns, overall, K, reports.WOMEN_LAST)
    assert recoverable(inner, rows, columns, overall) == []
    assert not any(c.hide_count for c in inner if c.group == "female")
    assert not next(r for r in rows if r.group == "female").hide_count
