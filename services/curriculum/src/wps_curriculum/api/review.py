"""Review routes of modules and tracks, registered once per kind: moving a version through
review, comparing two versions, the audit trail with review comments, commenting."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Query

from wps_common import fields
from wps_common.app import DbSession
from wps_common.clock import Now
from wps_common.paging import Cursor, Page
from wps_curriculum import review, versions
from wps_curriculum.api.parameters import (
    ActionPath,
    CodePath,
    Commenter,
    Limit,
    Offset,
    Reader,
    VersionPath,
)
from wps_curriculum.api.versions import Resource
from wps_curriculum.kinds import Kind
from wps_curriculum.schemas import AuditEntryOut, CommentIn, DiffOut, ReviewNote


def review_routes(router: APIRouter, resource: Resource[Any]) -> None:
    """Diff, history and comments, then the `{action}` route (which would otherwise take
    `comments`)."""
    kind, plural, entity = resource.kind, resource.plural, resource.kind.name
    at = f"/{plural}/{{code}}"
    tags: list[str | Enum] = [plural]  # FastAPI's parameter type
    router.add_api_route(
        f"{at}/diff",
        _diff(kind),
        methods=["GET"],
        tags=tags,
        name=f"diff_{plural}",
        description=f"What changed between two versions of a {entity}, field by field.",
    )
    router.add_api_route(
        f"{at}/history",
        _history(kind),
        methods=["GET"],
        tags=tags,
        name=f"{entity}_history",
        description=f"Who did what when to a {entity} (or one version): the audit trail with "
        "review comments.",
    )
    router.add_api_route(
        f"{at}/versions/{{version}}/comments",
        _comment(kind),
        methods=["POST"],
        status_code=201,
        tags=tags,
        name=f"comment_{entity}",
        description=f"Add a review comment to a {entity} version.",
    )
    router.add_api_route(
        f"{at}/versions/{{version}}/{{action}}",
        _act(resource),
        methods=["POST"],
        tags=tags,
        name=f"act_on_{entity}",
        response_model=resource.full_model,
        description=resource.act_description,
    )


def _diff(kind: Kind[Any]) -> Callable[..., Awaitable[Any]]:
    async def diff(
        code: CodePath,
        session: DbSession,
        who: Reader,
        from_version: Annotated[fields.Version, Query(alias="from")],
        to_version: Annotated[fields.Version, Query(alias="to")],
    ) -> DiffOut:
        return await versions.compare(
            session, kind, code=code, from_version=from_version, to_version=to_version, who=who
        )

    return diff


def _history(kind: Kind[Any]) -> Callable[..., Awaitable[Any]]:
    async def history(
        code: CodePath,
        session: DbSession,
        who: Commenter,
        version: Annotated[fields.Version | None, Query()] = None,
        limit: Limit = 100,
        offset: Offset = 0,
        cursor: Cursor = None,
    ) -> Page[AuditEntryOut]:
        return await review.review_trail(
            session,
            kind=kind,
            code=code,
            who=who,
            version=version,
            limit=limit,
            offset=offset,
            cursor=cursor,
        )

    return history


def _comment(kind: Kind[Any]) -> Callable[..., Awaitable[Any]]:
    async def comment(
        code: CodePath,
        version: VersionPath,
        body: CommentIn,
        session: DbSession,
        who: Commenter,
        now: Now,
    ) -> AuditEntryOut:
        entry = await review.add_comment(
            session, kind=kind, code=code, version=version, who=who, comment=body.comment, now=now
        )
        return AuditEntryOut.model_validate(entry)

    return comment


def _act(resource: Resource[Any]) -> Callable[..., Awaitable[Any]]:
    async def act(
        code: CodePath,
        version: VersionPath,
        action: ActionPath,
        session: DbSession,
        who: Commenter,
        now: Now,
        note: ReviewNote | None = None,
    ) -> Any:
        found = await review.transition(
            session,
            kind=resource.kind,
            code=code,
            version=version,
            action=action,
            who=who,
            now=now,
            comment=note.comment if note else None,
        )
        return resource.full(found)

    return act
