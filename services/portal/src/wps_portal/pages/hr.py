"""HR pages: the webhook subscriptions of the signed-in person (register, deactivate), and each
one's deliveries with their errors and redelivery of the parked ones."""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from wps_common.auth import Role
from wps_common.events import contracts  # noqa: F401  (registers every event type)
from wps_common.events.envelope import EventPayload
from wps_portal.backend import ServiceError
from wps_portal.i18n import N_
from wps_portal.web import User, call, checked_form, flash, for_roles, language, redirect, render

router = APIRouter(include_in_schema=False)
Integrator = for_roles(Role.HR, Role.ADMIN)

PER_PAGE = 25
DELIVERY_STATUSES = ("pending", "delivered", "parked")
TYPE_PREFIX, TYPE_SUFFIX = "org.wps-training.", re.compile(r"\.v\d+$")

# What each public event says happened, for people choosing what to subscribe to.
EVENTS = {
    "enrolment.trainee.enrolled": N_("A trainee was enrolled or waitlisted"),
    "enrolment.module.completed": N_("A trainee completed a module"),
    "enrolment.track.completed": N_("A trainee completed a track"),
    "enrolment.enrolment.withdrawn": N_("An enrolment was withdrawn"),
    "enrolment.enrolment.failed": N_("A trainee failed a module for the last time"),
    "enrolment.compliance.changed": N_("A trainee's compliance status changed"),
    "certification.certificate.issued": N_("A certificate was issued"),
    "certification.certificate.revoked": N_("A certificate was revoked or replaced"),
    "certification.certificate.expiring": N_("A certificate expires soon"),
    "certification.certificate.expired": N_("A certificate expired"),
    "curriculum.module.published": N_("A module was published"),
    "curriculum.module.retired": N_("A module was retired"),
    "curriculum.track.published": N_("A track was published"),
    "curriculum.track.retired": N_("A track was retired"),
    "curriculum.requirement.changed": N_("A mandatory-training requirement changed"),
}
DELIVERY_LABELS = {
    "pending": N_("Pending"),
    "delivered": N_("Delivered"),
    "parked": N_("Parked"),
}
SERVICES = {
    "enrolment": N_("Enrolment"),
    "certification": N_("Certification"),
    "curriculum": N_("Curriculum"),
}
# The delivery error classes the webhook service records, explained.
ERRORS = {
    "redirect": N_(
        "The receiver answered with a redirect. Redirects are not followed: register the final "
        "address instead."
    ),
    "timeout": N_("The receiver did not answer in time."),
    "tls_error": N_(
        "The secure connection failed: the receiver's TLS certificate or protocol was not accepted."
    ),
    "unreachable": N_(
        "The receiver could not be reached: nothing answered at that address, or the "
        "connection was refused."
    ),
    "refused_address": N_(
        "The address leads to a private, loopback or other non-public network, where deliveries "
        "may not go."
    ),
    "refused_scheme": N_("The address does not start with https://, which is required here."),
    "invalid_url": N_("The address is not a valid URL."),
    "delivery_error": N_(
        "An unexpected error stopped the delivery; the operators find the details in the logs."
    ),
}
CLIENT_ERROR = N_(
    "The receiver refused the delivery with HTTP status %(status)s: check that the address is "
    "right and that it verifies the signature with the right secret."
)
SERVER_ERROR = N_("The receiver failed with HTTP status %(status)s (an error on its side).")
OTHER_STATUS = N_("The receiver answered with HTTP status %(status)s.")


def public_event_types() -> list[str]:
    """`<service>.<entity>.<action>` of every public event (restricted ones are never sent to
    HR systems), as the webhook service accepts them."""
    return sorted(
        cls.subject_suffix()
        for cls in EventPayload.registry.values()
        if not cls.restricted and cls.__module__.startswith("wps_common.events.contracts.")
    )


def event_groups() -> list[tuple[str, list[str]]]:
    """The event types by the service that publishes them, in the order people read them."""
    order = list(EVENTS)
    groups: dict[str, list[str]] = {service: [] for service in SERVICES}
    for name in sorted(
        public_event_types(), key=lambda n: (order.index(n) if n in order else 99, n)
    ):
        groups.setdefault(name.split(".", 1)[0], []).append(name)
    return [(service, names) for service, names in groups.items() if names]


def event_name(cloud_type: str) -> str:
    """`org.wps-training.enrolment.trainee.enrolled.v1` → `enrolment.trainee.enrolled`."""
    return TYPE_SUFFIX.sub("", cloud_type.removeprefix(TYPE_PREFIX))


def explain(error: str | None) -> tuple[str, dict[str, str]] | None:
    """A person's explanation of a delivery's error class (msgid and its values)."""
    if not error:
        return None
    if error in ERRORS:
        return ERRORS[error], {}
    found = re.fullmatch(r"http_(\d{3})", error)
    if found:
        status = int(found.group(1))
        if 400 <= status < 500:
            return CLIENT_ERROR, {"status": str(status)}
        if status >= 500:
            return SERVER_ERROR, {"status": str(status)}
        return OTHER_STATUS, {"status": str(status)}
    return None


def helpers() -> dict[str, Any]:
    return {
        "events": EVENTS,
        "delivery_labels": DELIVERY_LABELS,
        "services": SERVICES,
        "event_groups": event_groups(),
        "event_name": event_name,
        "explain": explain,
    }


# --- subscriptions -----------------------------------------------------------------------------


