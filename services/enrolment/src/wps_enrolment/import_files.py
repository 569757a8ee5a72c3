"""The files an academy uploads to import trainees, as the CSV text the import reads: a text
file's encoding (named, UTF-8, or found), an Excel workbook's first sheet; and the template in
Excel's shape. Pure and CPU only: run it in a worker thread."""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from datetime import date, datetime, time
from typing import Any

from charset_normalizer import from_bytes

from wps_common.errors import InvalidInput
from wps_enrolment.trainee_csv import COLUMNS, EXAMPLE

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97-2003 (.xls), and any encrypted workbook
# A workbook is a zip archive: what it unpacks to is checked before it is opened, so a small
# upload cannot make the service unpack gigabytes.
MAX_UNPACKED = 50_000_000
MAX_RATIO = 100
# UTF-32 first: its little-endian mark begins with UTF-16's.
_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SAMPLE = 256_000  # bytes an encoding is found from
# The single-byte Cyrillic code pages, cp1251 first: what Excel writes in a Russian or Kazakh
# locale ("CSV (comma delimited)"). charset-normalizer guesses short files poorly (a few
# Cyrillic names read as Shift JIS or Big5 to it) and cannot tell cp1251 from Mac Cyrillic.
_CYRILLIC = ("cp1251", "koi8_r", "cp866", "mac_cyrillic")
_WORD = re.compile(r"[^\W\d_]+")
_TYPOGRAPHY = "«»—–№“”„‘’…\xa0"  # in Cyrillic text as in any


def roster_text(
    body: bytes, *, charset: str | None, media_type: str = "", filename: str | None = None
) -> str:
    """The upload as CSV text: a workbook's first sheet, or the text in the charset the
    request named; UTF-8 (with or without its mark) or UTF-16/32 with their marks otherwise,
    and failing those the encoding the bytes read as."""
    if _is_workbook(body, media_type, filename):
        return workbook_text(body)
    if body.startswith(_OLE):
        raise InvalidInput(
            "The file is an Excel 97-2003 workbook (.xls) or a password-protected one, which "
            "cannot be read. Save it as an Excel workbook (.xlsx) without a password, or as CSV.",
            field="file",
        )
    if charset and not _is_utf8(charset):
        return _decoded(body, charset, "name its charset in the Content-Type")
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        first = exc.start  # the first byte UTF-8 cannot read: the encoding shows from there
    for mark, encoding in _MARKS:
        if body.startswith(mark):
            return _decoded(body, encoding, "save it again as UTF-8")
    found = _encoding(body[max(0, first - 4096) : first + _SAMPLE])
    if found is None:
        raise InvalidInput(
            "The file is not UTF-8 text, and no other encoding reads it as text either. Save "
            'it as "CSV UTF-8" or as an Excel workbook (.xlsx).',
            field="file",
        )
    return _decoded(body, found, "save it as UTF-8")


def _is_utf8(charset: str) -> bool:
    try:
        return codecs.lookup(charset).name == "utf-8"
    except LookupError:
        return False  # decoding names the unknown charset


def _decoded(body: bytes, encoding: str, advice: str) -> str:
    try:
        return body.decode("utf-8-sig" if _is_utf8(encoding) else encoding)
    except (UnicodeError, LookupError) as exc:  # UnicodeError: e.g. charset=idna
        raise InvalidInput(
            f"The file is not {encoding} text ({exc.__class__.__name__}); save it as UTF-8 "
            f"or {advice}.",
            field="file",
        ) from None


def _encoding(sample: bytes) -> str | None:
    """The encoding the bytes read as: charset-normalizer's guess, unless one of the Cyrillic
    code pages reads them as Cyrillic words at least as well (cp1251 when several do)."""
    best = from_bytes(sample).best()
    guessed = best.encoding if best is not None else None
    readings = [(_cyrillic_words(sample, page), page) for page in _CYRILLIC]
    if guessed is not None and guessed not in _CYRILLIC:
        readings.append((_cyrillic_words(sample, guessed), guessed))
    score, page = max(readings, key=lambda reading: reading[0])  # the first of equals
    return page if score >= 0.9 else guessed


