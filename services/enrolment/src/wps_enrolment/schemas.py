"""Request and response bodies of the enrolment API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    computed_field,
    field_validator,
    model_validator,
)

from wps_common.fields import (
    Day,
    Id,
    MultiLine,
    Name,
    SingleLine,
    Text,
    no_bidi_controls,
    single_line,
)

Language = Annotated[str, Field(pattern=r"^[a-z]{2,3}$", examples=["en", "ru"])]
# Printed on certificates next to the name: the same rules as a name.
EmployeeNumber = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[^\s].*$"),
    AfterValidator(single_line),
    AfterValidator(no_bidi_controls),
]
Detail = Annotated[str, SingleLine(100)]  # rank, role
Place = Annotated[str, SingleLine(200)]  # unit, agency, location
Note = Annotated[str, MultiLine(2000)]
ModuleCode = Annotated[str, SingleLine(20, min_length=1)]  # a track's or a module's code
Gender = Literal["female", "male", "other", "undisclosed"]
ComplianceStatus = Literal["compliant", "due", "overdue", "expired", "exempt"]
# What a list of changes may also say: the requirement stopped applying to the trainee.
ListedStatus = Literal["compliant", "due", "overdue", "expired", "exempt", "not_applicable"]
WithdrawalReason = Literal["trainee_request", "operational", "medical", "disciplinary", "other"]
EnrolmentStatus = Literal["enrolled", "waitlisted", "completed", "failed", "withdrawn"]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"'{value}' is not a time zone name such as 'Asia/Almaty' or 'Europe/Chisinau'"
        ) from None
    return value


TimeZone = Annotated[str, Field(max_length=64), AfterValidator(_known_zone)]


# Country codes people write for a language (Kazakhstan's "kz" for Kazakh "kk").
_LANGUAGE_OF_COUNTRY = {
    "kz": "kk", "ua": "uk", "by": "be", "kg": "ky", "tj": "tg", "am": "hy", "ge": "ka",
    "cn": "zh", "jp": "ja", "gr": "el", "se": "sv", "dk": "da", "cz": "cs", "rs": "sr",
}  # fmt: skip
_NOT_LANGUAGES = {"und", "mul", "mis", "zxx"}  # ISO 639-2's "undetermined", "multiple", …


def _known_language(value: str) -> str:
    """An ISO 639-1 or 639-2 code of a language (CLDR, through Babel, knows them)."""
    known = Locale("en").languages
    if value in known and value not in _NOT_LANGUAGES:
        return value
    meant = _LANGUAGE_OF_COUNTRY.get(value)
    if meant:
        raise ValueError(
            f"'{value}' is not a language code (ISO 639-1 or 639-2): for {known[meant]} use "
            f"'{meant}'"
        )
    raise ValueError(
        f"'{value}' is not a language code (ISO 639-1 or 639-2) such as 'kk' (Kazakh), "
        "'ru' (Russian) or 'en' (English)"
    )


KnownLanguage = Annotated[Language, AfterValidator(_known_language)]


def _language_order(value: list[str]) -> list[str]:
    repeated = sorted({code for code in value if value.count(code) > 1})
    if repeated:
        raise ValueError(f"a language may appear only once in the order: {', '.join(repeated)}")
    return value


def names_outside(names: dict[str, str], languages: list[str]) -> str | None:
    """What is wrong when a localised name is in none of the academy's languages."""
    stray = ", ".join(f"'{code}'" for code in names if code not in languages)
    if not stray:
        return None
    return (
        f"the name in {stray} is not in one of the academy's languages "
        f"({', '.join(languages)}): add the language to `languages` or drop the name"
    )


LanguageOrder = Annotated[
    list[KnownLanguage],
    Field(
        min_length=1,
        max_length=10,
        description="the academy's languages in the order texts fall back through, best first "
        '(e.g. `["kk", "ru", "en"]`: a Kazakh text where there is one, else Russian, '
        "else English); each once. A trainee's own language comes before them.",
        examples=[["kk", "ru", "en"]],
    ),
    AfterValidator(_language_order),
]
AcademyNames = Annotated[
    dict[KnownLanguage, Name],
    Field(
        max_length=10,
        description="the academy's name in each of its languages, as pages and certificates "
        "print it; `name` is shown where none fits",
        examples=[{"kk": "Алматы академиясы", "ru": "Алматинская академия"}],
    ),
]


