"""Enrolment REST API (/v1/academies, /v1/trainees, /v1/cohorts, /v1/enrolments)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from wps_common.app import DbSession
from wps_common.auth import Principal, Role, require
from wps_enrolment import service
from wps_enrolment.schemas import (
    AcademyCreate,
    AcademyOut,
    CohortCreate,
    CohortOut,
    EnrolmentCreate,
    EnrolmentOut,
    ResultCreate,
    ResultOut,
    ResultRecorded,
    TraineeCreate,
    TraineeOut,
)

router = APIRouter(prefix="/v1")

Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Staff = Annotated[Principal, Depends(require(Role.ADMIN, Role.ACADEMY_ADMIN))]
Teaching = Annotated[Principal, Depends(require(Role.ADMIN, Role.ACADEMY_ADMIN, Role.INSTRUCTOR))]
Reader = Annotated[Principal, Depends(require(*Role))]


@router.post("/academies", status_code=201, tags=["academies"])
async def create_academy(body: AcademyCreate, session: DbSession, who: Admin) -> AcademyOut:
    """Register an academy (a tenant)."""
    return AcademyOut.model_validate(await service.create_academy(session, data=body))


@router.get("/academies/{academy_id}", tags=["academies"])
async def get_academy(academy_id: str, session: DbSession, who: Reader) -> AcademyOut:
    """One academy (academy-scoped callers see only their own)."""
    return AcademyOut.model_validate(
        await service.get_academy(session, academy_id=academy_id, who=who)
    )


@router.post("/trainees", status_code=201, tags=["trainees"])
async def create_trainee(body: TraineeCreate, session: DbSession, who: Staff) -> TraineeOut:
    """Register a trainee under the HR system's employee number (unique per academy)."""
    return TraineeOut.model_validate(await service.create_trainee(session, data=body, who=who))


@router.get("/trainees/{trainee_id}", tags=["trainees"])
async def get_trainee(trainee_id: str, session: DbSession, who: Reader) -> TraineeOut:
    """One trainee (trainees see only themselves)."""
    return TraineeOut.model_validate(
        await service.get_trainee(session, trainee_id=trainee_id, who=who)
    )


@router.post("/cohorts", status_code=201, tags=["cohorts"])
async def create_cohort(body: CohortCreate, session: DbSession, who: Staff) -> CohortOut:
    """Open a cohort for the latest published version of a track."""
    return CohortOut.model_validate(await service.create_cohort(session, data=body, who=who))


@router.get("/cohorts/{cohort_id}", tags=["cohorts"])
async def get_cohort(cohort_id: str, session: DbSession, who: Teaching) -> CohortOut:
    """One cohort."""
    return CohortOut.model_validate(await service.get_cohort(session, cohort_id=cohort_id, who=who))


@router.post("/cohorts/{cohort_id}/enrolments", status_code=201, tags=["enrolments"])
async def enrol(
    cohort_id: str, body: EnrolmentCreate, session: DbSession, who: Staff
) -> EnrolmentOut:
    """Enrol a trainee of the cohort's academy (emits trainee.enrolled)."""
    enrolment = await service.enrol(
        session, cohort_id=cohort_id, trainee_id=body.trainee_id, who=who
    )
    return EnrolmentOut.model_validate(enrolment)


@router.get("/enrolments/{enrolment_id}", tags=["enrolments"])
async def get_enrolment(enrolment_id: str, session: DbSession, who: Reader) -> EnrolmentOut:
    """One enrolment (trainees see only their own)."""
    return EnrolmentOut.model_validate(
        await service.get_enrolment(session, enrolment_id=enrolment_id, who=who)
    )


@router.post("/enrolments/{enrolment_id}/results", status_code=201, tags=["enrolments"])
async def record_result(
    enrolment_id: str, body: ResultCreate, session: DbSession, who: Teaching
) -> ResultRecorded:
    """Record a module's attendance and score; passing all modules completes the track."""
    result, enrolment = await service.record_result(
        session, enrolment_id=enrolment_id, data=body, who=who, today=datetime.now(UTC).date()
    )
    return ResultRecorded(
        result=ResultOut.model_validate(result), enrolment=EnrolmentOut.model_validate(enrolment)
    )
