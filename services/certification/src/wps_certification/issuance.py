"""Issuance: a certificate for a completed track, or for a module that grants its own; its
number, and the `certificate.issued` event. A batch of completions is issued set-wise: one
query each for what exists, the holders and the previous certificates, one statement per batch
for the numbers, and one insert each for the certificates and their events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from wps_certification import counters, signatures, status_list
from wps_certification.codes import new_verification_code
from wps_certification.holders import holder_snapshot
from wps_certification.models import TRACK_AWARD, Certificate, CertificateCounter, Holder, outbox
from wps_certification.pdf import TEMPLATE_VERSION
from wps_common.db import new_id, utcnow
from wps_common.events.consumer import TransientError
from wps_common.events.contracts import (
    CertificateIssued,
    ModuleCompleted,
    TrackCompleted,
    TrackFacts,
)
from wps_common.validity import add_months


@dataclass(frozen=True)
class Award:
    """What a completion earns: a certificate for an enrolment's track or one of its modules."""

    enrolment_id: str
    trainee_id: str
    academy_id: str
    awarded_for: str
    track: TrackFacts
    completed_on: date


async def issue_certificate(session: AsyncSession, completed: TrackCompleted) -> Certificate | None:
    """Issue the enrolment's track certificate; None when it exists already (a redelivery)."""
    [certificate_id] = await issue_many(session, [completed])
    return await session.get(Certificate, certificate_id) if certificate_id else None


async def issue_many(
    session: AsyncSession, completions: Sequence[TrackCompleted]
) -> list[str | None]:
    """`issue_certificate` for each completion, in order, as if one after the other: the same
    rows, numbers and events. The new certificates' ids; None where the certificate exists
    already (issued before, or earlier in the batch). A holder not known yet raises
    TransientError before anything is written, so that the caller retries the completions one
    at a time."""
    return await issue_awards(session, [track_award(completed) for completed in completions])


def track_award(completed: TrackCompleted) -> Award:
    return Award(
        enrolment_id=completed.enrolment_id,
        trainee_id=completed.trainee_id,
        academy_id=completed.academy_id,
        awarded_for=TRACK_AWARD,
        track=completed.track,
        completed_on=completed.completed_on,
    )


async def issue_module_certificate(
    session: AsyncSession, completed: ModuleCompleted
) -> Certificate | None:
    """A module that grants its own certificate: one per enrolment and module; None otherwise."""
    module = completed.module
    if module is None or not module.grants_certificate:
        return None
    # Printed and signed like a one-module track, so the PDF and credential need no variant.
    as_track = TrackFacts(
        code=module.code,
        version=module.version,
        content_hash=module.content_hash,
        title=module.title,
        certificate_title=module.title,
        validity_months=None,
        modules=[module],
    )
    award = Award(
        enrolment_id=completed.enrolment_id,
        trainee_id=completed.trainee_id,
        academy_id=completed.academy_id,
        awarded_for=f"module:{module.code}",
        track=as_track,
        completed_on=completed.completed_on,
    )
    [certificate_id] = await issue_awards(session, [award])
    return await session.get(Certificate, certificate_id) if certificate_id else None


async def issue_awards(session: AsyncSession, awards: Sequence[Award]) -> list[str | None]:
    """Issue `awards` in order (see `issue_many`); the new certificates' ids.

    Rows, not ORM objects: a batch is built and inserted as plain values, one statement."""
    if not awards:
        return []
    await _plan_for_these_values(session)
    new = _not_issued(awards, await _issued_before(session, awards))
    if not new:
        return [None] * len(awards)
    holders = await _known_holders(session, new)
    latest = await _latest_certificates(session, new)
    numbers = await _numbers(
        session, [(holders[award.trainee_id], award.completed_on.year) for award in new]
    )
    entries = await status_list.allocate(session, [award.academy_id for award in new])
    signed_by = await signatures.current_set_ids(session, {award.academy_id for award in new})
    by_award: dict[tuple[str, str], dict[str, Any]] = {}
    for award, number, entry in zip(new, numbers, entries, strict=True):
        certificate = _certificate_row(
            award, holders[award.trainee_id], number, _previous(latest, award)
        )
        certificate["status_index"] = entry
        certificate["signature_set_id"] = signed_by.get(award.academy_id)
        _remember(latest, award, certificate["id"])
        by_award[(award.enrolment_id, award.awarded_for)] = certificate
    certificates = list(by_award.values())
    await session.execute(insert(Certificate), certificates)
    await outbox.add_many(session, [_issued_event(row) for row in certificates])
    # Each award's certificate at its first occurrence; a repeat of it gets None.
    results: list[str | None] = []
    for award in awards:
        row = by_award.pop((award.enrolment_id, award.awarded_for), None)
        results.append(row["id"] if row else None)
    return results


