"""Compliance: each active trainee's status against every requirement whose selector matches
them, recomputed from the requirement and certificate read models; transitions are events."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.db import Database
from wps_common.events.contracts import ComplianceChanged
from wps_common.tenancy import in_academy
from wps_enrolment.compliance_rules import (
    Verdict,
    applies,
    change,
    selector_matches,
    valid_until,
    verdict,
)
from wps_enrolment.models import (
    Academy,
    CertificateRecord,
    ComplianceChange,
    ComplianceRecord,
    Exemption,
    PersonalDueDate,
    Recognition,
    Requirement,
    Trainee,
    outbox,
)

# The rules live in compliance_rules; these names stay importable from here.
__all__ = [
    "Counts",
    "Verdict",
    "evaluate",
    "local_date",
    "selector_matches",
    "sweep",
    "valid_until",
    "verdict",
]

CHUNK = 1000

NOT_APPLICABLE = "not_applicable"
"""The status announced when a requirement stops applying to a trainee (ADR 0030)."""

# Transitions counted rather than announced one by one: {requirement: {status: count}}.
Counts = dict[str, dict[str, int]]


def local_date(time_zone: str, now: datetime) -> date:
    """The academy's date at `now`: compliance days begin at the academy's own midnight
    (a zone name this machine does not know counts as UTC)."""
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return now.date()
    return now.astimezone(zone).date()


async def academy_today(session: AsyncSession, academy_id: str, now: datetime) -> date:
    """The academy's date at `now` (UTC's for an academy not found)."""
    time_zone = await session.scalar(select(Academy.time_zone).where(Academy.id == academy_id))
    return local_date(time_zone or "UTC", now)


class _Trainee(NamedTuple):
    """The trainee columns the rules and the events read, as a plain row: an academy's
    re-evaluation reads every trainee, and ORM objects would cost more than the rules."""

    id: str
    academy_id: str
    employee_number: str
    active: bool
    agency: str | None
    role: str | None
    rank: str | None
    unit: str | None
    start_date: date | None
    created_at: datetime


class _Stored(NamedTuple):
    """A stored status, as a plain row."""

    id: int
    trainee_id: str
    requirement_code: str
    status: str
    due_on: date | None
    certificate_id: str | None
    recognition_id: str | None
    since: datetime


_TRAINEE_COLUMNS = [getattr(Trainee, name) for name in _Trainee._fields]
_STORED_COLUMNS = [getattr(ComplianceRecord, name) for name in _Stored._fields]


async def evaluate(
    session: AsyncSession,
    *,
    now: datetime,
    trainee_ids: Sequence[str] | None = None,
    academy_id: str | None = None,
    requirement_codes: Sequence[str] | None = None,
    counts: Counts | None = None,
) -> int:
    """Recompute the given trainees (or an academy's, or everyone's) against the given
    requirements (or all), each on their academy's date at `now`; write what changed and emit
    compliance.changed per transition, or, given `counts`, count the transitions there instead
    (a bulk import announces one summary). Returns the number of transitions."""
    requirements = list(
        (
            await session.scalars(
                select(Requirement)
                if requirement_codes is None
                else select(Requirement).where(Requirement.code.in_(list(requirement_codes)))
            )
        ).all()
    )
    stmt = select(*_TRAINEE_COLUMNS).order_by(Trainee.id)
    if trainee_ids is not None:
        stmt = stmt.where(Trainee.id.in_(list(trainee_ids)))
    if academy_id is not None:
        stmt = in_academy(stmt, Trainee.academy_id, academy_id)
    academies = _Academies()
    for id_, code, time_zone in await session.execute(
        select(Academy.id, Academy.code, Academy.time_zone)
    ):
        academies.codes[id_], academies.days[id_] = code, local_date(time_zone, now)
    transitions = 0
    last_id = ""
    while True:
        chunk = [
            _Trainee._make(row)
            for row in await session.execute(stmt.where(Trainee.id > last_id).limit(CHUNK))
        ]
        if not chunk:
            return transitions
        transitions += await _evaluate_chunk(session, chunk, requirements, academies, now, counts)
        last_id = chunk[-1].id


@dataclass
class _Academies:
    """Each academy's code (selectors name it) and its date at the evaluation's moment."""

    codes: dict[str, str] = field(default_factory=dict)
    days: dict[str, date] = field(default_factory=dict)


@dataclass
class _Known:
    """What a chunk's verdicts are computed from, and the rows they replace."""

    certificates: dict[str, list[CertificateRecord]]
    recognitions: dict[str, list[Recognition]]
    exemptions: set[tuple[str, str]]
    existing: dict[tuple[str, str], _Stored]
    due_dates: dict[tuple[str, str], date]


