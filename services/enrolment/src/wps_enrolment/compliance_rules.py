"""The compliance rules as pure functions: whether a requirement applies to a trainee, their
status against it on a given day, and whether a new status is a change to write and announce.
No session, no clock: the caller passes the day (and the facts read for it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from wps_common.validity import add_months
from wps_enrolment.models import CertificateRecord, Requirement


class TraineeFacts(Protocol):
    """What the rules read of a trainee: a `Trainee`, or the same columns read as a row."""

    @property
    def academy_id(self) -> str: ...
    @property
    def active(self) -> bool: ...
    @property
    def agency(self) -> str | None: ...
    @property
    def role(self) -> str | None: ...
    @property
    def rank(self) -> str | None: ...
    @property
    def unit(self) -> str | None: ...
    @property
    def start_date(self) -> date | None: ...
    @property
    def created_at(self) -> datetime: ...


def _listed(values: Any, value: str | None) -> bool:
    if values == "all":
        return True
    if value is None:
        return False
    return value.casefold() in {str(v).casefold() for v in values}


def selector_matches(selector: dict[str, Any], trainee: TraineeFacts, academy_code: str) -> bool:
    academies = selector.get("academies", "all")
    return (
        (_listed(academies, academy_code) or _listed(academies, trainee.academy_id))
        and _listed(selector.get("agencies", "all"), trainee.agency)
        and _listed(selector.get("roles", "all"), trainee.role)
        and _listed(selector.get("ranks", "all"), trainee.rank)
        and _listed(selector.get("units", "all"), trainee.unit)
    )


def applies(requirement: Requirement, trainee: TraineeFacts, academy_code: str) -> bool:
    """An active requirement applies to an active trainee its selector matches."""
    return (
        requirement.active
        and trainee.active
        and selector_matches(requirement.selector, trainee, academy_code)
    )


@dataclass(frozen=True)
class Verdict:
    status: str
    due_on: date | None
    certificate_id: str | None


def valid_until(requirement: Requirement, certificate: CertificateRecord) -> date | None:
    """A certificate counts until it expires or the requirement's renewal period ends."""
    until = certificate.expires_on
    if requirement.renewal_months:
        renew = add_months(certificate.issued_on, requirement.renewal_months)
        until = min(until, renew) if until else renew
    return until


def verdict(
    requirement: Requirement,
    trainee: TraineeFacts,
    certificates: Sequence[CertificateRecord],
    exempt: bool,
    today: date,
) -> Verdict:
    if exempt:
        return Verdict("exempt", None, None)
    held = [c for c in certificates if c.track_code == requirement.track_code]
    current = [
        (valid_until(requirement, c), c)
        for c in held
        if c.status == "valid" and (valid_until(requirement, c) or date.max) > today
    ]
    if current:
        until, best = max(current, key=lambda pair: pair[0] or date.max)
        window = max(requirement.reminder_days, default=0)
        if until is not None and (until - today).days <= window:
            return Verdict("due", until, best.certificate_id)
        return Verdict("compliant", until, best.certificate_id)
    lapsed = [
        valid_until(requirement, c) or c.status_on or today
        for c in held
        if c.status == "expired" or c.status == "valid"
    ]
    if lapsed:
        return Verdict("expired", max(lapsed), None)
    # Never certified (or only revoked): the grace period runs from the later of the start
    # date and the day the requirement appeared.
    start = max(trainee.start_date or trainee.created_at.date(), requirement.created_on)
    deadline = start + timedelta(days=requirement.grace_period_days)
    return Verdict("due" if today <= deadline else "overdue", deadline, None)


@dataclass(frozen=True)
class Change:
    """What a new verdict does to the stored one: write it, and announce a new status."""

    write: bool
    announce: bool


def change(stored: Verdict | None, found: Verdict) -> Change:
    """A first verdict is written and announced; after that, only a different status is
    announced (so a reminder window opens once), and a new due date or certificate under the
    same status is written quietly."""
    if stored is None:
        return Change(write=True, announce=True)
    return Change(write=stored != found, announce=stored.status != found.status)
