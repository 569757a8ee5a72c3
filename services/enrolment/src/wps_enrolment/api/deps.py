"""What the enrolment routes share: who may call them, the settings, and common answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from wps_common.auth import Principal, Role, require
from wps_common.fields import SingleLine
from wps_enrolment.settings import EnrolmentSettings

Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Staff = Annotated[Principal, Depends(require(Role.ADMIN, Role.ACADEMY_ADMIN))]
Teaching = Annotated[Principal, Depends(require(Role.ADMIN, Role.ACADEMY_ADMIN, Role.INSTRUCTOR))]
Overseeing = Annotated[
    Principal, Depends(require(Role.ADMIN, Role.ACADEMY_ADMIN, Role.INSTRUCTOR, Role.HR))
]
Analysts = Annotated[Principal, Depends(require(Role.ADMIN, Role.ACADEMY_ADMIN, Role.HR))]
Reader = Annotated[Principal, Depends(require(*Role))]
Filter = Annotated[str, SingleLine(200)]
CSV = "text/csv; charset=utf-8"
# Another academy's records do not exist for an academy-scoped caller (wps_common.tenancy), also
# when a filter or a body names that academy.
OTHER_ACADEMY: dict[int | str, dict[str, Any]] = {
    404: {"description": "`academy_id` names an academy the caller does not see."}
}


def settings_of(request: Request) -> EnrolmentSettings:
    settings: EnrolmentSettings = request.app.state.settings
    return settings


Settings = Annotated[EnrolmentSettings, Depends(settings_of)]