async def _plan_for_these_values(session: AsyncSession) -> None:
    """PostgreSQL: plan this transaction's statements for the values they are given.

    A pooled connection keeps its prepared statements, and after a few runs PostgreSQL reuses a
    generic plan made for any values, until the table's statistics change. Made while the table
    was nearly empty (a new database's first completions, before autovacuum's ANALYZE), that
    plan reads every certificate for each batch and compares each with the batch's ids one by
    one; planned for the values, the ids are looked up in a hash and the plan follows the
    table's size. 10,000 completions, 100 a batch: 27 ms a lookup of what exists, 2 ms so."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def _not_issued(awards: Sequence[Award], issued: set[tuple[str, str]]) -> list[Award]:
    """The awards to issue, in order: not issued before, nor earlier in the batch."""
    new: list[Award] = []
    for award in awards:
        key = (award.enrolment_id, award.awarded_for)
        if key not in issued:
            issued.add(key)  # the same award again later in the batch is a redelivery
            new.append(award)
    return new


async def _known_holders(session: AsyncSession, awards: Sequence[Award]) -> dict[str, Holder]:
    """The awards' holders by trainee; TransientError when one is not known yet."""
    trainee_ids = {award.trainee_id for award in awards}
    holders = await _holders(session, trainee_ids)
    unknown = sorted(trainee_ids - holders.keys())
    if unknown:
        # The profile travels on the restricted stream and may arrive a moment later.
        raise TransientError(f"holder {', '.join(unknown)} not known yet")
    return holders


def _lineage(award: Award) -> tuple[str, str, str]:
    return (award.trainee_id, award.awarded_for, award.track.code)


def _previous(latest: dict[tuple[str, str, str], list[_Issued]], award: Award) -> _Issued | None:
    """Passing the same track again is a recertification: the new certificate names the last
    one (its latest certificate from another enrolment that is not superseded)."""
    return next(
        (c for c in latest.get(_lineage(award), []) if c.enrolment_id != award.enrolment_id),
        None,
    )


def _remember(
    latest: dict[tuple[str, str, str], list[_Issued]], award: Award, certificate_id: str
) -> None:
    """Count a certificate of the batch among its lineage's, for the awards after it."""
    # Latest first, as the query orders them: by date, then the newest (this one) first.
    known = latest.setdefault(_lineage(award), [])
    at = next((i for i, c in enumerate(known) if c.issued_on <= award.completed_on), len(known))
    known.insert(
        at,
        _Issued(id=certificate_id, enrolment_id=award.enrolment_id, issued_on=award.completed_on),
    )


def _certificate_row(
    award: Award, holder: Holder, number: str, previous: _Issued | None
) -> dict[str, Any]:
    """The first edition of `award`'s certificate, as the values of its row."""
    track = award.track
    facts = track.model_dump(mode="json")
    return dict(
        id=new_id(),
        enrolment_id=award.enrolment_id,
        awarded_for=award.awarded_for,
        edition=1,
        number=number,
        verification_code=new_verification_code(),
        trainee_id=award.trainee_id,
        academy_id=award.academy_id,
        track_code=track.code,
        track_version=track.version,
        track=facts,
        template_version=TEMPLATE_VERSION,
        issued_on=award.completed_on,
        expires_on=(
            add_months(award.completed_on, track.validity_months) if track.validity_months else None
        ),
        status="valid",
        previous_certificate_id=previous.id if previous else None,
        supersedes_id=None,
        created_at=utcnow(),
        **holder_snapshot(holder, facts),
    )


async def _issued_before(session: AsyncSession, awards: Sequence[Award]) -> set[tuple[str, str]]:
    rows = await session.execute(
        select(Certificate.enrolment_id, Certificate.awarded_for).where(
            Certificate.enrolment_id.in_({award.enrolment_id for award in awards})
        )
    )
    return {(enrolment_id, awarded_for) for enrolment_id, awarded_for in rows}