class AcademyCreate(BaseModel):
    code: str = Field(pattern=r"^[A-Z][A-Z0-9-]{1,19}$", examples=["KZ-AST"])
    name: Name = Field(description="the official name, shown where no localised name fits")
    country: str = Field(pattern=r"^[A-Z]{2}$", examples=["KZ"], description="ISO 3166-1 alpha-2")
    time_zone: TimeZone = Field("UTC", examples=["Asia/Almaty"])
    languages: LanguageOrder = Field(default_factory=lambda: ["en"])
    names: AcademyNames = Field(default_factory=dict)

    @field_validator("names")
    @classmethod
    def _names_in_languages(cls, names: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        # `languages` comes first: when it is itself invalid, its own error is the one told.
        problem = names_outside(names, info.data.get("languages") or [])
        if problem and "languages" in info.data:
            raise ValueError(problem)
        return names


class AcademyUpdate(BaseModel):
    """Only the fields sent change. `names` replaces every localised name (send them all);
    each must be in the academy's languages as they are after the change."""

    name: Name | None = None
    time_zone: TimeZone | None = None
    languages: LanguageOrder | None = None
    names: AcademyNames | None = None


class AcademyOut(AcademyCreate, _Out):
    # As stored: records written before a rule was tightened must still be readable.
    name: str
    time_zone: str
    languages: list[str]
    names: dict[str, str] = Field(default_factory=dict)
    id: str
    created_at: datetime

    @field_validator("names")
    @classmethod
    def _names_in_languages(cls, names: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        return names  # as stored


class TraineeFields(BaseModel):
    given_name: Name
    family_name: Name
    preferred_language: Language = "en"
    gender: Gender | None = Field(
        None, description="self-identified; used only in aggregated, suppressed reports"
    )
    rank: Detail | None = None
    role: Detail | None = None
    unit: Place | None = None
    agency: Place | None = None
    start_date: Day | None = None


class TraineeCreate(TraineeFields):
    academy_id: Id
    employee_number: EmployeeNumber


class TraineeUpdate(BaseModel):
    """Only the fields sent change; send `null` to clear an optional field."""

    model_config = ConfigDict(extra="forbid")

    employee_number: EmployeeNumber | None = None
    given_name: Name | None = None
    family_name: Name | None = None
    preferred_language: Language | None = None
    gender: Gender | None = None
    rank: Detail | None = None
    role: Detail | None = None
    unit: Place | None = None
    agency: Place | None = None
    start_date: Day | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _required_stay_set(self) -> TraineeUpdate:
        for name in ("employee_number", "given_name", "family_name", "preferred_language"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be cleared")
        if "active" in self.model_fields_set and self.active is None:
            raise ValueError("active must be true or false")
        return self


class TraineeOut(TraineeCreate, _Out):
    # As stored: records written before a rule was tightened must still be readable.
    academy_id: str
    employee_number: str
    given_name: str
    family_name: str
    rank: str | None
    role: str | None
    unit: str | None
    agency: str | None
    start_date: date | None
    id: str
    active: bool
    created_at: datetime
    updated_at: datetime


class AuditOut(_Out):
    entity: str
    entity_id: str
    action: str
    actor: str
    actor_name: str | None = Field(None, description="the actor's name as their token gave it")
    changes: dict[str, Any]
    at: datetime


class CohortCreate(BaseModel):
    academy_id: Id
    track_code: ModuleCode | None = None
    module_code: ModuleCode | None = Field(None, description="instead of a track: a single module")
    title: Text
    starts_on: Day
    ends_on: Day
    language: Language = "en"
    location: Place | None = None
    capacity: int = Field(ge=1, le=10_000)
    instructors: list[Annotated[str, SingleLine(100, min_length=1)]] = Field(
        default_factory=list,
        description="user ids (token subjects) of the instructors who may enter results; "
        "empty: any instructor of the academy",
    )
    max_attempts: int | None = Field(
        None, ge=1, le=10, description="attempts per module (default: the service setting)"
    )

    @model_validator(mode="after")
    def _shape(self) -> CohortCreate:
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on must not be before starts_on")
        if (self.track_code is None) == (self.module_code is None):
            raise ValueError("give exactly one of track_code and module_code")
        return self


class CohortOut(_Out):
    id: str
    academy_id: str
    track_code: str | None
    track_version: int | None
    module_code: str | None
    module_version: int | None
    title: str
    starts_on: date
    ends_on: date
    language: str
    location: str | None
    capacity: int
    instructors: list[str]
    max_attempts: int
    created_at: datetime


class CohortDetail(CohortOut):
    seats_taken: int
    seats_free: int
    waitlisted: int


class EnrolmentCreate(BaseModel):
    trainee_id: Id


class BulkEnrolmentCreate(BaseModel):
    trainee_ids: list[Id] = Field(min_length=1, max_length=1000)


class EnrolmentOut(_Out):
    id: str
    cohort_id: str
    trainee_id: str
    academy_id: str
    status: EnrolmentStatus
    enrolled_at: datetime
    requested_at: datetime | None = None
    completed_on: date | None
    failed_on: date | None = None
    withdrawn_at: datetime | None = None
    withdrawal_reason: WithdrawalReason | None = None


class EnrolledCohort(_Out):
    """What a trainee may read of a cohort they are enrolled in (the rest is staff's)."""

    id: str
    title: str
    track_code: str | None
    track_version: int | None
    module_code: str | None
    module_version: int | None
    starts_on: date
    ends_on: date
    language: str
    location: str | None


class TraineeEnrolmentOut(EnrolmentOut):
    cohort: EnrolledCohort | None = Field(
        None, description="the cohort: its title, training, dates and place"
    )


class BulkEnrolled(BaseModel):
    enrolled: list[EnrolmentOut]
    waitlisted: list[EnrolmentOut]


class Withdrawal(BaseModel):
    reason_code: WithdrawalReason
    note: Note | None = Field(None, description="stays behind the API")


class Withdrawn(BaseModel):
    enrolment: EnrolmentOut
    promoted: EnrolmentOut | None = Field(
        None, description="the waitlisted trainee who got the seat"
    )


class ResultCreate(BaseModel):
    module_code: ModuleCode
    attendance_pct: float = Field(ge=0, le=100)
    score: float | None = Field(None, ge=0, le=100)
    corrects: Id | None = Field(
        None,
        description="id of the latest entry this one corrects (keeps its attempt number); "
        "omit for a new attempt (a re-sit)",
    )


class BulkResultEntry(ResultCreate):
    trainee_id: Id


class BulkResultsCreate(BaseModel):
    entries: list[BulkResultEntry] = Field(min_length=1, max_length=2000)


class ResultOut(_Out):
    id: str
    enrolment_id: str
    module_code: str
    module_version: int
    attendance_pct: float
    score: float | None
    passed: bool
    attempt: int
    corrects: str | None
    recorded_by: str
    recorded_at: datetime


class ResultRecorded(BaseModel):
    result: ResultOut
    enrolment: EnrolmentOut


class BulkResultsRecorded(BaseModel):
    results: list[ResultRecorded]


class ImportErrorOut(BaseModel):
    row: int = Field(description="line number in the file (the header is row 1)")
    column: str | None
    reason: str


class ImportJobOut(_Out):
    id: str
    academy_id: str
    mode: Literal["partial", "all_or_nothing"]
    status: Literal["queued", "running", "succeeded", "failed"]
    total_rows: int
    processed_rows: int
    created_count: int
    updated_count: int
    unchanged_count: int
    error_count: int
    errors: list[ImportErrorOut]
    message: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ComplianceOut(_Out):
    trainee_id: str
    academy_id: str
    requirement_code: str
    status: ComplianceStatus
    due_on: date | None
    certificate_id: str | None = Field(description="the platform certificate it rests on")
    recognition_id: str | None = Field(
        None, description="or the recognised training done elsewhere it rests on"
    )
    since: datetime
    evaluated_on: date
    exemption_reason: str | None = None
    personal_due_on: date | None = Field(
        None,
        description="the trainee's own deadline an academy admin set for this requirement: it "
        "replaces the grace period of someone never certified and gives someone whose "
        "certification lapsed until that day (`due` until then); a current certificate still "
        "rules, so `due_on` may differ. Given by a trainee's own compliance "
        "(`/v1/trainees/{id}/compliance`), not by the academy's list",
    )
    due_date_reason: str | None = Field(
        None, description="why the personal due date was set (with `personal_due_on`)"
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def basis(self) -> Literal["certificate", "recognised"] | None:
        """What the status rests on: a platform certificate, recognised training done
        elsewhere, or nothing held."""
        if self.certificate_id is not None:
            return "certificate"
        return "recognised" if self.recognition_id is not None else None


class ComplianceRow(ComplianceOut):
    # With `changed_since`, the list also holds who the requirement stopped applying to.
    status: ListedStatus = Field(  # type: ignore[assignment]
        description="`not_applicable` (only with `changed_since`): the requirement stopped "
        "applying to the trainee then (`since`); they no longer count under it"
    )
    employee_number: str
    family_name: str
    given_name: str
    rank: str | None
    unit: str | None


class ComplianceSummary(BaseModel):
    academy_id: str | None
    total: int
    by_status: dict[str, int]
    by_requirement: dict[str, dict[str, int]]


class ExemptionCreate(BaseModel):
    reason: Annotated[str, MultiLine(2000, min_length=3)]


class DueDateSet(BaseModel):
    due_on: Day = Field(description="the trainee's own deadline: today or later")
    reason: Annotated[str, MultiLine(2000, min_length=3)] = Field(
        examples=["Back from six months' sick leave."]
    )

    @field_validator("reason")
    @classmethod
    def _said(cls, value: str) -> str:
        # Spaces alone pass the length check but say nothing to whoever reads the record.
        if len(value.strip()) < 3:
            raise ValueError("give the reason for the personal due date in a few words")
        return value.strip()


class ReportCell(BaseModel):
    group: str
    count: int | None = Field(description="people meeting the measure (null: suppressed)")
    total: int | None = Field(description="people the rate is of (null: suppressed)")
    rate: float | None
    suppressed: bool


class ReportTableCell(ReportCell):
    across: str = Field(description="the column's group (the cell's row is `group`)")


class Report(BaseModel):
    measure: Literal["participation", "completion", "compliance"]
    by: Literal["gender", "rank", "unit", "track", "academy"]
    across: Literal["gender", "rank", "unit", "academy"] | None = Field(
        None, description="a cross table's second grouping"
    )
    academy_id: str | None
    date_from: date | None
    date_to: date | None
    k: int
    cells: list[ReportCell] = Field(description="per group of `by` (a cross table's row totals)")
    columns: list[ReportCell] | None = Field(
        None, description="a cross table's column totals, per group of `across`"
    )
    table: list[ReportTableCell] | None = Field(
        None, description="a cross table's inner cells, one per `by` × `across` pair with people"
    )
    overall: ReportCell
    history_from: date | None = Field(
        None,
        description="a compliance report over a range: the first day the kept history of "
        "statuses holds (a range ending before it has no numbers)",
    )


class MonthReport(BaseModel):
    month: str = Field(examples=["2026-03"])
    date_from: date
    date_to: date
    history: bool = Field(
        True,
        description="false: the month ended before the kept history began; it has no numbers "
        "(unknown, not zero)",
    )
    cells: list[ReportCell]
    overall: ReportCell


class MonthlyReport(BaseModel):
    measure: Literal["compliance"]
    by: Literal["gender"]
    academy_id: str | None
    date_from: date
    date_to: date
    k: int
    history_from: date | None = Field(
        description="the first day the kept history of statuses holds (earlier months count "
        "only the statuses that have not changed since then)"
    )
    months: list[MonthReport]


class ClearancePerson(BaseModel):
    """Who the answer is about: ids only, no more personal data than an HR system needs."""

    trainee_id: str
    employee_number: str
    academy_id: str
    academy_code: str


class ClearanceProfileRef(BaseModel):
    code: str
    revision: int
    title: dict[str, str] = Field(description="per language, as curriculum gives it")


class ClearanceItemOut(BaseModel):
    kind: Literal["module", "track"]
    code: str
    title: dict[str, str] = Field(description="the module's or track's title per language")
    status: Literal["met", "expires", "missing"] = Field(
        description="met: valid until the day asked for; expires: valid, but it ends "
        "(`expires_on`) before that day; missing: nothing valid covers it"
    )
    expires_on: date | None = Field(
        description="the last day what meets it is valid (null: it does not expire, or missing)"
    )
    basis: Literal["certificate", "recognised"] | None = Field(
        description="what meets it: a certificate of the platform, or recognised training "
        "(as `basis` of compliance)"
    )
    certificate_id: str | None = None
    recognition_id: str | None = None
    via: str | None = Field(
        None,
        description="the code of the track (or module) whose certificate covers the item",
    )
    via_title: dict[str, str] = Field(
        default_factory=dict,
        description="the title per language of the track (or module) named by `via`",
    )
    issued_on: date | None = Field(
        None,
        description="the day the certificate that meets the item was issued (recognised "
        "training: the day it was completed)",
    )


class ClearanceOut(BaseModel):
    cleared: bool = Field(description="every item is met until `until`")
    person: ClearancePerson
    profile: ClearanceProfileRef
    until: date = Field(description="the day everything must still be valid on")
    items: list[ClearanceItemOut]


RecognitionStatus = Literal["pending", "approved", "rejected"]


class RecognitionCreate(BaseModel):
    """The form fields of recorded training done elsewhere (the evidence file travels beside
    them as `evidence`)."""

    model_config = ConfigDict(extra="forbid")

    trainee_id: Id
    track_code: Annotated[
        str,
        Field(
            pattern=r"^[A-Z]{2,6}-[A-Z0-9]{2,8}$",
            max_length=20,
            description="the curriculum track the training counts as",
            examples=["GHR-FOUND"],
        ),
    ]
    issuer: Annotated[str, SingleLine(200, min_length=2)] = Field(
        description="who gave the training, e.g. the OSCE Academy in Bishkek"
    )
    completed_on: Day
    valid_until: Day | None = Field(
        None, description="omitted: the requirement's renewal period from completed_on"
    )
    note: Annotated[str, MultiLine(2000)] | None = None


class RecognitionDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, MultiLine(2000, min_length=3)] = Field(
        description="why the training is not recognised"
    )


class EvidenceOut(BaseModel):
    name: str
    media_type: str
    size: int
    sha256: str


class RecognitionOut(_Out):
    id: str
    academy_id: str
    trainee_id: str
    track_code: str
    issuer: str
    completed_on: date
    valid_until: date | None
    note: str | None
    status: RecognitionStatus
    evidence: EvidenceOut
    recorded_by: str
    recorded_by_name: str | None = Field(
        None, description="the recorder's name as their token gave it (from the audit trail)"
    )
    recorded_at: datetime
    decided_by: str | None
    decided_by_name: str | None = Field(
        None, description="the name of who approved or rejected it, as their token gave it"
    )
    decided_at: datetime | None
    decision_reason: str | None

    @model_validator(mode="before")
    @classmethod
    def _evidence(cls, value: Any) -> Any:
        if isinstance(value, dict) or not hasattr(value, "evidence_sha256"):
            return value
        fields = {
            name: getattr(value, name, None) for name in cls.model_fields if name != "evidence"
        }
        return {
            **fields,
            "evidence": {
                "name": value.evidence_name,
                "media_type": value.evidence_type,
                "size": value.evidence_size,
                "sha256": value.evidence_sha256,
            },
        }
