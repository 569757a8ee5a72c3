"""Routes of /v1/reports: participation, completion and compliance rates by group."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from wps_common.app import DbSession
from wps_common.errors import InvalidInput
from wps_common.fields import Day, Id, spreadsheet_safe
from wps_enrolment import reports
from wps_enrolment.api.deps import CSV, Analysts, Settings
from wps_enrolment.schemas import Report

router = APIRouter(tags=["reports"])


@router.get(
    "/reports/{measure}",
    response_model=Report,
    responses={200: {"content": {"text/csv": {}}}},
)
async def report(
    measure: Literal["participation", "completion", "compliance"],
    session: DbSession,
    who: Analysts,
    settings: Settings,
    by: Literal["gender", "rank", "unit", "track", "academy"] = "gender",
    academy_id: Id | None = None,
    date_from: Annotated[Day | None, Query(alias="from")] = None,
    date_to: Annotated[Day | None, Query(alias="to")] = None,
    format: Literal["json", "csv"] = "json",
) -> Report | PlainTextResponse:
    """Rates by gender, rank, unit, track or academy; cells under k people are suppressed."""
    if date_from and date_to and date_to < date_from:
        raise InvalidInput("`to` must not be before `from`.", field="to")
    built = await reports.build(
        session,
        who=who,
        measure=measure,
        by=by,
        academy_id=academy_id,
        date_from=date_from,
        date_to=date_to,
        k=settings.report_min_cell,
    )
    if format == "csv":
        # Groups are the academies' own words (ranks, units): a spreadsheet must show them as
        # text, never run them as formulas.
        cells = [{**cell, "group": spreadsheet_safe(cell["group"])} for cell in built["cells"]]
        return PlainTextResponse(reports.as_csv({**built, "cells": cells}), media_type=CSV)
    return Report.model_validate(built)
