"""Deployment clearance: whether a person meets a clearance profile (a named set of modules and
tracks, owned by curriculum) until a mission's end date, and the read model of the profiles
built from `clearance_profile.changed`. The rule itself is `clearance_rules`."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import Principal
from wps_common.errors import Conflict, InvalidInput, NotFound
from wps_common.events.contracts import ClearanceProfileChanged
from wps_common.events.envelope import CloudEvent
from wps_common.tenancy import scoped
from wps_common.validity import add_months
from wps_enrolment.clearance_rules import Holding, Item, TrackModules
from wps_enrolment.clearance_rules import clearance as decide
from wps_enrolment.compliance import local_date
from wps_enrolment.models import (
    Academy,
    CertificateRecord,
    ClearanceProfile,
    CurriculumModule,
    CurriculumTrack,
    Recognition,
    Trainee,
)
from wps_enrolment.schemas import (
    ClearanceItemOut,
    ClearanceOut,
    ClearancePerson,
    ClearanceProfileRef,
)


async def on_clearance_profile_changed(
    session: AsyncSession, payload: ClearanceProfileChanged, event: CloudEvent
) -> None:
    """Keep a profile's latest revision (an older one arriving late changes nothing)."""
    profile = await session.get(ClearanceProfile, payload.profile_code)
    if profile is not None and profile.revision >= payload.revision:
        return
    if profile is None:
        profile = ClearanceProfile(code=payload.profile_code)
        session.add(profile)
    profile.revision = payload.revision
    profile.title = dict(payload.title)
    profile.items = [item.model_dump(mode="json") for item in payload.items]
    profile.active = payload.active
    profile.changed_at = payload.changed_at
    await session.flush()


class UnknownProfile(NotFound):
    slug = "clearance/unknown-profile"


class RetiredProfile(NotFound):
    slug = "clearance/retired-profile"


class UnknownAcademy(NotFound):
    slug = "clearance/unknown-academy"


class UnknownPerson(NotFound):
    """No trainee with the number among the academies the caller sees (an academy admin
    asking about another academy's person learns no more than this)."""

    slug = "clearance/unknown-person"


class SeveralAcademies(Conflict):
    slug = "clearance/several-academies"


class PastEndDate(InvalidInput):
    slug = "clearance/past-end-date"


async def answer(
    session: AsyncSession,
    *,
    who: Principal,
    employee_number: str,
    profile_code: str,
    until: date | None,
    academy: str | None,
    now: datetime,
) -> ClearanceOut:
    """The answer for one person and profile; `until` defaults to today in the person's
    academy's time zone."""
    profile = await _active_profile(session, profile_code)
    trainee, home = await _person(session, who, employee_number, academy)
    today = local_date(home.time_zone, now)
    if until is not None and until < today:
        raise PastEndDate(
            f"The mission's end date {until.isoformat()} is in the past (today is "
            f"{today.isoformat()} in the academy's time zone); give the day the mission ends.",
            field="until",
            today=today.isoformat(),
        )
    day = until or today
    items = [Item(kind=item["kind"], code=item["code"]) for item in profile.items]  # type: ignore[arg-type]
    found = await holdings(session, trainee.id)
    cleared, answers = decide(items, found, await _track_modules(session, found), day)
    titles = await _titles(session, items)
    via_titles = await _holding_titles(session, [a.holding for a in answers if a.holding])
    return ClearanceOut(
        cleared=cleared,
        person=ClearancePerson(
            trainee_id=trainee.id,
            employee_number=trainee.employee_number,
            academy_id=home.id,
            academy_code=home.code,
        ),
        profile=ClearanceProfileRef(
            code=profile.code, revision=profile.revision, title=profile.title
        ),
        until=day,
        items=[
            ClearanceItemOut(
                kind=a.item.kind,
                code=a.item.code,
                title=titles.get((a.item.kind, a.item.code), {}),
                status=a.status,
                expires_on=a.until,
                basis=_BASIS[a.holding.source] if a.holding else None,
                certificate_id=(
                    a.holding.id if a.holding and a.holding.source == "certificate" else None
                ),
                recognition_id=(
                    a.holding.id if a.holding and a.holding.source == "recognition" else None
                ),
                via=a.holding.code if a.holding else None,
                via_title=(
                    via_titles.get((a.holding.award, a.holding.code), {}) if a.holding else {}
                ),
                issued_on=a.holding.issued_on if a.holding else None,
            )
            for a in answers
        ],
    )


# What an answer says an item rests on, in the words compliance uses too.
_BASIS: dict[str, Literal["certificate", "recognised"]] = {
    "certificate": "certificate",
    "recognition": "recognised",
}


