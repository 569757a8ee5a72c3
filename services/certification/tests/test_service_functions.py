"""Certification's service functions called directly, each test in a transaction rolled back
afterwards: issuance (numbers, redelivery, recertification, module awards), revocation and
correction, verification by code, and the expiry scan's notices — rows and outbox events."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import MetaData, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from wps_certification import certificates, expiry, holders, issuance, revocation, verification
from wps_certification.models import Base, Certificate, CertificateNotice, outbox
from wps_common.auth import Principal, Role
from wps_common.db import Database
from wps_common.errors import Conflict, NotFound
from wps_common.events.consumer import TransientError
from wps_common.events.contracts import (
    CertificateExpired,
    CertificateExpiring,
    CertificateIssued,
    CertificateRevoked,
    ModuleCompleted,
)
from wps_common.testing import outbox_events
from wps_common.testing.support import create_tables

from .conftest import ACADEMY_ID, TRACK, completion, profile

ADMIN = Principal(subject="admin-1", roles=frozenset({Role.ACADEMY_ADMIN}), academy_id=ACADEMY_ID)
OTHER_ACADEMY = Principal(
    subject="admin-2", roles=frozenset({Role.ACADEMY_ADMIN}), academy_id="academy-2"
)
COMPLETED_ON = date(2026, 11, 20)


@pytest.fixture
def service_metadata() -> MetaData:
    return Base.metadata


async def with_holder(session: AsyncSession, trainee_id: str = "trainee-1", **changes: Any) -> None:
    await holders.remember_holder(session, profile(trainee_id, **changes))
    await session.flush()


async def issued(session: AsyncSession, trainee_id: str = "trainee-1", **kw: Any) -> Certificate:
    certificate = await issuance.issue_certificate(session, completion(trainee_id, **kw))
    assert certificate is not None
    return certificate


async def events(session: AsyncSession, kind: type[Any]) -> list[dict[str, Any]]:
    return [e.data for e in await outbox_events(session, outbox) if e.type == kind.event_type()]


async def count(session: AsyncSession, model: type[Any]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


class TestIssueCertificate:
    async def test_writes_the_certificate_and_its_event(
        self, service_session: AsyncSession
    ) -> None:
        await with_holder(service_session)
        certificate = await issued(service_session)
        stored = await service_session.get(Certificate, certificate.id)
        assert stored is not None
        assert (stored.number, stored.status, stored.edition) == ("UA-KYIV-2026-000001", "valid", 1)
        assert (stored.issued_on, stored.expires_on) == (COMPLETED_ON, date(2028, 11, 20))
        assert (stored.holder_name, stored.language) == ("Олена Коваленко", "ru")
        assert stored.track["code"] == TRACK.code
        [event] = await events(service_session, CertificateIssued)
        assert event["certificate_id"] == certificate.id
        assert event["number"] == "UA-KYIV-2026-000001"
        assert event["expires_on"] == "2028-11-20"
        assert event["award"] == "track"
        assert event["previous_certificate_id"] is None
        assert "holder_name" not in event  # events carry ids, not personal data

    async def test_a_redelivered_completion_issues_nothing(
        self, service_session: AsyncSession
    ) -> None:
        await with_holder(service_session)
        done = completion("trainee-1")
        assert await issuance.issue_certificate(service_session, done) is not None
        assert await issuance.issue_certificate(service_session, done) is None
        assert await count(service_session, Certificate) == 1
        assert len(await events(service_session, CertificateIssued)) == 1

    async def test_an_unknown_holder_is_transient_and_writes_nothing(
        self, service_session: AsyncSession
    ) -> None:
        with pytest.raises(TransientError):
            await issuance.issue_certificate(service_session, completion("nobody"))
        assert await count(service_session, Certificate) == 0
        assert await outbox_events(service_session, outbox) == []

    async def test_numbers_count_per_academy_and_year(self, service_session: AsyncSession) -> None:
        await with_holder(service_session, "trainee-1")
        await with_holder(service_session, "trainee-2", employee_number="UA-9")
        await with_holder(
            service_session, "trainee-3", academy_id="academy-2", academy_code="MD-CHI"
        )
        numbers = [
            (await issued(service_session, "trainee-1")).number,
            (await issued(service_session, "trainee-2")).number,
            (await issued(service_session, "trainee-3", academy_id="academy-2")).number,
            (await issued(service_session, "trainee-1", completed_on=date(2027, 1, 5))).number,
        ]
        assert numbers == [
            "UA-KYIV-2026-000001",
            "UA-KYIV-2026-000002",
            "MD-CHI-2026-000001",
            "UA-KYIV-2027-000001",
        ]

    async def test_passing_again_names_the_previous_certificate(
        self, service_session: AsyncSession
    ) -> None:
        await with_holder(service_session)
        first = await issued(service_session)
        again = await issued(service_session, completed_on=date(2028, 10, 1))
        assert again.previous_certificate_id == first.id
        assert again.expires_on == date(2030, 10, 1)
        last = (await events(service_session, CertificateIssued))[-1]
        assert last["previous_certificate_id"] == first.id

    @pytest.mark.parametrize(
        ("grants", "awarded"), [(True, "module:WPS-101"), (False, None)], ids=["grants", "not"]
    )
    async def test_a_module_certificate_only_when_the_module_grants_one(
        self, service_session: AsyncSession, grants: bool, awarded: str | None
    ) -> None:
        await with_holder(service_session)
        module = TRACK.modules[0].model_copy(update={"grants_certificate": grants})
        done = ModuleCompleted(
            enrolment_id="enrolment-9",
            trainee_id="trainee-1",
            employee_number="UA-5521",
            academy_id=ACADEMY_ID,
            module_code=module.code,
            module_version=module.version,
            attendance_pct=100,
            score=90,
            completed_on=COMPLETED_ON,
            module=module,
        )
        certificate = await issuance.issue_module_certificate(service_session, done)
        assert (certificate.awarded_for if certificate else None) == awarded
        assert [e["award"] for e in await events(service_session, CertificateIssued)] == (
            ["module"] if grants else []
        )
        if certificate:
            assert certificate.expires_on is None


async def issued_many(session: AsyncSession, batch: list[Any]) -> list[Certificate | None]:
    ids = await issuance.issue_many(session, batch)
    return [await session.get(Certificate, i) if i else None for i in ids]


class TestIssueMany:
    """A batch of completions gives what issuing them one after the other gives."""

    async def test_several_academies_and_years_numbered_in_batch_order(
        self, service_session: AsyncSession
    ) -> None:
        await with_holder(service_session, "trainee-1")
        await with_holder(service_session, "trainee-2", employee_number="UA-9")
        await with_holder(
            service_session, "trainee-3", academy_id="academy-2", academy_code="MD-CHI"
        )
        first = await issued(service_session, "trainee-2")  # numbers go on from the counter
        batch = [
            completion("trainee-1"),
            completion("trainee-3", academy_id="academy-2"),
            completion("trainee-2", completed_on=date(2027, 1, 5)),
            completion("trainee-3", academy_id="academy-2"),
            completion("trainee-1"),
        ]
        certificates = await issued_many(service_session, batch)
        assert first.number == "UA-KYIV-2026-000001"
        assert [c.number if c else None for c in certificates] == [
            "UA-KYIV-2026-000002",
            "MD-CHI-2026-000001",
            "UA-KYIV-2027-000001",
            "MD-CHI-2026-000002",
            "UA-KYIV-2026-000003",
        ]
        assert [c.enrolment_id if c else None for c in certificates] == [
            done.enrolment_id for done in batch
        ]
        assert await count(service_session, Certificate) == 6
        announced = await events(service_session, CertificateIssued)
        assert [e["number"] for e in announced[1:]] == [c.number for c in certificates if c]
        assert [e["certificate_id"] for e in announced[1:]] == [c.id for c in certificates if c]
        # The same trainee and track twice in one batch: the second names the first.
        assert certificates[4] and certificates[0]
        assert certificates[4].previous_certificate_id == certificates[0].id
        assert certificates[0].previous_certificate_id is None
        assert certificates[2] and certificates[2].previous_certificate_id == first.id

    async def test_a_duplicate_in_the_batch_and_a_redelivered_batch_issue_nothing_more(
        self, service_session: AsyncSession
    ) -> None:
        await with_holder(service_session)
        done, other = completion("trainee-1"), completion("trainee-1")
        certificates = await issued_many(service_session, [done, other, done])
        assert certificates[0] and certificates[1] and certificates[2] is None
        assert [c.number for c in (certificates[0], certificates[1])] == [
            "UA-KYIV-2026-000001",
            "UA-KYIV-2026-000002",
        ]
        assert await issuance.issue_many(service_session, [other, done]) == [None, None]
        assert await count(service_session, Certificate) == 2
        assert len(await events(service_session, CertificateIssued)) == 2
        assert (
            await issuance.issue_certificate(service_session, completion("trainee-1")) is not None
        )
        numbers = sorted((await service_session.scalars(select(Certificate.number))).all())
        assert numbers[-1] == "UA-KYIV-2026-000003"  # no number used by the repeats

    async def test_an_unknown_holder_in_the_batch_is_transient_and_writes_nothing(
        self, service_session: AsyncSession
    ) -> None:
        await with_holder(service_session)
        batch = [completion("trainee-1"), completion("nobody"), completion("trainee-1")]
        with pytest.raises(TransientError, match="nobody"):
            await issuance.issue_many(service_session, batch)
        assert await count(service_session, Certificate) == 0
        assert await outbox_events(service_session, outbox) == []
        # One at a time (the consumer's fallback), the known holders' certificates are issued
        # with the numbers the batch did not use.
        first = await issuance.issue_certificate(service_session, batch[0])
        assert first and first.number == "UA-KYIV-2026-000001"

    async def test_a_later_batch_names_an_earlier_certificate_by_completion_date(
        self, service_session: AsyncSession
    ) -> None:
        await with_holder(service_session)
        later = await issued(service_session, completed_on=date(2028, 10, 1))
        # Completed before the one already issued: the previous certificate is still the
        # latest by date, as one at a time would name it.
        [earlier, again] = await issued_many(
            service_session,
            [
                completion("trainee-1", completed_on=date(2027, 3, 1)),
                completion("trainee-1", completed_on=date(2027, 4, 1)),
            ],
        )
        assert earlier and earlier.previous_certificate_id == later.id
        assert again and again.previous_certificate_id == later.id

    async def test_an_empty_batch_does_nothing(self, service_session: AsyncSession) -> None:
        assert await issuance.issue_many(service_session, []) == []
        assert await count(service_session, Certificate) == 0

    async def test_on_postgresql_a_batch_is_planned_for_its_values_in_its_transaction_only(
        self, db_backend: str, database_url: str
    ) -> None:
        if db_backend == "sqlite":
            pytest.skip("PostgreSQL's plan cache")
        await create_tables(database_url, Base.metadata)
        db = Database(database_url)
        try:
            async with db.session() as session:
                await with_holder(session)
                await issuance.issue_many(session, [completion("trainee-1")])
                mode = await session.scalar(text("SHOW plan_cache_mode"))
                assert mode == "force_custom_plan"
            async with db.session() as session:
                assert await session.scalar(text("SHOW plan_cache_mode")) == "auto"
        finally:
            await db.dispose()


class TestRevokeAndReissue:
    async def test_revocation_is_recorded_and_announced_without_the_reason(
        self, service_session: AsyncSession
    ) -> None:
        await with_holder(service_session)
        certificate = await issued(service_session)
        revoked = await revocation.revoke_certificate(
            service_session,
            certificate_id=certificate.id,
            who=ADMIN,
            reason="issued in error",
            today=date(2026, 12, 1),
        )
        assert (revoked.status, revoked.revoked_on) == ("revoked", date(2026, 12, 1))
        assert (revoked.revocation_reason, revoked.revoked_by) == ("issued in error", "admin-1")
        [event] = await events(service_session, CertificateRevoked)
        assert event["certificate_id"] == certificate.id
        assert event["revoked_on"] == "2026-12-01"
        assert "issued in error" not in str(event)

    async def test_revoking_twice_is_a_conflict(self, service_session: AsyncSession) -> None:
        await with_holder(service_session)
        certificate = await issued(service_session)
        revoke = {"certificate_id": certificate.id, "who": ADMIN, "reason": "x"}
        await revocation.revoke_certificate(service_session, **revoke, today=date(2026, 12, 1))
        with pytest.raises(Conflict, match="already revoked"):
            await revocation.revoke_certificate(service_session, **revoke, today=date(2026, 12, 2))
        assert len(await events(service_session, CertificateRevoked)) == 1

    @pytest.mark.parametrize("certificate_id", ["other-academy", "missing"])
    async def test_another_academys_or_a_missing_certificate_is_not_found(
        self, service_session: AsyncSession, certificate_id: str
    ) -> None:
        await with_holder(service_session)
        certificate = await issued(service_session)
        target = certificate.id if certificate_id == "other-academy" else "no-such-id"
        with pytest.raises(NotFound):
            await revocation.revoke_certificate(
                service_session,
                certificate_id=target,
                who=OTHER_ACADEMY,
                reason="x",
                today=date(2026, 12, 1),
            )
        assert certificate.status == "valid"
        assert await events(service_session, CertificateRevoked) == []

    async def test_reissue_needs_changed_details(self, service_session: AsyncSession) -> None:
        await with_holder(service_session)
        certificate = await issued(service_session)
        with pytest.raises(Conflict, match="unchanged"):
            await revocation.reissue_certificate(
                service_session, certificate_id=certificate.id, who=ADMIN, today=date(2026, 12, 1)
            )
        assert await count(service_session, Certificate) == 1

    async def test_reissue_supersedes_with_a_new_edition(
        self, service_session: AsyncSession
    ) -> None:
        await with_holder(service_session)
        old = await issued(service_session)
        await with_holder(service_session, family_name="Шевченко")
        new = await revocation.reissue_certificate(
            service_session, certificate_id=old.id, who=ADMIN, today=date(2026, 12, 1)
        )
        assert (new.edition, new.supersedes_id, new.holder_name) == (2, old.id, "Олена Шевченко")
        assert (new.issued_on, new.expires_on) == (old.issued_on, old.expires_on)
        assert (old.status, old.superseded_by_id) == ("superseded", new.id)
        [revoked] = await events(service_session, CertificateRevoked)
        assert revoked["superseded_by"] == new.id
        assert [e["certificate_id"] for e in await events(service_session, CertificateIssued)] == [
            old.id,
            new.id,
        ]


class TestVerification:
    async def test_a_typed_code_finds_its_certificate(self, service_session: AsyncSession) -> None:
        await with_holder(service_session)
        certificate = await issued(service_session)
        typed = certificate.verification_code.lower().replace("-", " ")
        assert (await verification.find_by_code(service_session, typed)).id == certificate.id

    @pytest.mark.parametrize("typed", ["", "not a code", "0000-0000-0000-0000"])
    async def test_an_unknown_code_is_not_found(
        self, service_session: AsyncSession, typed: str
    ) -> None:
        with pytest.raises(NotFound):
            await verification.find_by_code(service_session, typed)

    @pytest.mark.parametrize(
        ("status", "expires_on", "today", "shown"),
        [
            pytest.param("valid", date(2028, 11, 20), date(2028, 11, 20), "valid", id="last_day"),
            pytest.param("valid", date(2028, 11, 20), date(2028, 11, 21), "expired", id="after"),
            pytest.param("valid", None, date(2099, 1, 1), "valid", id="no_expiry"),
            pytest.param("revoked", date(2028, 11, 20), date(2027, 1, 1), "revoked", id="revoked"),
            pytest.param(
                "superseded", date(2028, 11, 20), date(2030, 1, 1), "superseded", id="superseded"
            ),
        ],
    )
    def test_current_status(
        self, status: str, expires_on: date | None, today: date, shown: str
    ) -> None:
        certificate = Certificate(status=status, expires_on=expires_on)
        assert certificates.current_status(certificate, today) == shown


class TestScanExpiry:
    """Issued 20 Nov 2026 for 24 months: expires 20 Nov 2028; reminders 60 and 30 days ahead."""

    LEADS = (60, 30)

    async def scan(self, session: AsyncSession, today: date) -> list[str]:
        before = len(await outbox_events(session, outbox))
        await expiry.scan_expiry(session, today=today, lead_days=self.LEADS)
        return [
            f"{e.type.split('.')[-2]}:{e.data.get('lead_days', e.data.get('expired_on'))}"
            for e in (await outbox_events(session, outbox))[before:]
        ]

    async def test_each_reminder_once_then_expiry_once(self, service_session: AsyncSession) -> None:
        await with_holder(service_session)
        certificate = await issued(service_session)
        days = {
            date(2028, 9, 20): [],  # 61 days ahead
            date(2028, 9, 21): ["expiring:60"],
            date(2028, 9, 22): [],
            date(2028, 10, 21): ["expiring:30"],
            date(2028, 10, 22): [],
            date(2028, 11, 20): [],  # the last valid day
            date(2028, 11, 21): ["expired:2028-11-21"],
            date(2028, 11, 22): [],
        }
        assert {day: await self.scan(service_session, day) for day in days} == days
        assert certificate.status == "expired"
        notices = await service_session.scalars(
            select(CertificateNotice.notice).order_by(CertificateNotice.notice)
        )
        assert list(notices) == ["expired", "expiring:30", "expiring:60"]

    async def test_first_seen_late_gets_only_the_nearest_reminder(
        self, service_session: AsyncSession
    ) -> None:
        await with_holder(service_session)
        await issued(service_session)
        assert await self.scan(service_session, date(2028, 11, 10)) == ["expiring:30"]
        assert await self.scan(service_session, date(2028, 11, 11)) == []

    async def test_a_renewed_certificate_gets_no_reminders(
        self, service_session: AsyncSession
    ) -> None:
        await with_holder(service_session)
        await issued(service_session)
        renewed = await issued(service_session, completed_on=date(2028, 9, 1))
        assert await self.scan(service_session, date(2028, 10, 1)) == []
        assert await events(service_session, CertificateExpiring) == []
        assert await events(service_session, CertificateExpired) == []
        assert renewed.status == "valid"
