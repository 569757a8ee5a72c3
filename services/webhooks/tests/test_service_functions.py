"""Webhooks' service functions called directly, each test in a transaction rolled back
afterwards: subscribing (destination checks, secrets, ownership), fan-out of an event into
deliveries, and putting parked deliveries back in the queue."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import MetaData, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import Principal, Role
from wps_common.errors import InvalidInput, NotFound
from wps_common.events.contracts import (
    CertificateIssued,
    CertificateRevoked,
    ComplianceCount,
    ComplianceSummarised,
)
from wps_common.events.envelope import CloudEvent, EventPayload
from wps_webhooks import service
from wps_webhooks.destinations import DestinationPolicy
from wps_webhooks.models import Base, Delivery, Subscription
from wps_webhooks.schemas import SubscriptionCreate

HR = Principal(subject="hr-system-1", roles=frozenset({Role.HR}))
OTHER_HR = Principal(subject="hr-system-2", roles=frozenset({Role.HR}))
ADMIN = Principal(subject="admin-1", roles=frozenset({Role.ADMIN}))
ISSUED = "certification.certificate.issued"
DNS = {"hr.example.org": ["93.184.215.14"], "inside.example.org": ["93.184.215.15", "10.0.0.5"]}


async def resolve(host: str, port: int) -> list[str]:
    return DNS.get(host, [])


POLICY = DestinationPolicy(resolver=resolve)


@pytest.fixture
def service_metadata() -> MetaData:
    return Base.metadata


async def subscribe(
    session: AsyncSession,
    who: Principal = HR,
    url: str = "https://hr.example.org/hooks",
    event_types: tuple[str, ...] = (ISSUED,),
    secret: str | None = None,
) -> Subscription:
    data = SubscriptionCreate(url=url, event_types=list(event_types), secret=secret)
    return await service.create_subscription(session, data=data, who=who, destinations=POLICY)


def issued_event() -> tuple[EventPayload, CloudEvent]:
    payload = CertificateIssued(
        certificate_id="cert-1",
        number="UA-KYIV-2026-000001",
        enrolment_id="enrolment-1",
        trainee_id="trainee-1",
        employee_number="UA-5521",
        academy_id="academy-1",
        track_code="GHR-FOUND",
        track_version=1,
        issued_on=date(2026, 11, 20),
        expires_on=date(2028, 11, 20),
    )
    return payload, CloudEvent.of(payload)


async def deliveries(session: AsyncSession) -> list[Delivery]:
    return list(await session.scalars(select(Delivery).order_by(Delivery.id)))


class TestSubscriptions:
    async def test_a_subscription_is_written_with_a_generated_secret(
        self, service_session: AsyncSession
    ) -> None:
        created = await subscribe(service_session)
        stored = await service_session.get(Subscription, created.id)
        assert stored is not None
        assert (stored.owner, stored.url, stored.event_types, stored.active) == (
            "hr-system-1",
            "https://hr.example.org/hooks",
            [ISSUED],
            True,
        )
        assert stored.secret.startswith("whsec_")

    async def test_a_secret_of_ones_own_is_kept(self, service_session: AsyncSession) -> None:
        created = await subscribe(service_session, secret="a-long-shared-secret")
        assert created.secret == "a-long-shared-secret"

    @pytest.mark.parametrize(
        ("url", "why"),
        [
            pytest.param("https://10.0.0.1/hooks", "private", id="private_literal"),
            pytest.param("https://127.0.0.1/hooks", "loopback", id="loopback"),
            pytest.param("https://inside.example.org/hooks", "10.0.0.5", id="name_to_private"),
            pytest.param("http://hr.example.org/hooks", "https://", id="plain_http"),
        ],
    )
    async def test_a_refused_destination_is_invalid_input_and_writes_nothing(
        self, service_session: AsyncSession, url: str, why: str
    ) -> None:
        with pytest.raises(InvalidInput, match=why) as refused:
            await subscribe(service_session, url=url)
        assert refused.value.extensions["errors"][0]["field"] == "url"
        assert await service_session.scalar(select(func.count()).select_from(Subscription)) == 0

    async def test_a_name_that_does_not_resolve_yet_is_accepted(
        self, service_session: AsyncSession
    ) -> None:
        created = await subscribe(service_session, url="https://later.example.org/hooks")
        assert created.url == "https://later.example.org/hooks"

    async def test_only_the_owner_or_an_admin_sees_a_subscription(
        self, service_session: AsyncSession
    ) -> None:
        created = await subscribe(service_session)
        for who in (HR, ADMIN):
            found = await service.get_subscription(
                service_session, subscription_id=created.id, who=who
            )
            assert found.id == created.id
        with pytest.raises(NotFound):
            await service.get_subscription(
                service_session, subscription_id=created.id, who=OTHER_HR
            )
        with pytest.raises(NotFound):
            await service.deactivate(service_session, subscription_id=created.id, who=OTHER_HR)
        assert created.active

    async def test_lists_are_scoped_to_the_owner(self, service_session: AsyncSession) -> None:
        mine = [await subscribe(service_session) for _ in range(3)]
        await subscribe(service_session, who=OTHER_HR)
        listed = await service.list_subscriptions(service_session, who=HR, limit=2, offset=1)
        rows = listed.items
        assert listed.total == 3
        assert {r.id for r in rows} <= {s.id for s in mine} and len(rows) == 2
        everyone = await service.list_subscriptions(service_session, who=ADMIN, limit=10, offset=0)
        assert everyone.total == 4

    async def test_deactivate(self, service_session: AsyncSession) -> None:
        created = await subscribe(service_session)
        await service.deactivate(service_session, subscription_id=created.id, who=HR)
        await service_session.flush()
        assert (
            await service_session.scalar(
                select(Subscription.active).where(Subscription.id == created.id)
            )
            is False
        )


class TestFanOut:
    async def test_an_event_is_queued_for_each_active_subscription_that_wants_it(
        self, service_session: AsyncSession
    ) -> None:
        exact = await subscribe(service_session)
        everything = await subscribe(service_session, who=OTHER_HR, event_types=("*",))
        await subscribe(service_session, event_types=(CertificateRevoked.subject_suffix(),))
        stopped = await subscribe(service_session)
        await service.deactivate(service_session, subscription_id=stopped.id, who=HR)
        payload, event = issued_event()
        await service.fan_out(service_session, payload, event)
        await service_session.flush()
        queued = await deliveries(service_session)
        assert {d.subscription_id for d in queued} == {exact.id, everything.id}
        for delivery in queued:
            assert (delivery.event_id, delivery.event_type) == (event.id, event.type)
            assert (delivery.status, delivery.attempts) == ("pending", 0)
            assert CloudEvent.model_validate_json(delivery.body).data["certificate_id"] == "cert-1"

    async def test_an_imports_compliance_summary_reaches_those_who_asked_for_it(
        self, service_session: AsyncSession
    ) -> None:
        summaries = await subscribe(
            service_session, event_types=("enrolment.compliance.summarised",)
        )
        await subscribe(service_session, event_types=("enrolment.compliance.changed",))
        payload = ComplianceSummarised(
            import_job_id="job-1",
            academy_id="academy-1",
            changes=[ComplianceCount(requirement_code="REQ-GHR", status="due", count=12_236)],
            transitions=12_236,
            changed_since=datetime(2026, 11, 24, 9, tzinfo=UTC),
            summarised_at=datetime(2026, 11, 24, 9, 5, tzinfo=UTC),
        )
        await service.fan_out(service_session, payload, CloudEvent.of(payload))
        await service_session.flush()
        [queued] = await deliveries(service_session)
        assert queued.subscription_id == summaries.id
        assert queued.event_type == "org.wps-training.enrolment.compliance.summarised.v1"

    async def test_no_subscription_no_delivery(self, service_session: AsyncSession) -> None:
        await service.fan_out(service_session, *issued_event())
        await service_session.flush()
        assert await deliveries(service_session) == []


class TestDeliveries:
    async def test_parked_deliveries_go_back_in_the_queue(
        self, service_session: AsyncSession
    ) -> None:
        subscription = await subscribe(service_session)
        for _ in range(3):
            await service.fan_out(service_session, *issued_event())
        await service_session.flush()
        first, second, third = await deliveries(service_session)
        await service_session.execute(
            update(Delivery)
            .where(Delivery.id.in_([first.id, second.id]))
            .values(status="parked", attempts=8, last_error="http_500")
        )
        await service_session.execute(
            update(Delivery).where(Delivery.id == third.id).values(status="delivered")
        )
        parked = await service.list_deliveries(
            service_session,
            subscription_id=subscription.id,
            who=HR,
            status="parked",
            limit=10,
            offset=0,
        )
        assert ([d.id for d in parked.items], parked.total) == ([first.id, second.id], 2)
        count = await service.redeliver_parked(
            service_session, subscription_id=subscription.id, who=HR
        )
        assert count == 2
        service_session.expire_all()
        assert [
            (d.status, d.attempts, d.last_error) for d in await deliveries(service_session)
        ] == [
            ("pending", 0, None),
            ("pending", 0, None),
            ("delivered", 0, None),
        ]

    async def test_another_clients_deliveries_are_not_found(
        self, service_session: AsyncSession
    ) -> None:
        subscription = await subscribe(service_session)
        with pytest.raises(NotFound):
            await service.redeliver_parked(
                service_session, subscription_id=subscription.id, who=OTHER_HR
            )
        with pytest.raises(NotFound):
            await service.list_deliveries(
                service_session,
                subscription_id=subscription.id,
                who=OTHER_HR,
                status=None,
                limit=10,
                offset=0,
            )