async def _known(session: AsyncSession, ids: list[str], requirements: list[Requirement]) -> _Known:
    codes = [r.code for r in requirements]
    tracks = {r.track_code for r in requirements} | {
        r.refresher_track_code for r in requirements if r.refresher_track_code
    }
    certificates: dict[str, list[CertificateRecord]] = defaultdict(list)
    for certificate in (
        await session.scalars(
            select(CertificateRecord).where(
                CertificateRecord.trainee_id.in_(ids),
                CertificateRecord.track_code.in_(tracks),
                CertificateRecord.award == "track",  # a module's own certificate counts not
            )
        )
    ).all():
        certificates[certificate.trainee_id].append(certificate)
    recognitions: dict[str, list[Recognition]] = defaultdict(list)
    for recognition in (
        await session.scalars(
            select(Recognition).where(
                Recognition.trainee_id.in_(ids),
                Recognition.track_code.in_(tracks),
                Recognition.status == "approved",
            )
        )
    ).all():
        recognitions[recognition.trainee_id].append(recognition)
    exemptions = set(
        (
            await session.execute(
                select(Exemption.trainee_id, Exemption.requirement_code).where(
                    Exemption.trainee_id.in_(ids)
                )
            )
        ).all()
    )
    due_dates = {
        (t, c): on
        for t, c, on in await session.execute(
            select(
                PersonalDueDate.trainee_id, PersonalDueDate.requirement_code, PersonalDueDate.due_on
            ).where(PersonalDueDate.trainee_id.in_(ids))
        )
    }
    # By trainee only, the requirements picked here: with the code in the query, PostgreSQL
    # may read every row of that requirement through its index and filter them by trainee,
    # once per chunk (seconds per chunk at 100,000 trainees); by trainee it uses the
    # (trainee_id, requirement_code) index, and a trainee has a few rows at most.
    wanted_codes = set(codes)
    existing = {
        (r.trainee_id, r.requirement_code): r
        for r in map(
            _Stored._make,
            await session.execute(
                select(*_STORED_COLUMNS).where(ComplianceRecord.trainee_id.in_(ids))
            ),
        )
        if r.requirement_code in wanted_codes
    }
    return _Known(certificates, recognitions, {(t, c) for t, c in exemptions}, existing, due_dates)


@dataclass
class _Writes:
    """The statements and events a chunk's new verdicts need."""

    now: datetime
    counts: Counts | None = None
    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    events: list[ComplianceChanged] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        trainee: _Trainee,
        requirement: Requirement,
        row: _Stored | None,
        found: Verdict,
        today: date,
    ) -> None:
        stored = (
            Verdict(row.status, row.due_on, row.certificate_id, row.recognition_id) if row else None
        )
        what = change(stored, found)
        if not what.write:
            return
        values = {
            "status": found.status,
            "due_on": found.due_on,
            "certificate_id": found.certificate_id,
            "recognition_id": found.recognition_id,
            "evaluated_on": today,
        }
        if row is None:
            self.inserts.append(
                {
                    "trainee_id": trainee.id,
                    "academy_id": trainee.academy_id,
                    "requirement_code": requirement.code,
                    "since": self.now,
                    **values,
                }
            )
        else:
            self.updates.append(
                {"id": row.id, **values, "since": self.now if what.announce else row.since}
            )
        if not what.announce:
            return
        self.history.append(
            {
                "trainee_id": trainee.id,
                "academy_id": trainee.academy_id,
                "requirement_code": requirement.code,
                "status": found.status,
                "changed_on": today,
                "changed_at": self.now,
            }
        )
        if self.counts is not None:
            by_status = self.counts.setdefault(requirement.code, {})
            by_status[found.status] = by_status.get(found.status, 0) + 1
        else:
            self.events.append(
                ComplianceChanged(
                    trainee_id=trainee.id,
                    employee_number=trainee.employee_number,
                    academy_id=trainee.academy_id,
                    requirement_code=requirement.code,
                    previous_status=row.status if row else None,
                    status=found.status,
                    due_on=found.due_on,
                    changed_at=self.now,
                )
            )

    def withdraw(self, trainee: _Trainee, row: _Stored, today: date) -> None:
        """The requirement of `row` stopped applying to `trainee`: a history row with a null
        status, and `not_applicable` announced (or counted)."""
        self.history.append(
            {
                "trainee_id": trainee.id,
                "academy_id": trainee.academy_id,
                "requirement_code": row.requirement_code,
                "status": None,
                "changed_on": today,
                "changed_at": self.now,
            }
        )
        if self.counts is not None:
            by_status = self.counts.setdefault(row.requirement_code, {})
            by_status[NOT_APPLICABLE] = by_status.get(NOT_APPLICABLE, 0) + 1
        else:
            self.events.append(
                ComplianceChanged(
                    trainee_id=trainee.id,
                    employee_number=trainee.employee_number,
                    academy_id=trainee.academy_id,
                    requirement_code=row.requirement_code,
                    previous_status=row.status,
                    status=NOT_APPLICABLE,
                    due_on=None,
                    changed_at=self.now,
                )
            )


