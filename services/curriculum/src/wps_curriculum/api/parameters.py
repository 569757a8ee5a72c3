"""What the curriculum routes take: who may call them, path and query parameters, and which
statuses a list shows by default."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query

from wps_common import fields
from wps_common.auth import Principal, Role, require
from wps_curriculum.review import Action
from wps_curriculum.schemas import (
    CODE_PATTERN,
    LANGUAGE_PATTERN,
    REQUIREMENT_CODE_PATTERN,
    STATUSES,
    OwnerAcademy,
    Status,
)

# Authors write and publish; reviewers (gender and human-rights experts) approve or reject.
Author = Annotated[Principal, Depends(require(Role.ADMIN, Role.ACADEMY_ADMIN))]
Commenter = Annotated[Principal, Depends(require(Role.ADMIN, Role.ACADEMY_ADMIN, Role.REVIEWER))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Reader = Annotated[Principal, Depends(require(*Role))]
CodePath = Annotated[str, Path(pattern=CODE_PATTERN)]
RequirementPath = Annotated[str, Path(pattern=REQUIREMENT_CODE_PATTERN)]
VersionPath = Annotated[fields.Version, Path()]
ActionPath = Annotated[Action, Path(description="submit, approve, reject, publish, retire")]
Lang = Annotated[
    str | None,
    Query(
        pattern=LANGUAGE_PATTERN,
        description="give texts in this language only; where a text is missing in it, English "
        "when there is English, else another language (`fallback_languages` says which)",
    ),
]
Limit = Annotated[fields.Limit, Query()]
Offset = Annotated[fields.Offset, Query()]
Words = Annotated[fields.Search | None, Query(description="words, searched in every language")]
Owner = Annotated[
    OwnerAcademy | None,
    Query(description="an owning academy (as tokens name it), or `national`"),
]
SortKey = Annotated[
    str,
    Query(
        pattern=r"^-?(code|title|created_at|published_at)$",
        description="code, title (English, or the first language of a title without English), "
        "created_at or published_at; '-' for descending",
    ),
]
STAFF = (Role.ADMIN, Role.ACADEMY_ADMIN, Role.REVIEWER)


def shown_statuses(who: Principal, asked: list[Status] | None) -> list[Status]:
    """What a list shows by default: every status to staff (the service leaves out what the
    caller may not read, e.g. another academy's drafts), the published curriculum to others."""
    if asked:
        return asked
    return list(STATUSES) if who.has(*STAFF) else ["published"]
