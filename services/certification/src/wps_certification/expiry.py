"""Expiry: the periodic scan that sends `certificate.expiring` reminders before a certificate
lapses and marks it expired (`certificate.expired`) once it has; each notice is sent once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from wps_certification.models import Certificate, CertificateNotice, outbox
from wps_common.events.contracts import CertificateExpired, CertificateExpiring


async def scan_expiry(
    session: AsyncSession, *, today: date, lead_days: Sequence[int], batch: int = 500
) -> int:
    """Send `certificate.expiring` once per lead time and `certificate.expired` once; returns how
    many events were added. A certificate first seen inside several windows (the scanner was
    down, or it was issued late) gets only the nearest one: one reminder, not three at once.
    Renewed certificates (a newer one names them as previous) get no reminders."""
    leads = sorted(lead_days)
    reminded = await _send_reminders(session, today=today, leads=leads) if leads else 0
    return reminded + await _expire_lapsed(session, today=today, batch=batch)


def _reminder_window(today: date, horizon: date) -> tuple[ColumnElement[bool], ...]:
    """Valid certificates expiring between today and `horizon` that no renewal replaces."""
    renewal = aliased(Certificate)
    return (
        Certificate.status == "valid",
        Certificate.expires_on.is_not(None),
        Certificate.expires_on >= today,
        Certificate.expires_on <= horizon,
        ~exists().where(
            renewal.previous_certificate_id == Certificate.id,
            renewal.status.in_(("valid", "expired")),
        ),
    )


async def _send_reminders(session: AsyncSession, *, today: date, leads: list[int]) -> int:
    window = _reminder_window(today, today + timedelta(days=leads[-1]))
    candidates = (
        await session.scalars(
            select(Certificate).where(*window).order_by(Certificate.expires_on, Certificate.id)
        )
    ).all()
    done = await _reminders_sent(session, window)
    sent = 0
    for certificate in candidates:
        assert certificate.expires_on is not None
        remaining = (certificate.expires_on - today).days
        lead = next(days for days in leads if remaining <= days)
        key = f"expiring:{lead}"
        if (certificate.id, key) in done:
            continue
        session.add(CertificateNotice(certificate_id=certificate.id, notice=key))
        await outbox.add(session, _expiring_event(certificate, lead))
        sent += 1
    return sent


async def _reminders_sent(
    session: AsyncSession, window: tuple[ColumnElement[bool], ...]
) -> set[tuple[str, str]]:
    """(certificate id, notice) of the reminders already sent for certificates in `window`."""
    seen = await session.execute(
        select(CertificateNotice.certificate_id, CertificateNotice.notice)
        .join(Certificate, Certificate.id == CertificateNotice.certificate_id)
        .where(*window, CertificateNotice.notice.like("expiring:%"))
    )
    return {(row[0], row[1]) for row in seen}


async def _expire_lapsed(session: AsyncSession, *, today: date, batch: int) -> int:
    """Mark lapsed certificates expired, `batch` at a time, each with its one notice."""
    sent = 0
    while True:
        lapsed = await _lapsed(session, today=today, batch=batch)
        for certificate in lapsed:
            certificate.status = "expired"
            session.add(CertificateNotice(certificate_id=certificate.id, notice="expired"))
            await outbox.add(session, _expired_event(certificate))
            sent += 1
        await session.flush()
        if len(lapsed) < batch:
            return sent


async def _lapsed(session: AsyncSession, *, today: date, batch: int) -> Sequence[Certificate]:
    notice = aliased(CertificateNotice)
    rows = await session.scalars(
        select(Certificate)
        .where(
            Certificate.status == "valid",
            Certificate.expires_on.is_not(None),
            Certificate.expires_on < today,
            ~exists().where(notice.certificate_id == Certificate.id, notice.notice == "expired"),
        )
        .order_by(Certificate.expires_on, Certificate.id)
        .limit(batch)
    )
    return rows.all()


def _expiring_event(certificate: Certificate, lead: int) -> CertificateExpiring:
    assert certificate.expires_on is not None
    return CertificateExpiring(
        certificate_id=certificate.id,
        trainee_id=certificate.trainee_id,
        employee_number=certificate.employee_number,
        academy_id=certificate.academy_id,
        track_code=certificate.track_code,
        expires_on=certificate.expires_on,
        lead_days=lead,
    )


def _expired_event(certificate: Certificate) -> CertificateExpired:
    assert certificate.expires_on is not None
    return CertificateExpired(
        certificate_id=certificate.id,
        trainee_id=certificate.trainee_id,
        employee_number=certificate.employee_number,
        academy_id=certificate.academy_id,
        track_code=certificate.track_code,
        expired_on=certificate.expires_on + timedelta(days=1),
    )
