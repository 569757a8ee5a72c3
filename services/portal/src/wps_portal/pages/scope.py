"""Which academy an academy page is about, and the academies an admin may pick from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import HTTPException, Request

from wps_common.auth import Role
from wps_portal.web import User, call

ACADEMIES_PAGE = 500  # the services' largest page


@dataclass(frozen=True)
class Scope:
    """The academy the pages show: an academy admin's own, or the one an admin picked."""

    academy: dict[str, Any]
    choices: list[dict[str, Any]]

    @property
    def id(self) -> str:
        return str(self.academy["id"])

    def today(self) -> date:
        return Clock.of(self.academy).today()


@dataclass(frozen=True)
class Clock:
    """Times as the academy lives them: the services answer in UTC."""

    zone: ZoneInfo

    @classmethod
    def of(cls, academy: dict[str, Any] | None) -> Clock:
        try:
            return cls(ZoneInfo(str((academy or {}).get("time_zone") or "UTC")))
        except (ZoneInfoNotFoundError, ValueError):
            return cls(ZoneInfo("UTC"))

    def today(self) -> date:
        return datetime.now(self.zone).date()

    def moment(self, value: str | None) -> datetime | None:
        if not value:
            return None
        at = datetime.fromisoformat(value)
        return at.astimezone(self.zone) if at.tzinfo else at

    def day(self, value: str | None) -> date | None:
        at = self.moment(value)
        return at.date() if at else None


async def academy_scope(request: Request, user: User, *, remember: bool = True) -> Scope | None:
    """Enrolment lists only the caller's own academy to an academy admin (ordered by code); an
    admin sees all and picks one (`?academy=`). With `remember`, the pick is kept in the session
    for the other pages that remember it."""
    listed = await call(
        request, "enrolment", "GET", "/v1/academies", params={"limit": ACADEMIES_PAGE}
    )
    academies: list[dict[str, Any]] = list(listed["items"])
    if not academies:
        return None
    session = request.scope["session"]
    wanted = request.query_params.get("academy") or (
        session.get("academy_choice") if remember else None
    )
    chosen = next((a for a in academies if a["id"] == wanted), academies[0])
    if user.has(Role.ADMIN) and len(academies) > 1:
        if remember:
            session["academy_choice"] = chosen["id"]
        return Scope(chosen, academies)
    return Scope(chosen, [])


async def required_scope(request: Request, user: User, *, remember: bool = True) -> Scope:
    """As `academy_scope`, and a 404 when the user may see no academy."""
    scope = await academy_scope(request, user, remember=remember)
    if scope is None:
        raise HTTPException(status_code=404)
    return scope
