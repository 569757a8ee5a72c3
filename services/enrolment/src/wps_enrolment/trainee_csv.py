"""The trainee CSV an HR system exports: its columns and their spellings, its delimiter, reading
and validating a file (pure, CPU only: run it in a worker thread), and writing one that
re-imports as it was."""

from __future__ import annotations

import csv
import io
import re
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from wps_common.errors import InvalidInput
from wps_common.fields import from_spreadsheet, spreadsheet_safe
from wps_enrolment.schemas import TraineeCreate

# The columns of the file, in export order. Header names are matched case-insensitively,
# spaces and dashes count as underscores, and a few common HR spellings are understood.
COLUMNS = (
    "employee_number",
    "family_name",
    "given_name",
    "preferred_language",
    "gender",
    "rank",
    "role",
    "unit",
    "agency",
    "start_date",
    "active",
)
REQUIRED = ("employee_number", "family_name", "given_name")
ALIASES = {
    "service_number": "employee_number",
    "personnel_number": "employee_number",
    "employee_id": "employee_number",
    "surname": "family_name",
    "last_name": "family_name",
    "first_name": "given_name",
    "forename": "given_name",
    "language": "preferred_language",
    "sex": "gender",
    "position": "role",
    "department": "unit",
    "organisation": "agency",
    "organization": "agency",
    "hire_date": "start_date",
    "start": "start_date",
    # The headings a Russian- or Kazakh-language HR export uses.
    "табельный_номер": "employee_number",
    "фамилия": "family_name",
    "имя": "given_name",
    "язык": "preferred_language",
    "пол": "gender",
    "звание": "rank",
    "должность": "role",
    "подразделение": "unit",
    "ведомство": "agency",
    "дата_приема": "start_date",
    "дата_приёма": "start_date",
    "табель_нөмірі": "employee_number",
    "тегі": "family_name",
    "аты": "given_name",
    "тілі": "preferred_language",
    "жынысы": "gender",
    "атағы": "rank",
    "лауазымы": "role",
    "бөлімше": "unit",
}
GENDERS = {
    "f": "female",
    "female": "female",
    "m": "male",
    "male": "male",
    "o": "other",
    "other": "other",
    "u": "undisclosed",
    "x": "undisclosed",
    "undisclosed": "undisclosed",
    "ж": "female",
    "жен": "female",
    "женский": "female",
    "м": "male",
    "муж": "male",
    "мужской": "male",
    "әйел": "female",
    "ер": "male",
}
BOOLEANS = {
    "true": True,
    "yes": True,
    "1": True,
    "y": True,
    "false": False,
    "no": False,
    "0": False,
    "n": False,
}
# What spreadsheets write between cells: Excel's "CSV" in a locale whose decimal mark is a comma
# (Russian, Kazakh, most of Europe) separates with `;`, its "Unicode text" with a tab.
DELIMITERS = ",;\t|"
_SNIFFED = 8192  # characters of the file's start the delimiter is found from
# An example person, as the template shows the columns filled in.
EXAMPLE = (
    "E-0001",
    "Petrova",
    "Ana",
    "ru",
    "female",
    "Lieutenant",
    "Instructor",
    "Patrol Service",
    "National Police",
    date(2024, 3, 1),
    True,
)
_trainee = TypeAdapter(TraineeCreate)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def header_map(header: Sequence[str]) -> dict[int, str]:
    """Column index → field; raises InvalidInput when the header cannot be used at all."""
    found: dict[int, str] = {}
    seen: set[str] = set()
    for index, raw in enumerate(header):
        name = raw.strip().lstrip("\ufeff").lower().replace(" ", "_").replace("-", "_")
        name = ALIASES.get(name, name)
        if name in COLUMNS:
            if name in seen:
                raise InvalidInput(f"Column {name} appears twice in the header.", field="file")
            seen.add(name)
            found[index] = name
    missing = [c for c in REQUIRED if c not in seen]
    if missing:
        cells = [h.strip().lstrip("\ufeff") for h in header]
        if len(cells) == 1 and any(mark in cells[0] for mark in DELIMITERS[1:]):
            raise InvalidInput(
                "The file's delimiter could not be recognised, so its header reads as one "
                f'column: "{cells[0][:200]}". Separate the columns with commas, semicolons, '
                "tabs or vertical bars, the same one on every line.",
                field="file",
            )
        named = [c[:60] for c in cells if c]
        listed = ", ".join(f'"{c}"' for c in named[:30]) or "no column names"
        if len(named) > 30:
            listed += f" and {len(named) - 30} more"
        raise InvalidInput(
            f"The CSV header lacks the required column(s) {', '.join(missing)}; found: {listed}.",
            field="file",
        )
    return found


def _parse_date(text: str) -> date:
    if len(text) == 10 and text[4] == text[7] == "-" and text.isascii():
        # The usual spelling, without strptime's cost (a third of reading a file): only
        # zero-padded YYYY-MM-DD takes this way; anything else falls to strptime below.
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date (use YYYY-MM-DD or DD.MM.YYYY)")


@dataclass
class RowError:
    row: int
    column: str | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "reason": self.reason}


@dataclass
class Parsed:
    """Valid rows (line number, field values present in the file) and row-level errors."""

    columns: list[str]
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    total: int = 0


def delimiter(text: str) -> str:
    """The delimiter of the file, found from its first lines (the header among them); a comma
    when they do not tell. The same text always gives the same answer, so the check at
    submission and the job's reading agree."""
    sample = text[:_SNIFFED]
    if len(text) > _SNIFFED:  # whole lines only: a cut last line would break the count
        end = max(sample.rfind("\n"), sample.rfind("\r"))
        sample = sample[:end] if end > 0 else sample
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def _reader(text: str) -> Any:
    # newline="": a bare CR (old Mac files) ends a line as CRLF and LF do, instead of being a
    # character inside a field that the csv module refuses. Only the delimiter is taken from
    # the sniffed dialect: its guesses on quoting would read the same cells differently.
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter(text))


