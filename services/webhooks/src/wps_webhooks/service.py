"""Webhook use cases: subscriptions, fan-out of events into deliveries, and redelivery."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import Principal, Role
from wps_common.db import utcnow
from wps_common.errors import InvalidInput, NotFound
from wps_common.events.envelope import CloudEvent, EventPayload
from wps_common.paging import Listing, keyset_page
from wps_webhooks.destinations import DestinationPolicy, RefusedDestination
from wps_webhooks.models import Delivery, Subscription
from wps_webhooks.schemas import SubscriptionCreate
from wps_webhooks.signing import new_secret


async def create_subscription(
    session: AsyncSession,
    *,
    data: SubscriptionCreate,
    who: Principal,
    destinations: DestinationPolicy,
) -> Subscription:
    """The URL must point at an address deliveries may go to (each delivery checks again)."""
    try:
        await destinations.check_url(str(data.url))
    except RefusedDestination as exc:
        raise InvalidInput(exc.detail, field="url") from None
    subscription = Subscription(
        owner=who.subject,
        url=str(data.url),
        event_types=data.event_types,
        secret=data.secret or new_secret(),
        description=data.description,
        active=True,
    )
    session.add(subscription)
    await session.flush()
    return subscription


async def get_subscription(
    session: AsyncSession, *, subscription_id: str, who: Principal
) -> Subscription:
    """A subscription belongs to the client that created it; to anyone else (but a platform
    admin) it does not exist."""
    subscription = await session.get(Subscription, subscription_id)
    if subscription is None or not _sees(who, subscription.owner):
        raise NotFound("No such webhook subscription.")
    return subscription


def _sees(who: Principal, owner: str) -> bool:
    return who.has(Role.ADMIN) or owner == who.subject


async def list_subscriptions(
    session: AsyncSession, *, who: Principal, limit: int, offset: int, cursor: str | None = None
) -> Listing:
    stmt = select(Subscription)
    if not who.has(Role.ADMIN):
        stmt = stmt.where(Subscription.owner == who.subject)
    order = (Subscription.created_at, Subscription.id)
    return await keyset_page(session, stmt, order=order, limit=limit, offset=offset, cursor=cursor)


async def deactivate(
    session: AsyncSession, *, subscription_id: str, who: Principal
) -> Subscription:
    subscription = await get_subscription(session, subscription_id=subscription_id, who=who)
    subscription.active = False
    return subscription


async def fan_out(session: AsyncSession, payload: EventPayload, event: CloudEvent) -> None:
    """Queue the event for every active subscription that wants it (in the inbox transaction,
    so an event is queued exactly once per subscription)."""
    name = payload.subject_suffix()
    subscriptions = (await session.scalars(select(Subscription).where(Subscription.active))).all()
    body = event.to_json().decode()
    for subscription in subscriptions:
        if "*" in subscription.event_types or name in subscription.event_types:
            session.add(
                Delivery(
                    subscription_id=subscription.id,
                    event_id=event.id,
                    event_type=event.type,
                    body=body,
                    status="pending",
                    attempts=0,
                    next_attempt_at=utcnow(),
                )
            )


async def list_deliveries(
    session: AsyncSession,
    *,
    subscription_id: str,
    who: Principal,
    status: str | None,
    limit: int,
    offset: int,
    cursor: str | None = None,
) -> Listing:
    await get_subscription(session, subscription_id=subscription_id, who=who)
    stmt = select(Delivery).where(Delivery.subscription_id == subscription_id)
    if status:
        stmt = stmt.where(Delivery.status == status)
    return await keyset_page(
        session, stmt, order=(Delivery.id,), limit=limit, offset=offset, cursor=cursor
    )


async def redeliver_parked(session: AsyncSession, *, subscription_id: str, who: Principal) -> int:
    """Put parked deliveries back in the queue (in their original order)."""
    await get_subscription(session, subscription_id=subscription_id, who=who)
    result = await session.execute(
        update(Delivery)
        .where(Delivery.subscription_id == subscription_id, Delivery.status == "parked")
        .values(status="pending", attempts=0, next_attempt_at=utcnow(), last_error=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