def _cyrillic_words(sample: bytes, encoding: str) -> float:
    """The share of the characters beyond ASCII that are in Cyrillic words (one script, and
    capitalised, lower or upper case) when the bytes are read in this encoding; 0 when it
    cannot read them. A wrong code page turns capitals into small letters or symbols (koi8-r
    read as cp1251 gives "пЕТРОВА", cp866 read as koi8-r "▐╔БЮ╝╒═"), or a Latin name into a
    mix of scripts ("Mьller")."""
    try:
        text = sample.decode(encoding)
    except (UnicodeError, LookupError):
        return 0.0
    beyond = sum(1 for c in text if not c.isascii() and c not in _TYPOGRAPHY)
    if not beyond:
        return 0.0
    cyrillic = sum(
        len(w)
        for w in _WORD.findall(text)
        if all("\u0400" <= c <= "\u04ff" for c in w) and (w.istitle() or w.islower() or w.isupper())
    )
    return cyrillic / beyond


def _is_workbook(body: bytes, media_type: str, filename: str | None) -> bool:
    return (
        media_type.split(";")[0].strip().lower() == XLSX
        or (filename or "").lower().endswith(".xlsx")
        or body.startswith(_ZIP)
    )


def workbook_text(body: bytes) -> str:
    """The first worksheet as CSV: dates as YYYY-MM-DD, whole numbers without a decimal point
    (an employee number typed as a number), TRUE/FALSE as true/false."""
    _check_unpacked_size(body)
    from openpyxl import load_workbook  # type: ignore[import-untyped]

    out = io.StringIO()
    # Every cell quoted: the delimiter the reader finds is the comma, whatever the cells hold.
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    try:
        book = load_workbook(io.BytesIO(body), read_only=True, data_only=True)
        try:
            if not book.worksheets:
                raise InvalidInput("The Excel workbook has no worksheet.", field="file")
            for row in book.worksheets[0].iter_rows(values_only=True):
                cells = [_cell_text(value) for value in row]
                while cells and not cells[-1]:
                    cells.pop()  # formatted but empty cells right of the data
                writer.writerow(cells)
        finally:
            book.close()
    except InvalidInput:
        raise
    except Exception:  # openpyxl fails in many ways on a damaged file (zip, XML, KeyError…)
        raise InvalidInput(_BROKEN, field="file") from None
    return out.getvalue()


_BROKEN = (
    "The Excel file cannot be read: it is damaged, or not an Excel workbook (.xlsx). Open it "
    "in Excel and save it again as .xlsx, or save it as CSV."
)


def _check_unpacked_size(body: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise InvalidInput(_BROKEN, field="file") from None
    unpacked = sum(entry.file_size for entry in entries)
    packed = sum(entry.compress_size for entry in entries)
    if unpacked > MAX_UNPACKED or unpacked > MAX_RATIO * max(packed, 1):
        raise InvalidInput(
            f"The Excel file would unpack to {unpacked:,} bytes from {len(body):,}, more than "
            f"a workbook of trainees needs (at most {MAX_UNPACKED:,} bytes, {MAX_RATIO} times "
            "its size), so it is refused. Save the sheet as CSV, or split it.",
            field="file",
        )


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):  # before int: a bool is an int
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def template_xlsx() -> bytes:
    """The columns, in bold, and one example row: the workbook an academy fills in."""
    from openpyxl import Workbook
    from openpyxl.styles import Font  # type: ignore[import-untyped]

    book = Workbook()
    sheet = book.active
    sheet.title = "Trainees"
    sheet.append(list(COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.append(list(EXAMPLE))
    for cell in sheet[2]:
        if isinstance(cell.value, date):
            cell.number_format = "yyyy-mm-dd"
        elif isinstance(cell.value, str):
            cell.number_format = "@"  # text: Excel keeps what is typed (E-0001, 007)
    for column in sheet.columns:
        sheet.column_dimensions[column[0].column_letter].width = 18
    # Employee numbers as text in the rows to come too: typed as numbers, 007 would lose its 0s.
    sheet.column_dimensions["A"].number_format = "@"
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