def parse(text: str) -> Parsed:
    """Read and validate the whole file; CPU only (run it in a thread)."""
    return deque(read(text), maxlen=1)[0]  # the last piece: the whole file


def read(text: str, piece: int = 500) -> Iterator[Parsed]:
    """`parse` a piece at a time, for a writer that starts on the first rows while the rest is
    read: yields the same `Parsed`, grown by up to `piece` lines, until the file ends (its
    `total` is final only then). CPU only (run it in a thread). Raises InvalidInput for an
    unusable header before the first piece, and for a file without rows at its end."""
    reader = _reader(text)
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput("The CSV file is empty.", field="file") from None
    except csv.Error as exc:
        raise InvalidInput(f"The CSV header cannot be read: {exc}.", field="file") from None
    columns = header_map(header)
    parsed = Parsed(columns=list(columns.values()))
    first_seen: dict[str, int] = {}
    lines = 0
    while True:
        lines += 1
        if lines % piece == 0:
            yield parsed
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            parsed.total += 1
            parsed.errors.append(RowError(reader.line_num, None, f"unreadable CSV: {exc}"))
            continue
        _add_row(parsed, cells, len(header), columns, reader.line_num, first_seen)
    if parsed.total == 0:
        raise InvalidInput("The CSV file has a header but no rows.", field="file")
    yield parsed


def _add_row(
    parsed: Parsed,
    cells: list[str],
    width: int,
    columns: dict[int, str],
    line: int,
    first_seen: dict[str, int],
) -> None:
    if not any(c.strip() for c in cells):
        return  # blank lines are not rows
    parsed.total += 1
    if len(cells) > width:
        parsed.errors.append(RowError(line, None, f"{len(cells)} cells but the header has {width}"))
        return
    raw = {
        name: from_spreadsheet(cells[i].strip()) if i < len(cells) else ""
        for i, name in columns.items()
    }
    row_errors, values = _row(raw, line)
    if not row_errors:
        number = values["employee_number"]
        if number in first_seen:
            row_errors.append(
                RowError(
                    line,
                    "employee_number",
                    f"{number} already appears on row {first_seen[number]}",
                )
            )
        else:
            first_seen[number] = line
    if row_errors:
        parsed.errors.extend(row_errors)
    else:
        parsed.rows.append((line, values))


def _row(raw: dict[str, str], line: int) -> tuple[list[RowError], dict[str, Any]]:
    errors: list[RowError] = []
    values: dict[str, Any] = {}
    for name, text in raw.items():
        if name == "gender":
            if text:
                gender = GENDERS.get(text.lower())
                if gender is None:
                    errors.append(
                        RowError(
                            line, name, f"{text!r} is not one of female, male, other, undisclosed"
                        )
                    )
                values[name] = gender
            else:
                values[name] = None
        elif name == "start_date":
            try:
                values[name] = _parse_date(text) if text else None
            except ValueError as exc:
                errors.append(RowError(line, name, str(exc)))
        elif name == "active":
            if text and text.lower() not in BOOLEANS:
                errors.append(RowError(line, name, f"{text!r} is not true/false"))
            values[name] = BOOLEANS.get(text.lower(), True)
        elif name == "preferred_language":
            values[name] = text.lower() or "en"
        else:
            values[name] = text or None
    if errors:
        return errors, values
    try:
        _trainee.validate_python(
            {
                "academy_id": "-",
                **{k: v for k, v in values.items() if k != "active" and v is not None},
            }
        )
    except ValidationError as exc:
        for problem in exc.errors():
            column = str(problem["loc"][0]) if problem["loc"] else None
            reason = "required" if problem["type"] == "missing" else problem["msg"]
            errors.append(RowError(line, column, reason))
    return errors, values


def check_text(text: str) -> None:
    """What can be known of a file at once (storable text, a usable header): a file that cannot
    be imported is a 422 when it is submitted, not a failed job later."""
    unstorable = _UNSTORABLE.search(text)
    if unstorable:
        # No database keeps these in text; a file full of NULs is usually UTF-16 sent as UTF-8.
        line = text.count("\n", 0, unstorable.start()) + 1
        what = "a NUL character" if unstorable.group() == "\x00" else "an unpaired surrogate"
        raise InvalidInput(
            f"The file contains {what} on line {line}, so it is not a text CSV (is it UTF-16 "
            "or a spreadsheet? Save it as CSV in UTF-8, or name its charset in the "
            "Content-Type).",
            field="file",
        )
    try:
        header = next(_reader(text), None)
    except csv.Error as exc:
        raise InvalidInput(f"The CSV header cannot be read: {exc}.", field="file") from None
    if not header:
        raise InvalidInput("The CSV file is empty.", field="file")
    header_map(header)


def template_csv() -> str:
    """The columns and one example row. With a byte-order mark, Excel reads the names typed
    into it in Cyrillic as UTF-8 (and keeps the mark when it saves)."""
    return "\ufeff" + write_csv([EXAMPLE])


def write_csv(rows: Sequence[Any]) -> str:
    """Text cells that a spreadsheet would run as formulas get a leading `'` (`parse` drops it
    again, so the file still re-imports as it was)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(
            [
                ("true" if v else "false")
                if isinstance(v, bool)
                else v.isoformat()
                if isinstance(v, date)
                else ("" if v is None else spreadsheet_safe(v))
                for v in row
            ]
        )
    return out.getvalue()