async def subscriptions_page(
    request: Request,
    user: User,
    *,
    offset: int = 0,
    form: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    page = await call(
        request, "webhooks", "GET", "/v1/webhooks", params={"limit": PER_PAGE, "offset": offset}
    )
    return render(
        request,
        "hr/webhooks.html",
        status=status,
        page=page,
        owners=user.has(Role.ADMIN),  # an admin sees every client's subscriptions
        form=form,
        errors=errors,
        **helpers(),
    )


def new_secret() -> str:
    """A Standard Webhooks secret (`whsec_` and 32 random bytes in base64), the form HR
    systems' verification libraries take as it is."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@router.get("/hr/webhooks")
async def subscriptions(
    request: Request,
    user: User = Integrator,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """My subscriptions, and a form to register another."""
    form = {"url": "", "description": "", "event_types": [], "secret": new_secret()}
    return await subscriptions_page(request, user, offset=offset, form=form, errors={})


@router.post("/hr/webhooks")
async def register(request: Request, user: User = Integrator) -> Response:
    """Register a subscription; a refused address comes back next to the URL field."""
    posted = await checked_form(request)
    form = {
        "url": str(posted.get("url", "")).strip(),
        "description": str(posted.get("description", "")).strip(),
        "event_types": [str(v) for v in posted.getlist("event_types")],
        "secret": str(posted.get("secret", "")).strip(),
    }
    speaking = language(request)
    errors: dict[str, str] = {}
    if not form["event_types"]:
        errors["event_types"] = speaking.gettext("Choose at least one event, or all events.")
    if not form["url"]:
        errors["url"] = speaking.gettext("Enter the address deliveries are sent to.")
    if errors:
        return await subscriptions_page(request, user, form=form, errors=errors, status=422)
    body = {
        "url": form["url"],
        "event_types": ["*"] if "*" in form["event_types"] else form["event_types"],
        "secret": form["secret"],
        "description": form["description"] or None,
    }
    try:
        created = await call(request, "webhooks", "POST", "/v1/webhooks", json=body)
    except ServiceError as error:
        if error.status not in (400, 409, 422):
            raise
        errors = {name.split(".", 1)[0]: message for name, message in error.field_errors().items()}
        if not errors:
            errors[""] = error.detail
        return await subscriptions_page(
            request, user, form=form, errors=errors, status=error.status
        )
    flash(
        request,
        speaking.gettext(
            "The subscription is registered. Deliveries will go to %(url)s, signed with the "
            "secret you gave."
        )
        % {"url": created["url"]},
    )
    return redirect(f"/hr/webhooks/{quote(created['id'], safe='')}")


@router.post("/hr/webhooks/{subscription_id}/deactivate")
async def deactivate(request: Request, subscription_id: str, user: User = Integrator) -> Response:
    """Stop queueing events for a subscription (the API's DELETE)."""
    await checked_form(request)
    try:
        found = await call(
            request, "webhooks", "DELETE", f"/v1/webhooks/{quote(subscription_id, safe='')}"
        )
    except ServiceError as error:
        if error.status == 404:
            return render(request, "not_found.html", status=404)
        raise
    flash(
        request,
        language(request).gettext(
            "The subscription to %(url)s is deactivated: no new events are queued for it; "
            "deliveries already queued still go out."
        )
        % {"url": found["url"]},
    )
    return redirect("/hr/webhooks")


# --- deliveries --------------------------------------------------------------------------------


@router.get("/hr/webhooks/{subscription_id}")
async def deliveries(
    request: Request,
    subscription_id: str,
    user: User = Integrator,
    status: Literal["pending", "delivered", "parked", ""] = "",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """A subscription's deliveries, filtered by status, with attempts and errors."""
    path = f"/v1/webhooks/{quote(subscription_id, safe='')}"
    try:
        subscription = await call(request, "webhooks", "GET", path)
    except ServiceError as error:
        if error.status == 404:
            return render(request, "not_found.html", status=404)
        raise
    params: dict[str, Any] = {"limit": PER_PAGE, "offset": offset}
    if status:
        params["status"] = status
    page, *counted = await asyncio.gather(
        call(request, "webhooks", "GET", f"{path}/deliveries", params=params),
        *(
            call(request, "webhooks", "GET", f"{path}/deliveries", params={"status": s, "limit": 1})
            for s in DELIVERY_STATUSES
        ),
    )
    counts = {s: c["total"] for s, c in zip(DELIVERY_STATUSES, counted, strict=True)}
    here = f"/hr/webhooks/{quote(subscription['id'], safe='')}"
    return render(
        request,
        "hr/deliveries.html",
        subscription=subscription,
        page=page,
        chosen=status,
        counts=counts,
        base=here + (f"?{urlencode({'status': status})}" if status else ""),
        here=here,
        **helpers(),
    )


@router.post("/hr/webhooks/{subscription_id}/redeliver")
async def redeliver(request: Request, subscription_id: str, user: User = Integrator) -> Response:
    """Requeue the parked deliveries; the flash says how many."""
    await checked_form(request)
    path = f"/v1/webhooks/{quote(subscription_id, safe='')}"
    try:
        answer = await call(request, "webhooks", "POST", f"{path}/redeliver")
    except ServiceError as error:
        if error.status == 404:
            return render(request, "not_found.html", status=404)
        raise
    count = int(answer.get("requeued", 0))
    speaking = language(request)
    if count:
        flash(
            request,
            speaking.ngettext(
                "%(num)d parked delivery is queued again.",
                "%(num)d parked deliveries are queued again.",
                count,
            )
            % {"num": count},
        )
    else:
        flash(request, speaking.gettext("There were no parked deliveries to queue again."), "info")
    return redirect(f"/hr/webhooks/{quote(subscription_id, safe='')}")
