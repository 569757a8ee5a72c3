"""The files academies really have import: Excel's CSV in a Russian locale (cp1251, `;`,
CRLF), UTF-16 "Unicode text" (tabs), other delimiters, Excel workbooks; and the template, in
both shapes, imports as it is."""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any

import pytest

from wps_enrolment.import_files import XLSX, roster_text
from wps_enrolment.trainee_csv import COLUMNS, EXAMPLE

from .conftest import Academy

CYRILLIC = [
    ("KZ-001", "Нұрланова", "Дана"),  # Kazakh letters: not in cp1251, so not in its file
    ("RU-001", "Петрова", "Анна"),
    ("RU-002", "Ёлкина", "Юлия-Мария"),
    ("RU-003", "ШЕВЧЕНКО", "Пётр"),
    ("RU-004", "Щукина", "Эльвира"),
]


async def imported(
    academy: Academy, body: bytes, content_type: str, *, filename: str | None = None
) -> dict[str, Any]:
    """The finished job of an upload, sent as the body or (with a filename) as a form."""
    url = f"/v1/academies/{academy.academy_id}/imports"
    if filename is None:
        response = await academy.client.post(
            url, content=body, headers={**academy.staff, "Content-Type": content_type}
        )
    else:
        response = await academy.client.post(
            url, files={"file": (filename, body, content_type)}, headers=academy.staff
        )
    assert response.status_code == 202, response.text
    return await academy.import_done(response.json()["id"])


async def names(academy: Academy) -> dict[str, tuple[str, str]]:
    response = await academy.client.get(
        f"/v1/trainees?academy_id={academy.academy_id}&limit=100", headers=academy.staff
    )
    return {
        t["employee_number"]: (t["family_name"], t["given_name"]) for t in response.json()["items"]
    }


async def test_excel_csv_of_a_russian_locale_imports_with_exact_names(academy: Academy) -> None:
    """cp1251, semicolons, CRLF, no charset named (what Excel's "CSV (разделители — запятые)"
    writes): it used to be a 422 that read the header as one column."""
    people = CYRILLIC[1:]
    lines = ["employee_number;family_name;given_name;unit;start_date"]
    lines += [f"{n};{f};{g};Патруль, Север;01.03.2024" for n, f, g in people]
    body = "\r\n".join(lines).encode("cp1251") + b"\r\n"
    for content_type in ("text/csv", "text/csv; charset=utf-8"):  # a wrong utf-8 too
        job = await imported(academy, body, content_type)
        assert (job["status"], job["error_count"]) == ("succeeded", 0), job
    assert await names(academy) == {n: (f, g) for n, f, g in people}
    listed = await academy.client.get(
        f"/v1/trainees?academy_id={academy.academy_id}&q=RU-001", headers=academy.staff
    )
    [trainee] = listed.json()["items"]
    assert (trainee["unit"], trainee["start_date"]) == ("Патруль, Север", "2024-03-01")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
async def test_unicode_text_with_tabs_imports(academy: Academy, encoding: str) -> None:
    """Excel's "Unicode text": UTF-16 with its byte-order mark, cells between tabs (it was a
    422 for its NUL characters); UTF-8 with tabs the same."""
    lines = ["employee_number\tfamily_name\tgiven_name"]
    lines += [f"{n}\t{f}\t{g}" for n, f, g in CYRILLIC]
    job = await imported(academy, "\r\n".join(lines).encode(encoding), "text/plain")
    assert (job["status"], job["created_count"], job["error_count"]) == ("succeeded", 5, 0), job
    assert await names(academy) == {n: (f, g) for n, f, g in CYRILLIC}


async def test_vertical_bars_separate_as_well(academy: Academy) -> None:
    job = await imported(
        academy, b"employee_number|family_name|given_name\nE-1|Petrova, Jr|Ana\n", "text/csv"
    )
    assert (job["status"], job["created_count"]) == ("succeeded", 1), job
    assert await names(academy) == {"E-1": ("Petrova, Jr", "Ana")}


