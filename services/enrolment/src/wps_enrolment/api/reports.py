"""Routes of /v1/reports: participation, completion and compliance rates by group (or by two
groups crossed), and compliance by gender month by month."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from wps_common.app import DbSession
from wps_common.clock import Now
from wps_common.errors import InvalidInput
from wps_common.fields import Day, Id, spreadsheet_safe
from wps_enrolment import reports
from wps_enrolment.api.deps import CSV, Analysts, Settings
from wps_enrolment.schemas import MonthlyReport, Report

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
    across: Annotated[
        Literal["gender", "rank", "unit", "academy"] | None,
        Query(description="a second grouping: a cross table of `by` × `across`"),
    ] = None,
    academy_id: Id | None = None,
    date_from: Annotated[Day | None, Query(alias="from")] = None,
    date_to: Annotated[Day | None, Query(alias="to")] = None,
    format: Literal["json", "csv"] = "json",
) -> Report | PlainTextResponse:
    """Rates by gender, rank, unit, track or academy, or crossed with a second grouping (e.g.
    gender × rank); cells under k people are suppressed, and enough others that they cannot
    be recovered from the row and column totals. Compliance over `from`–`to`: everyone a
    requirement applied to in the range, with their status at its end."""
    if date_from and date_to and date_to < date_from:
        raise InvalidInput("`to` must not be before `from`.", field="to")
    if across is not None and across == by:
        raise InvalidInput("`across` must be another grouping than `by`.", field="across")
    if across is not None and by == "track":
        raise InvalidInput("A cross table groups by gender, rank, unit or academy.", field="by")
    built = await reports.build(
        session,
        who=who,
        measure=measure,
        by=by,
        across=across,
        academy_id=academy_id,
        date_from=date_from,
        date_to=date_to,
        k=settings.report_min_cell,
    )
    if format == "csv":
        return PlainTextResponse(reports.as_csv(_spreadsheet_safe(built)), media_type=CSV)
    return Report.model_validate(built)


@router.get(
    "/reports/compliance/monthly",
    response_model=MonthlyReport,
    responses={200: {"content": {"text/csv": {}}}},
)
async def monthly_compliance(
    session: DbSession,
    who: Analysts,
    settings: Settings,
    date_from: Annotated[Day, Query(alias="from")],
    date_to: Annotated[Day, Query(alias="to")],
    now: Now,
    academy_id: Id | None = None,
    format: Literal["json", "csv"] = "json",
) -> MonthlyReport | PlainTextResponse:
    """Compliance by gender month by month over `from`–`to` (at most ten years; a `to` in the
    future ends at today), each month suppressed on its own; `history_from` is the first day
    the kept history of statuses holds."""
    if date_to < date_from:
        raise InvalidInput("`to` must not be before `from`.", field="to")
    # No month is reported past today: the latest date anywhere on Earth (UTC+14).
    latest = (now + timedelta(hours=14)).date()
    if date_from > latest:
        raise InvalidInput("A series cannot start in the future.", field="from")
    date_to = min(date_to, latest)
    if (date_to.year - date_from.year) * 12 + date_to.month - date_from.month >= 120:
        raise InvalidInput("A series covers at most 120 months.", field="to")
    built = await reports.monthly(
        session,
        who=who,
        academy_id=academy_id,
        date_from=date_from,
        date_to=date_to,
        k=settings.report_min_cell,
    )
    if format == "csv":
        return PlainTextResponse(reports.monthly_csv(built), media_type=CSV)
    return MonthlyReport.model_validate(built)


def _spreadsheet_safe(report: dict[str, Any]) -> dict[str, Any]:
    """Groups are the academies' own words (ranks, units): a spreadsheet must show them as
    text, never run them as formulas."""

    def safe(cells: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        if cells is None:
            return None
        return [
            {
                **cell,
                "group": spreadsheet_safe(cell["group"]),
                **({"across": spreadsheet_safe(cell["across"])} if "across" in cell else {}),
            }
            for cell in cells
        ]

    return {
        **report,
        "cells": safe(report["cells"]),
        "columns": safe(report.get("columns")),
        "table": safe(report.get("table")),
    }
