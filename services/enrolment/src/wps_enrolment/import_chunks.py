"""One chunk of an import: the employee numbers already there looked up at once, new ones
inserted and changed ones updated (one statement of each, never a query per row), an audit entry
and a `trainee.profile_changed` event per created or changed trainee, and compliance."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Row, Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.audit import entry_values
from wps_common.db import new_id, utcnow
from wps_common.events.contracts import TraineeProfileChanged
from wps_common.events.outbox import insert_rows
from wps_common.tenancy import in_academy
from wps_enrolment import compliance
from wps_enrolment.models import (
    SEARCHED,
    Academy,
    AuditEntry,
    Requirement,
    Trainee,
    outbox,
    trainee_search_text,
)
from wps_enrolment.trainee_csv import COLUMNS


async def upsert_chunk(
    session: AsyncSession,
    academy: Academy,
    rows: list[tuple[int, dict[str, Any]]],
    columns: list[str],
    actor: str,
    evaluated_at: datetime,
    ahead: tuple[dict[int, str], list[tuple[int, dict[str, Any]]]] = ({}, []),
    compliance_counts: compliance.Counts | None = None,
) -> dict[str, int]:
    """Insert new employee numbers, update changed ones: one statement of each per chunk.
    Core statements on the tables, every row with every column: one multi-row INSERT per
    batch (the ORM's bulk insert splits rows into a statement per pattern of NULLs), and the
    events are built from the rows in hand, not read back. Compliance transitions are counted
    into `compliance_counts` when given (the job announces one summary), else announced."""
    numbers = [values["employee_number"] for _, values in rows]
    # Plain rows, not ORM objects: nothing stale stays in the identity map after the UPDATEs
    # below, so compliance (and anyone later in this session) reads the new values.
    stmt = select(*_TRAINEES.c).where(_TRAINEES.c.employee_number.in_(numbers))
    existing = {
        t.employee_number: t
        for t in (await session.execute(in_academy(stmt, _TRAINEES.c.academy_id, academy.id)))
    }
    texts, coming = ahead
    plan = _Plan(texts)
    now = utcnow()
    for _, values in rows:
        plan.add(academy.id, existing.get(values["employee_number"]), values, columns, actor, now)
    # The chunk's events, and the search texts of the next chunk's rows as they would be
    # inserted, are built in a thread while the database writes this chunk's trainees (the
    # driver steps SQLite and awaits PostgreSQL without holding the GIL); nothing in the thread
    # touches the session.
    facts = _AcademyFacts(
        academy.id, academy.code, academy.name, dict(academy.names or {}), list(academy.languages)
    )
    events = asyncio.ensure_future(
        asyncio.to_thread(_work_ahead, plan.profiles, facts, now, coming, texts)
    )
    try:
        if plan.inserts:
            await insert_rows(session, _TRAINEES, plan.inserts)
    except BaseException:
        events.cancel()
        raise
    events_rows = await events
    for change in _same_keys(plan.updates):
        await session.execute(update(Trainee), change)
    if plan.audits:
        await insert_rows(session, _AUDIT, plan.audits)
    if plan.profiles:
        await outbox.add_rows(session, events_rows)
        # Without a requirement there is nothing to evaluate (evaluate would read the chunk's
        # trainees back to find that out).
        if await session.scalar(select(Requirement.code).limit(1)) is not None:
            changed_ids = [p["id"] for p in plan.profiles]
            await compliance.evaluate(
                session, now=evaluated_at, trainee_ids=changed_ids, counts=compliance_counts
            )
    return {"created": len(plan.inserts), "updated": len(plan.updates), "unchanged": plan.unchanged}


_TRAINEES = cast(Table, Trainee.__table__)
_AUDIT = cast(Table, AuditEntry.__table__)
# What a trainee.profile_changed event is built from.
_PROFILE = ("id", "employee_number", "given_name", "family_name", "preferred_language", "active")


def _work_ahead(
    profiles: list[dict[str, Any]],
    academy: _AcademyFacts,
    now: datetime,
    coming: list[tuple[int, dict[str, Any]]],
    texts: dict[int, str],
) -> list[dict[str, Any]]:
    """This chunk's outbox rows; meanwhile the search text each row of the next chunk gets if
    it is inserted (by the identity of its values; an update computes its own)."""
    for _, values in coming:
        texts[id(values)] = trainee_search_text({k: values.get(k) for k in SEARCHED})
    return outbox.rows([_profile_event(p, academy, now) for p in profiles])


class _AcademyFacts(NamedTuple):
    """What a profile event says of the academy, read before the chunk's work goes to a thread
    (which must not touch the ORM object)."""

    id: str
    code: str
    name: str
    names: dict[str, str]
    languages: list[str]


def _profile_event(
    profile: dict[str, Any], academy: _AcademyFacts, now: datetime
) -> TraineeProfileChanged:
    # The event profiles.profile_event builds from a Trainee, built from the row in hand.
    return TraineeProfileChanged(
        trainee_id=profile["id"],
        academy_id=academy.id,
        academy_code=academy.code,
        academy_name=academy.name,
        academy_names=academy.names,
        academy_languages=academy.languages,
        employee_number=profile["employee_number"],
        given_name=profile["given_name"],
        family_name=profile["family_name"],
        preferred_language=profile["preferred_language"],
        active=profile["active"],
        changed_at=now,
    )


@dataclass
class _Plan:
    """The statements one chunk needs: rows to insert, to update, their audit entries, and
    each changed trainee's profile as it now is (for its event)."""

    texts: dict[int, str] = field(default_factory=dict)  # search texts computed ahead
    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    audits: list[dict[str, Any]] = field(default_factory=list)
    profiles: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0

    def add(
        self,
        academy_id: str,
        current: Row[Any] | None,
        values: dict[str, Any],
        columns: list[str],
        actor: str,
        now: datetime,
    ) -> None:
        if current is None:
            record: dict[str, Any] = dict.fromkeys(COLUMNS)
            record |= {"preferred_language": "en", "active": True}
            record |= values
            record |= {
                "id": new_id(),
                "academy_id": academy_id,
                "created_at": now,
                "updated_at": now,
            }
            known = self.texts.pop(id(values), None)
            record["search_text"] = trainee_search_text(record) if known is None else known
            self.inserts.append(record)
            self.audits.append(_audit(academy_id, record["id"], "created", actor, values, now))
            self.profiles.append({k: record[k] for k in _PROFILE})
            return
        changes = {c: values[c] for c in columns if values[c] != getattr(current, c)}
        if not changes:
            self.unchanged += 1
            return
        changed = {"id": current.id, "updated_at": now, **changes}
        if any(name in changes for name in SEARCHED):  # a bulk UPDATE runs no ORM listener
            changed["search_text"] = trainee_search_text({**current._asdict(), **changes})
        self.updates.append(changed)
        self.audits.append(_audit(academy_id, current.id, "imported", actor, changes, now))
        self.profiles.append({k: changes.get(k, getattr(current, k)) for k in _PROFILE})


def _same_keys(rows: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    """Bulk UPDATE by primary key needs the same columns in every row of one statement."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    return groups.values()


def _audit(
    academy_id: str, trainee_id: str, action: str, actor: str, changes: dict[str, Any], at: datetime
) -> dict[str, Any]:
    values = entry_values(
        academy_id=academy_id,
        entity="trainee",
        entity_id=trainee_id,
        action=action,
        actor=actor,
        changes=changes,
        at=at,
    )
    # A job may run in another process after a restart, where no token is at hand: its entries
    # name the subject only, whichever process runs it.
    return values | {"actor_name": None}
