"""Resolving a token to this service's records: its academy (a code or an id) and a trainee's
employee number, looked up in the service's own database (never another service's)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from wps_common.auth import Principal, Role
from wps_common.db import Database


class Lookups(Protocol):
    async def academy_id(self, session: AsyncSession, reference: str) -> str | None: ...

    async def trainee_id(
        self, session: AsyncSession, *, academy_id: str | None, employee_number: str
    ) -> str | None: ...


class Directory:
    """Resolves principals with a service's lookups. Academy references are cached once found
    (codes and ids never change); trainees are looked up each time (employee numbers can)."""

    def __init__(self, database: Callable[[], Database], lookups: Lookups) -> None:
        self._database = database
        self.lookups = lookups
        self._academies: dict[str, str] = {}

    async def resolve(self, principal: Principal) -> Principal:
        needs_trainee = (
            principal.trainee_id is None
            and Role.TRAINEE in principal.roles
            and principal.employee_number is not None
        )
        reference = principal.academy_id
        academy_id = self._academies.get(reference) if reference else None
        if (reference and academy_id is None) or needs_trainee:
            async with self._database().reading() as session:
                if reference and academy_id is None:
                    academy_id = await self.lookups.academy_id(session, reference)
                    if academy_id is not None:
                        self._academies[reference] = academy_id
                trainee_id = principal.trainee_id
                if needs_trainee and principal.employee_number is not None:
                    trainee_id = await self.lookups.trainee_id(
                        session,
                        academy_id=academy_id or reference,
                        employee_number=principal.employee_number,
                    )
                # An unknown academy stays as given: it matches no record, so the caller sees
                # nothing rather than someone else's.
                return replace(principal, academy_id=academy_id or reference, trainee_id=trainee_id)
        return replace(principal, academy_id=academy_id or reference)