async def _holders(session: AsyncSession, trainee_ids: set[str]) -> dict[str, Holder]:
    found = await session.scalars(select(Holder).where(Holder.trainee_id.in_(trainee_ids)))
    return {holder.trainee_id: holder for holder in found}


@dataclass(frozen=True)
class _Issued:
    id: str
    enrolment_id: str
    issued_on: date


async def _latest_certificates(
    session: AsyncSession, awards: Sequence[Award]
) -> dict[tuple[str, str, str], list[_Issued]]:
    """The holders' certificates that are not superseded, per (trainee, award, track), latest
    first: what a recertification names as its previous certificate."""
    lineage = (Certificate.trainee_id, Certificate.awarded_for, Certificate.track_code)
    ranked = (
        select(
            Certificate.id,
            Certificate.enrolment_id,
            Certificate.issued_on,
            *lineage,
            func.row_number()
            .over(
                partition_by=lineage,
                order_by=(Certificate.issued_on.desc(), Certificate.created_at.desc()),
            )
            .label("rank"),
        )
        .where(
            Certificate.trainee_id.in_({award.trainee_id for award in awards}),
            Certificate.awarded_for.in_({award.awarded_for for award in awards}),
            Certificate.status != "superseded",
        )
        .subquery()
    )
    # The latest of each lineage only: its earlier ones are never named again.
    rows = await session.execute(
        select(
            ranked.c.id,
            ranked.c.enrolment_id,
            ranked.c.issued_on,
            ranked.c.trainee_id,
            ranked.c.awarded_for,
            ranked.c.track_code,
        ).where(ranked.c.rank == 1)
    )
    latest: dict[tuple[str, str, str], list[_Issued]] = {}
    for certificate_id, enrolment_id, issued_on, trainee_id, awarded_for, track_code in rows:
        latest.setdefault((trainee_id, awarded_for, track_code), []).append(
            _Issued(id=certificate_id, enrolment_id=enrolment_id, issued_on=issued_on)
        )
    return latest


async def next_number(session: AsyncSession, holder: Holder, year: int) -> str:
    """The academy's next certificate number of `year` (the counter row is locked until the
    caller's transaction ends)."""
    [number] = await _numbers(session, [(holder, year)])
    return number


async def _numbers(session: AsyncSession, wanted: Sequence[tuple[Holder, int]]) -> list[str]:
    """The next numbers for `wanted` (holder, year) pairs, in order, taken in one statement:
    gap-free and unique across replicas (`counters.advance`)."""
    needed: dict[tuple[str, int], int] = {}
    for holder, year in wanted:
        needed[(holder.academy_id, year)] = needed.get((holder.academy_id, year), 0) + 1
    last = await counters.advance(
        session, CertificateCounter, ("academy_id", "year"), "last_value", needed
    )
    # The first number each key hands out in this batch; then counted up in order.
    following = {key: last[key] - count + 1 for key, count in needed.items()}
    numbers: list[str] = []
    for holder, year in wanted:
        key = (holder.academy_id, year)
        numbers.append(f"{holder.academy_code}-{year}-{following[key]:06d}")
        following[key] += 1
    return numbers


def _issued_event(row: dict[str, Any]) -> CertificateIssued:
    """`issued_event` of a first edition inserted as plain values."""
    return CertificateIssued(
        certificate_id=row["id"],
        number=row["number"],
        enrolment_id=row["enrolment_id"],
        trainee_id=row["trainee_id"],
        employee_number=row["employee_number"],
        academy_id=row["academy_id"],
        track_code=row["track_code"],
        track_version=row["track_version"],
        issued_on=row["issued_on"],
        expires_on=row["expires_on"],
        supersedes=None,
        award="track" if row["awarded_for"] == TRACK_AWARD else "module",
        previous_certificate_id=row["previous_certificate_id"],
    )


def issued_event(certificate: Certificate) -> CertificateIssued:
    return CertificateIssued(
        certificate_id=certificate.id,
        number=certificate.number,
        enrolment_id=certificate.enrolment_id,
        trainee_id=certificate.trainee_id,
        employee_number=certificate.employee_number,
        academy_id=certificate.academy_id,
        track_code=certificate.track_code,
        track_version=certificate.track_version,
        issued_on=certificate.issued_on,
        expires_on=certificate.expires_on,
        supersedes=certificate.supersedes_id,
        award="module" if certificate.module_code else "track",
        previous_certificate_id=certificate.previous_certificate_id,
    )