def workbook(rows: list[list[Any]]) -> bytes:
    from openpyxl import Workbook  # type: ignore[import-untyped]

    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    second = book.create_sheet("Notes")  # only the first sheet is read
    second.append(["employee_number", "family_name", "given_name"])
    second.append(["N-1", "Not", "Imported"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_an_excel_workbook_imports_its_first_sheet(academy: Academy) -> None:
    """Dates are dates, an employee number typed as a number has no `.0`, TRUE is true, and
    cells formatted but empty right of the data are not extra cells."""
    body = workbook(
        [
            ["Employee Number", "Surname", "First Name", "Start Date", "Active", None],
            [1001, "Петрова", "Анна", datetime(2024, 3, 1), True, None],
            [1002.0, "Nurlanova", "Dana", date(2023, 9, 15), False],
            [],
            ["E-3", "Ёлкина", "Юлия", "01.02.2022", "yes", ""],
        ]
    )
    for content_type, filename in (
        (XLSX, None),  # the media type
        ("application/octet-stream", "Personnel.XLSX"),  # a form's file name
        ("application/octet-stream", None),  # the bytes alone
    ):
        job = await imported(academy, body, content_type, filename=filename)
        assert (job["status"], job["error_count"]) == ("succeeded", 0), job
    assert job["unchanged_count"] == 3
    assert await names(academy) == {
        "1001": ("Петрова", "Анна"),
        "1002": ("Nurlanova", "Dana"),
        "E-3": ("Ёлкина", "Юлия"),
    }
    listed = await academy.client.get(
        f"/v1/trainees?academy_id={academy.academy_id}&sort=employee_number", headers=academy.staff
    )
    facts = [(t["start_date"], t["active"]) for t in listed.json()["items"]]
    assert facts == [("2024-03-01", True), ("2023-09-15", False), ("2022-02-01", True)]


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
async def test_the_template_downloads_and_imports_as_it_is(academy: Academy, kind: str) -> None:
    response = await academy.client.get(
        f"/v1/imports/trainees/template?format={kind}", headers=academy.staff
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"] == (
        f'attachment; filename="trainees-template.{kind}"'
    )
    if kind == "csv":
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.content.startswith(b"\xef\xbb\xbf")  # Excel reads it as UTF-8
        header, example, end = response.content.decode("utf-8-sig").split("\n")
        assert (tuple(header.split(",")), end) == (COLUMNS, "")
        assert example.startswith("E-0001,Petrova,Ana,")
    else:
        from openpyxl import load_workbook

        assert response.headers["content-type"] == XLSX
        sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
        assert tuple(c.value for c in sheet[1]) == COLUMNS
        assert all(c.font.bold for c in sheet[1])
        assert sheet["A2"].value == "E-0001" and sheet["J2"].is_date
    job = await imported(academy, response.content, response.headers["content-type"])
    assert (job["status"], job["created_count"], job["error_count"]) == ("succeeded", 1, 0), job
    listed = await academy.client.get(
        f"/v1/trainees?academy_id={academy.academy_id}", headers=academy.staff
    )
    [trainee] = listed.json()["items"]
    expected = {
        c: v.isoformat() if isinstance(v, date) else v
        for c, v in zip(COLUMNS, EXAMPLE, strict=True)
    }
    assert {c: trainee[c] for c in COLUMNS} == expected


async def test_the_template_is_for_the_staff_who_import(academy: Academy) -> None:
    url = "/v1/imports/trainees/template"
    assert (await academy.client.get(url, headers=academy.instructor)).status_code == 403
    assert (await academy.client.get(url)).status_code == 401
    refused = await academy.client.get(url + "?format=xls", headers=academy.staff)
    assert refused.status_code == 422


@pytest.mark.parametrize("encoding", ["cp1251", "koi8_r", "cp866"])
@pytest.mark.parametrize("rows", [1, 4])
def test_a_few_cyrillic_names_are_enough_to_tell_the_code_page(encoding: str, rows: int) -> None:
    """charset-normalizer alone reads one cp1251 row as Shift JIS, and cp866 as cp1125."""
    text = "employee_number;family_name;given_name\r\n" + "".join(
        f"{n};{f};{g}\r\n" for n, f, g in CYRILLIC[1 : 1 + rows]
    )
    assert roster_text(text.encode(encoding), charset=None) == text


def test_the_encoding_is_found_where_the_first_letter_beyond_ascii_is() -> None:
    """A long file whose first Cyrillic name comes after thousands of Latin ones."""
    text = "employee_number,family_name,given_name\n" + "".join(
        f"N-{i:06d},Family{i},Given{i}\n" for i in range(20_000)
    )
    text += "RU-1,Ёлкина,Юлия\n"
    assert roster_text(text.encode("cp1251"), charset=None) == text


@pytest.mark.parametrize(
    ("header", "genders"),
    [
        ("Табельный номер;Фамилия;Имя;Пол;Звание;Подразделение", ("Ж", "м")),
        ("Табель нөмірі;Тегі;Аты;Жынысы;Атағы;Бөлімше", ("әйел", "Ер")),
    ],
    ids=["ru", "kk"],
)
async def test_russian_and_kazakh_column_headings_are_understood(
    academy: Academy, header: str, genders: tuple[str, str]
) -> None:
    """An HR export in the academy's own language names its columns in that language."""
    rows = [
        f"RU-001;Петрова;Анна;{genders[0]};лейтенант;Патруль",
        f"RU-002;Ёлкин;Пётр;{genders[1]};капитан;Следствие",
    ]
    body = "\r\n".join([header, *rows]).encode("utf-8") + b"\r\n"
    job = await imported(academy, body, "text/csv")
    assert (job["status"], job["error_count"]) == ("succeeded", 0), job
    listed = await academy.client.get(
        f"/v1/trainees?academy_id={academy.academy_id}&limit=10", headers=academy.staff
    )
    got = {
        t["employee_number"]: (t["gender"], t["rank"], t["unit"]) for t in listed.json()["items"]
    }
    assert got == {
        "RU-001": ("female", "лейтенант", "Патруль"),
        "RU-002": ("male", "капитан", "Следствие"),
    }
