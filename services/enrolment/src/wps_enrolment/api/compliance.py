"""Routes of compliance: a trainee's standing, exemptions and personal due dates, an academy's
list and summary."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Query, Response

from wps_common.app import DbSession
from wps_common.clock import Now
from wps_common.errors import InvalidInput
from wps_common.fields import Code, Id, Limit, Offset
from wps_common.paging import Cursor, Page
from wps_enrolment import compliance_status
from wps_enrolment.api.deps import OTHER_ACADEMY, Analysts, Filter, Reader, Staff
from wps_enrolment.schemas import (
    ComplianceOut,
    ComplianceRow,
    ComplianceSummary,
    DueDateSet,
    ExemptionCreate,
    ListedStatus,
)

router = APIRouter(tags=["compliance"])


@router.get("/trainees/{trainee_id}/compliance")
async def trainee_compliance(
    trainee_id: Id, session: DbSession, who: Reader
) -> list[ComplianceOut]:
    """A trainee's status against every requirement that applies to them."""
    rows = await compliance_status.trainee_compliance(session, trainee_id=trainee_id, who=who)
    return [
        ComplianceOut.model_validate(record).model_copy(
            update={
                "exemption_reason": reason,
                "personal_due_on": due.due_on if due else None,
                "due_date_reason": due.reason if due else None,
            }
        )
        for record, reason, due in rows
    ]


@router.put("/trainees/{trainee_id}/exemptions/{requirement_code}", status_code=204)
async def exempt(
    trainee_id: Id,
    requirement_code: Code,
    body: ExemptionCreate,
    session: DbSession,
    who: Staff,
    now: Now,
) -> Response:
    """Exempt a trainee from a requirement, with the reason (academy admins)."""
    await compliance_status.exempt(
        session,
        trainee_id=trainee_id,
        requirement_code=requirement_code,
        reason=body.reason,
        who=who,
        now=now,
    )
    return Response(status_code=204)


@router.delete("/trainees/{trainee_id}/exemptions/{requirement_code}", status_code=204)
async def lift_exemption(
    trainee_id: Id, requirement_code: Code, session: DbSession, who: Staff, now: Now
) -> Response:
    """Lift an exemption: the requirement applies again."""
    await compliance_status.lift_exemption(
        session, trainee_id=trainee_id, requirement_code=requirement_code, who=who, now=now
    )
    return Response(status_code=204)


@router.put("/trainees/{trainee_id}/due-dates/{requirement_code}", status_code=204)
async def set_due_date(
    trainee_id: Id,
    requirement_code: Code,
    body: DueDateSet,
    session: DbSession,
    who: Staff,
    now: Now,
) -> Response:
    """Give a trainee their own deadline for a requirement, with the reason (academy admins):
    it replaces the grace period, or gives until then after a certificate lapsed."""
    await compliance_status.set_due_date(
        session,
        trainee_id=trainee_id,
        requirement_code=requirement_code,
        due_on=body.due_on,
        reason=body.reason,
        who=who,
        now=now,
    )
    return Response(status_code=204)


@router.delete("/trainees/{trainee_id}/due-dates/{requirement_code}", status_code=204)
async def remove_due_date(
    trainee_id: Id, requirement_code: Code, session: DbSession, who: Staff, now: Now
) -> Response:
    """Remove a personal due date: the requirement's own deadlines apply again."""
    await compliance_status.remove_due_date(
        session, trainee_id=trainee_id, requirement_code=requirement_code, who=who, now=now
    )
    return Response(status_code=204)


def since(value: str) -> datetime:
    """`changed_since` as a moment: one with its offset, or a day from its start in UTC."""
    text = value.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidInput(
            f"changed_since '{value}' is not a moment with its offset, such as "
            "2026-11-24T00:00:00Z (or +05:00, written %2B05:00 in a URL), nor a day such as "
            "2026-11-24 (from its start, in UTC).",
            field="changed_since",
        )
    return moment


@router.get("/compliance", responses=OTHER_ACADEMY)
async def list_compliance(
    session: DbSession,
    who: Analysts,
    academy_id: Id | None = None,
    status: ListedStatus | None = None,
    unit: Filter | None = None,
    rank: Filter | None = None,
    requirement_code: Code | None = None,
    changed_since: Annotated[
        str | None,
        Query(
            max_length=40,
            description="only statuses that changed at or after this time: ISO 8601 with its "
            "offset (`2026-11-24T00:00:00Z`), e.g. an import's compliance.summarised "
            "`changed_since`, or a day (`2026-11-24`: from its start, in UTC)",
            examples=["2026-11-24T00:00:00Z"],
        ),
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
    cursor: Cursor = None,
) -> Page[ComplianceRow]:
    """Who is compliant, due, overdue, expired or exempt — filterable, by name."""
    listing = await compliance_status.academy_compliance(
        session,
        who=who,
        academy_id=academy_id,
        status=status,
        unit=unit,
        rank=rank,
        requirement_code=requirement_code,
        changed_since=since(changed_since) if changed_since is not None else None,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    items = [ComplianceRow.model_validate(row) for row in listing.items]
    return Page.of(listing, items, limit=limit, offset=offset)


@router.get("/compliance/summary", responses=OTHER_ACADEMY)
async def compliance_summary(
    session: DbSession, who: Analysts, academy_id: Id | None = None
) -> ComplianceSummary:
    """Counts per status, overall and per requirement."""
    return ComplianceSummary.model_validate(
        await compliance_status.compliance_summary(session, who=who, academy_id=academy_id)
    )
