"""Track routes (/v1/tracks): lists, creating tracks and drafts; reading versions and review
come from the routes modules and tracks share."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from wps_common.app import DbSession
from wps_common.clock import Now
from wps_common.paging import Cursor, Page
from wps_curriculum import tracks, versions
from wps_curriculum.api.parameters import (
    Author,
    CodePath,
    Lang,
    Limit,
    Offset,
    Owner,
    Reader,
    SortKey,
    VersionPath,
    Words,
    shown_statuses,
)
from wps_curriculum.api.review import review_routes
from wps_curriculum.api.versions import Resource, in_language, meta, version_routes
from wps_curriculum.kinds import LOCALISED_FIELDS, TRACKS
from wps_curriculum.models import TrackVersion
from wps_curriculum.schemas import (
    CODE_PATTERN,
    LANGUAGE_PATTERN,
    SLUG_PATTERN,
    LocalisedTrackOut,
    Status,
    TrackContent,
    TrackCreate,
    TrackVersionOut,
)

router = APIRouter()
TrackOut = TrackVersionOut | LocalisedTrackOut


def track_full(version: TrackVersion) -> TrackVersionOut:
    return TrackVersionOut.model_validate({**version.content, **meta(version, "track")})


def track_out(version: TrackVersion, lang: str | None = None) -> TrackOut:
    if lang is None:
        return track_full(version)
    data = {**version.content, **meta(version, "track")}
    fallbacks: dict[str, str] = {}
    for field in LOCALISED_FIELDS["track"]:
        data[field] = in_language(lang, version.content.get(field) or {}, field, fallbacks)
    return LocalisedTrackOut.model_validate(
        {**data, "language": lang, "fallback_languages": fallbacks}
    )


@router.get("/tracks", tags=["tracks"])
async def list_tracks(
    session: DbSession,
    who: Reader,
    status: Annotated[list[Status] | None, Query()] = None,
    role: Annotated[str | None, Query(pattern=SLUG_PATTERN, description="a target role")] = None,
    module: Annotated[str | None, Query(pattern=CODE_PATTERN, description="contains it")] = None,
    language: Annotated[str | None, Query(pattern=LANGUAGE_PATTERN)] = None,
    q: Words = None,
    owner: Owner = None,
    lang: Lang = None,
    sort: SortKey = "code",
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: Cursor = None,
) -> Page[TrackOut]:
    """Tracks, newest readable matching version of each: filter by status, owner, target role,
    module, complete language and words (searched in every language), sort, page."""
    listing = await versions.search(
        session,
        kind=TRACKS,
        who=who,
        statuses=shown_statuses(who, status),
        owner=owner,
        tag=role,
        module=module,
        language=language,
        q=q,
        sort=sort,
        limit=limit,
        offset=offset,
        cursor=cursor,
    )
    return Page[TrackOut].of(
        listing, [track_out(row, lang) for row in listing.items], limit=limit, offset=offset
    )


@router.post("/tracks", status_code=201, tags=["tracks"])
async def create_track(
    body: TrackCreate, session: DbSession, who: Author, now: Now
) -> TrackVersionOut:
    """Create a track of published module versions, owned like a module; its first version is
    a draft."""
    return track_full(await tracks.create_track(session, data=body, who=who, now=now))


async def new_track_version(
    code: CodePath, body: TrackContent, session: DbSession, who: Author, now: Now
) -> TrackVersionOut:
    """Start the next version of a track as a draft, with this content."""
    return track_full(
        await tracks.new_track_version(session, code=code, data=body, who=who, now=now)
    )


async def edit_track_draft(
    code: CodePath,
    version: VersionPath,
    body: TrackContent,
    session: DbSession,
    who: Author,
    now: Now,
) -> TrackVersionOut:
    """Replace the content of a draft (published versions never change)."""
    found = await tracks.edit_track_draft(
        session, code=code, version=version, data=body, who=who, now=now
    )
    return track_full(found)


RESOURCE = Resource(
    kind=TRACKS,
    full=track_full,
    localised=track_out,
    full_model=TrackVersionOut,
    out_model=TrackOut,
    act_description="Move a track version through review, as for modules (emits track.published "
    "and\ntrack.retired).",
)
version_routes(router, RESOURCE, new_version=new_track_version, edit_draft=edit_track_draft)
review_routes(router, RESOURCE)
