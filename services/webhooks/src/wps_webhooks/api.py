"""Webhook REST API (/v1/webhooks)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request

from wps_common.app import DbSession
from wps_common.auth import Principal, Role, require
from wps_common.fields import Id, Limit, Offset
from wps_common.paging import Cursor, Page
from wps_webhooks import service
from wps_webhooks.destinations import DestinationPolicy
from wps_webhooks.schemas import (
    DeliveryOut,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionOut,
)

router = APIRouter(prefix="/v1", tags=["webhooks"])
Integrator = Annotated[Principal, Depends(require(Role.ADMIN, Role.HR))]


def destinations_of(request: Request) -> DestinationPolicy:
    policy: DestinationPolicy = request.app.state.destinations
    return policy


Destinations = Annotated[DestinationPolicy, Depends(destinations_of)]


@router.post("/webhooks", status_code=201)
async def create_subscription(
    body: SubscriptionCreate, session: DbSession, who: Integrator, destinations: Destinations
) -> SubscriptionCreated:
    """Register an HTTPS endpoint at a public address for some event types; deliveries are
    signed the Standard Webhooks way (the generated secret is returned this once)."""
    subscription = await service.create_subscription(
        session, data=body, who=who, destinations=destinations
    )
    generated = subscription.secret if body.secret is None else None
    return SubscriptionCreated.model_validate(subscription).model_copy(update={"secret": generated})


@router.get("/webhooks")
async def list_subscriptions(
    session: DbSession,
    who: Integrator,
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: Cursor = None,
) -> Page[SubscriptionOut]:
    """Your subscriptions (an admin sees every client's), oldest first."""
    listing = await service.list_subscriptions(
        session, who=who, limit=limit, offset=offset, cursor=cursor
    )
    return Page.of(
        listing,
        [SubscriptionOut.model_validate(r) for r in listing.items],
        limit=limit,
        offset=offset,
    )


@router.get("/webhooks/{subscription_id}")
async def get_subscription(
    subscription_id: Id, session: DbSession, who: Integrator
) -> SubscriptionOut:
    """One subscription (the secret is never shown again)."""
    return SubscriptionOut.model_validate(
        await service.get_subscription(session, subscription_id=subscription_id, who=who)
    )


@router.delete("/webhooks/{subscription_id}")
async def deactivate(subscription_id: Id, session: DbSession, who: Integrator) -> SubscriptionOut:
    """Stop queueing events for this subscription (queued deliveries still go out)."""
    return SubscriptionOut.model_validate(
        await service.deactivate(session, subscription_id=subscription_id, who=who)
    )


@router.get("/webhooks/{subscription_id}/deliveries")
async def list_deliveries(
    subscription_id: Id,
    session: DbSession,
    who: Integrator,
    status: Literal["pending", "delivered", "parked"] | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: Cursor = None,
) -> Page[DeliveryOut]:
    """Deliveries in queue order, with attempts and the last error."""
    listing = await service.list_deliveries(
        session,
        subscription_id=subscription_id,
        who=who,
        status=status,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    return Page.of(
        listing, [DeliveryOut.model_validate(r) for r in listing.items], limit=limit, offset=offset
    )


@router.post("/webhooks/{subscription_id}/redeliver")
async def redeliver(subscription_id: Id, session: DbSession, who: Integrator) -> dict[str, int]:
    """Requeue the parked (dead-lettered) deliveries of this subscription."""
    return {
        "requeued": await service.redeliver_parked(
            session, subscription_id=subscription_id, who=who
        )
    }