async def holdings(session: AsyncSession, trainee_id: str) -> list[Holding]:
    """Everything of a trainee's that counts like a certificate: their certificates, and
    approved recognised training (training done elsewhere, ADR 0031) as a holding of its
    track, valid until its own `valid_until`, else for the track's certificate validity from
    the completion date."""
    certificates = await session.scalars(
        select(CertificateRecord).where(CertificateRecord.trainee_id == trainee_id)
    )
    found = [
        Holding(
            source="certificate",
            id=c.certificate_id,
            award="module" if c.award == "module" else "track",
            code=c.track_code,
            version=c.track_version,
            valid=c.status == "valid",
            until=c.expires_on,
            issued_on=c.issued_on,
        )
        for c in certificates
    ]
    recognised = list(
        await session.scalars(
            select(Recognition).where(
                Recognition.trainee_id == trainee_id, Recognition.status == "approved"
            )
        )
    )
    validity = await _validity_months(session, {r.track_code for r in recognised})
    for r in recognised:
        months = validity.get(r.track_code)
        until = r.valid_until or (add_months(r.completed_on, months) if months else None)
        found.append(
            Holding(
                source="recognition",
                id=r.id,
                award="track",
                code=r.track_code,
                version=None,
                valid=True,
                until=until,
                issued_on=r.completed_on,
            )
        )
    return found


async def _validity_months(session: AsyncSession, codes: set[str]) -> dict[str, int]:
    """How long a certificate of each track stays valid, by its newest published version."""
    if not codes:
        return {}
    months: dict[str, int] = {}
    for code, facts in await session.execute(
        select(CurriculumTrack.code, CurriculumTrack.facts)
        .where(CurriculumTrack.code.in_(codes))
        .order_by(CurriculumTrack.version)
    ):
        value = facts.get("validity_months")
        if value:
            months[code] = int(value)
        else:
            months.pop(code, None)
    return months


async def _active_profile(session: AsyncSession, code: str) -> ClearanceProfile:
    profile = await session.get(ClearanceProfile, code)
    if profile is None:
        raise UnknownProfile(f"There is no clearance profile {code}.", profile=code)
    if not profile.active:
        raise RetiredProfile(
            f"Clearance profile {code} was retired; ask with one in use.", profile=code
        )
    return profile


async def _person(
    session: AsyncSession, who: Principal, employee_number: str, academy: str | None
) -> tuple[Trainee, Academy]:
    """The trainee with this employee number among the academies the caller sees (in the
    `academy` named by id or code, when given)."""
    academy_id = None
    if academy is not None:
        named = await session.scalar(
            select(Academy).where(or_(Academy.id == academy, Academy.code == academy))
        )
        if named is None:
            raise UnknownAcademy(f"There is no academy {academy}.", academy=academy)
        academy_id = named.id
    stmt = select(Trainee, Academy).join(Academy, Academy.id == Trainee.academy_id)
    stmt = scoped(stmt, Trainee.academy_id, who, academy_id).where(
        Trainee.employee_number == employee_number
    )
    rows = (await session.execute(stmt.order_by(Academy.code).limit(20))).all()
    if not rows:
        where = f" in academy {academy}" if academy is not None else ""
        raise UnknownPerson(
            f"There is no trainee with employee number {employee_number}{where}.",
            employee_number=employee_number,
        )
    if len(rows) > 1:
        codes = ", ".join(home.code for _, home in rows)
        raise SeveralAcademies(
            f"Employee number {employee_number} is in several academies ({codes}); name one "
            "with academy= (its code or id).",
            academies=[home.code for _, home in rows],
        )
    trainee, home = rows[0]
    return trainee, home


async def _track_modules(session: AsyncSession, found: list[Holding]) -> TrackModules:
    codes = {h.code for h in found if h.award == "track"}
    tracks: dict[str, dict[int, frozenset[str]]] = defaultdict(dict)
    if codes:
        for code, version, facts in await session.execute(
            select(CurriculumTrack.code, CurriculumTrack.version, CurriculumTrack.facts).where(
                CurriculumTrack.code.in_(codes)
            )
        ):
            tracks[code][version] = frozenset(m["code"] for m in facts.get("modules", []))
    return tracks


async def _holding_titles(
    session: AsyncSession, found: list[Holding]
) -> dict[tuple[str, str], dict[str, str]]:
    """The title of the track (or module, for a module's own certificate) each holding is of."""
    return await _titles(session, [Item(kind=h.award, code=h.code) for h in found])


async def _titles(
    session: AsyncSession, items: list[Item]
) -> dict[tuple[str, str], dict[str, str]]:
    """Each item's title from the newest version enrolment knows of it."""
    titles: dict[tuple[str, str], dict[str, str]] = {}
    for kind, table in (("module", CurriculumModule), ("track", CurriculumTrack)):
        codes = [item.code for item in items if item.kind == kind]
        if not codes:
            continue
        for code, facts in await session.execute(
            select(table.code, table.facts).where(table.code.in_(codes)).order_by(table.version)
        ):
            titles[(kind, code)] = dict(facts.get("title", {}))
    return titles