async def _evaluate_chunk(
    session: AsyncSession,
    trainees: list[_Trainee],
    requirements: list[Requirement],
    academies: _Academies,
    now: datetime,
    counts: Counts | None,
) -> int:
    known = await _known(session, [t.id for t in trainees], requirements)
    writes = _Writes(now=now, counts=counts)
    wanted: set[tuple[str, str]] = set()
    for trainee in trainees:
        today = academies.days.get(trainee.academy_id) or now.date()
        for requirement in requirements:
            if not applies(requirement, trainee, academies.codes.get(trainee.academy_id, "")):
                continue
            key = (trainee.id, requirement.code)
            wanted.add(key)
            found = verdict(
                requirement,
                trainee,
                known.certificates.get(trainee.id, []),
                key in known.exemptions,
                today,
                known.recognitions.get(trainee.id, []),
                known.due_dates.get(key),
            )
            writes.add(trainee, requirement, known.existing.get(key), found, today)
    # Rows that no longer apply (deactivated trainee, role, rank, unit, selector or
    # requirement changed) go, and that is a change HR hears of like any other: status
    # `not_applicable` (ADR 0030), announced or counted, and kept in the history (a null
    # status) that `changed_since` lists it from.
    stale = [row for key, row in known.existing.items() if key not in wanted]
    if stale:
        await session.execute(
            delete(ComplianceRecord).where(ComplianceRecord.id.in_([r.id for r in stale]))
        )
        of = {t.id: t for t in trainees}
        for row in stale:
            writes.withdraw(
                of[row.trainee_id],
                row,
                academies.days.get(of[row.trainee_id].academy_id) or now.date(),
            )
    if writes.inserts:
        await session.execute(insert(ComplianceRecord), writes.inserts)
    if writes.updates:
        await session.execute(update(ComplianceRecord), writes.updates)
    if writes.history:
        await session.execute(insert(ComplianceChange), writes.history)
    await outbox.add_many(session, writes.events)
    return len(writes.history)


async def sweep(db: Database, now: datetime) -> int:
    """Re-evaluate every academy whose own date has moved on since its last sweep, a chunk of
    trainees per transaction; the academy is marked swept on its date once all its chunks are
    done (a sweep that stops half-way takes the academy up again on its next run). Run hourly,
    it catches each academy's midnight within the hour."""
    async with db.reading() as session:
        academies = (
            await session.execute(
                select(Academy.id, Academy.time_zone, Academy.compliance_swept_on).order_by(
                    Academy.id
                )
            )
        ).all()
    transitions = 0
    for academy_id, time_zone, swept_on in academies:
        day = local_date(time_zone, now)
        if swept_on is not None and swept_on >= day:
            continue
        transitions += await _sweep_academy(db, academy_id, now)
        async with db.session() as session:
            await session.execute(
                update(Academy).where(Academy.id == academy_id).values(compliance_swept_on=day)
            )
    return transitions


async def _sweep_academy(db: Database, academy_id: str, now: datetime) -> int:
    transitions = 0
    last_id = ""
    while True:
        async with db.session() as session:
            ids = list(
                (
                    await session.scalars(
                        select(Trainee.id)
                        .where(Trainee.academy_id == academy_id, Trainee.id > last_id)
                        .order_by(Trainee.id)
                        .limit(CHUNK)
                    )
                ).all()
            )
            if not ids:
                return transitions
            transitions += await evaluate(session, now=now, trainee_ids=ids)
        last_id = ids[-1]
