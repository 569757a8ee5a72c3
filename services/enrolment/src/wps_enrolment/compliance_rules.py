"""The compliance rules as pure functions: whether a requirement applies to a trainee, their
status against it on a given day, and whether a new status is a change to write and announce.
No session, no clock: the caller passes the day (and the facts read for it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol

from wps_common.validity import add_months
from wps_enrolment.models import CertificateRecord, Recognition, Requirement


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
    """A status, the day it turns (due date, deadline, or the day it lapsed), and what it rests
    on: a platform certificate, or training done elsewhere and recognised (never both)."""

    status: str
    due_on: date | None
    certificate_id: str | None
    recognition_id: str | None = None

    @property
    def basis(self) -> Literal["certificate", "recognised"] | None:
        if self.certificate_id is not None:
            return "certificate"
        return "recognised" if self.recognition_id is not None else None


def valid_until(requirement: Requirement, certificate: CertificateRecord) -> date | None:
    """A certificate counts until it expires or the requirement's renewal period ends."""
    until = certificate.expires_on
    if requirement.renewal_months:
        renew = add_months(certificate.issued_on, requirement.renewal_months)
        until = min(until, renew) if until else renew
    return until


def recognised_until(requirement: Requirement, recognition: Recognition) -> date | None:
    """Recognised training counts until the date its record gives, else for the requirement's
    renewal period from its completion (no end when the requirement has none)."""
    if recognition.valid_until is not None:
        return recognition.valid_until
    if requirement.renewal_months:
        return add_months(recognition.completed_on, requirement.renewal_months)
    return None


@dataclass(frozen=True)
class _Held:
    """A certificate or an approved recognition, as the rules weigh it."""

    track_code: str
    on: date
    until: date | None
    lapsed_on: date | None  # set when certification declared the certificate expired
    certificate_id: str | None = None
    recognition_id: str | None = None


def _holdings(
    requirement: Requirement,
    certificates: Sequence[CertificateRecord],
    recognitions: Sequence[Recognition],
) -> list[_Held]:
    """What counts towards the requirement: certificates of its track and its approved
    recognitions, and refresher certificates (or recognitions of the refresher) taken by
    someone who already held the requirement: a refresher alone renews nothing."""
    tracks = {requirement.track_code, requirement.refresher_track_code} - {None}
    held = [
        _Held(
            c.track_code,
            c.issued_on,
            valid_until(requirement, c),
            None if c.status == "valid" else (c.status_on or c.expires_on or c.issued_on),
            certificate_id=c.certificate_id,
        )
        for c in certificates
        if c.track_code in tracks and c.status != "revoked"
    ] + [
        _Held(
            r.track_code,
            r.completed_on,
            recognised_until(requirement, r),
            None,
            recognition_id=r.id,
        )
        for r in recognitions
        if r.track_code in tracks and r.status == "approved"
    ]
    firsts = [h.on for h in held if h.track_code == requirement.track_code]
    if not firsts:
        return []
    # Any refresher after the first full completion qualifies: each earlier refresher was
    # itself after that completion, so the chain of renewals needs no walk.
    first = min(firsts)
    return [h for h in held if h.track_code == requirement.track_code or h.on > first]


def verdict(
    requirement: Requirement,
    trainee: TraineeFacts,
    certificates: Sequence[CertificateRecord],
    exempt: bool,
    today: date,
    recognitions: Sequence[Recognition] = (),
    due_date: date | None = None,
) -> Verdict:
    """`due_date` is the trainee's personal deadline, if an academy admin gave one: it replaces
    the grace period of someone never certified, and someone whose certification lapsed is
    `due` until that day rather than `expired`. A current certificate still rules."""
    if exempt:
        return Verdict("exempt", None, None)
    held = _holdings(requirement, certificates, recognitions)
    current = [h for h in held if h.lapsed_on is None and (h.until or date.max) > today]
    if current:
        best = max(current, key=lambda h: (h.until or date.max, h.on))
        window = max(requirement.reminder_days, default=0)
        status = "compliant"
        if best.until is not None and (best.until - today).days <= window:
            status = "due"
        return Verdict(status, best.until, best.certificate_id, best.recognition_id)
    if held and due_date is not None and today <= due_date:
        return Verdict("due", due_date, None)
    if held:
        # What lapsed last says what the status rested on: recognised training that ran out
        # stays recognised (its basis and id), so the trainee is not told of a certificate.
        last = max(held, key=lambda h: (h.until or h.lapsed_on or today, h.on))
        return Verdict("expired", last.until or last.lapsed_on or today, None, last.recognition_id)
    # Never certified (or only revoked): the grace period runs from the later of the start
    # date and the day the requirement appeared.
    start = max(trainee.start_date or trainee.created_at.date(), requirement.created_on)
    deadline = due_date or start + timedelta(days=requirement.grace_period_days)
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
