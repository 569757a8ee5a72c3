"""Review of module and track versions: the moves draft → in_review → approved → published →
retired (or back to draft), the four-eyes rule, review comments and the review trail.
Functions never commit."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import Principal, Role
from wps_common.errors import Conflict, Forbidden, InvalidInput
from wps_common.paging import Page
from wps_curriculum.kinds import Kind, V
from wps_curriculum.models import AuditEntry, ModuleVersion
from wps_curriculum.modules import publish_module, retire_module
from wps_curriculum.ownership import find_root, owned, refusal, sees_drafts
from wps_curriculum.schemas import AuditEntryOut, Status
from wps_curriculum.tracks import publish_track, retire_track
from wps_curriculum.trail import history, record
from wps_curriculum.versions import get_version

Action = Literal["submit", "approve", "reject", "publish", "retire"]

# action: (statuses it starts from, status it leads to, past tense for messages)
TRANSITIONS: dict[Action, tuple[tuple[Status, ...], Status, str]] = {
    "submit": (("draft",), "in_review", "submitted for review"),
    "approve": (("in_review",), "approved", "approved"),
    "reject": (("in_review", "approved"), "draft", "rejected"),
    "publish": (("approved",), "published", "published"),
    "retire": (("published",), "retired", "retired"),
}


async def transition(
    session: AsyncSession,
    *,
    kind: Kind[V],
    code: str,
    version: int,
    action: Action,
    who: Principal,
    now: datetime,
    comment: str | None = None,
    four_eyes: bool = True,
) -> V:
    """Move a version along draft → in_review → approved → published → retired (or back to
    draft on rejection). Reviewers approve and reject any submitted version; its owners (and
    platform admins) do the rest. Repeating a publish or retire is a no-op, never a second
    event. `four_eyes=False` is for the starter catalogue only, reviewed in the repository."""
    await _check_may(session, kind, code=code, version=version, action=action, who=who)
    found = await get_version(session, kind, code=code, version=version, lock=True)
    sources, target, done = TRANSITIONS[action]
    if found.status == target and action in ("publish", "retire"):
        return found
    if found.status not in sources:
        allowed = " or ".join(sources)
        raise Conflict(
            f"{kind.title} {code} version {version} is {found.status}; only a version that is "
            f"{allowed} can be {done}.",
            current_status=found.status,
        )
    comment = (comment or "").strip() or None
    if action == "reject" and comment is None:
        raise InvalidInput("Say what must change: a rejection needs a comment.", field="comment")
    await _apply(session, kind, found, action, actor=who.subject, four_eyes=four_eyes, now=now)
    record(
        session,
        entity=kind.name,
        code=code,
        version=version,
        action=done.split()[0],
        actor=who.subject,
        at=now,
        from_status=found.status,
        to_status=target,
        comment=comment,
    )
    found.status = target
    await session.flush()
    return found


async def _check_may(
    session: AsyncSession, kind: Kind[V], *, code: str, version: int, action: Action, who: Principal
) -> None:
    reviewing = action in ("approve", "reject")
    needed = (Role.REVIEWER,) if reviewing else (Role.ADMIN, Role.ACADEMY_ADMIN)
    if not who.has(*needed):
        names = ", ".join(sorted(needed))
        raise Forbidden(f"To {action} a version you need one of the roles: {names}.")
    if not reviewing:
        await owned(session, kind, code=code, who=who, version=version, doing=action)


async def _apply(
    session: AsyncSession,
    kind: Kind[V],
    found: V,
    action: Action,
    *,
    actor: str,
    four_eyes: bool,
    now: datetime,
) -> None:
    """What the move does besides the status: timestamps, and the events of publishing and
    retiring (which may still refuse it)."""
    if action == "approve":
        if four_eyes:
            await _check_four_eyes(session, kind, found, reviewer=actor)
        found.approved_at, found.approved_by = now, actor
    elif action == "reject":
        found.approved_at = found.approved_by = None
    elif action == "submit":
        found.submitted_at = now
    elif action == "publish":
        found.published_at = now
        if isinstance(found, ModuleVersion):
            await publish_module(session, found)
        else:
            await publish_track(session, found)
    elif action == "retire":
        found.retired_at = now
        if isinstance(found, ModuleVersion):
            await retire_module(session, found)
        else:
            await retire_track(session, found)


async def _check_four_eyes(
    session: AsyncSession, kind: Kind[V], found: V, *, reviewer: str
) -> None:
    writers = set(
        await session.scalars(
            select(AuditEntry.actor).where(
                AuditEntry.entity == kind.name,
                AuditEntry.entity_id == found.code,
                AuditEntry.version == found.version,
                AuditEntry.action.in_(["created", "updated"]),
            )
        )
    )
    if reviewer == found.author or reviewer in writers:
        raise Forbidden(
            f"Four eyes: you wrote or edited {kind.name} {found.code} version {found.version}, "
            "so another reviewer must approve it."
        )


async def review_trail(
    session: AsyncSession,
    *,
    kind: Kind[V],
    code: str,
    who: Principal,
    version: int | None = None,
    limit: int = 100,
    offset: int = 0,
    cursor: str | None = None,
) -> Page[AuditEntryOut]:
    """The audit trail of a module or track with its review discussion: for those who see its
    drafts (another academy's admins do not)."""
    root = await find_root(session, kind, code)
    if root is None or not sees_drafts(who, root.owner_academy):
        raise await refusal(
            session,
            kind,
            root,
            code=code,
            who=who,
            doing="read the history of",
            allowed="its academy admins, reviewers and platform admins",
        )
    return await history(
        session,
        entity=kind.name,
        code=code,
        version=version,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )


async def add_comment(
    session: AsyncSession,
    *,
    kind: Kind[V],
    code: str,
    version: int,
    who: Principal,
    comment: str,
    now: datetime,
) -> AuditEntry:
    """A review comment: by a reviewer, or by someone who may change the module or track."""
    if not who.has(Role.REVIEWER):
        await owned(session, kind, code=code, who=who, version=version, doing="comment on")
    found = await get_version(session, kind, code=code, version=version)
    entry = record(
        session,
        entity=kind.name,
        code=code,
        version=found.version,
        action="commented",
        actor=who.subject,
        at=now,
        comment=comment.strip(),
    )
    await session.flush()
    return entry
