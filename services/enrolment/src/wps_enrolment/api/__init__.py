"""Enrolment REST API: /v1/academies, /v1/trainees, /v1/imports, /v1/cohorts, /v1/enrolments,
/v1/compliance, /v1/clearance, /v1/recognitions and /v1/reports, one router per subdomain, each
included in the app under `PREFIX` (see wps_common.app.build_app)."""

from __future__ import annotations

from wps_enrolment.api.academies import router as academies
from wps_enrolment.api.clearance import router as clearance
from wps_enrolment.api.cohorts import router as cohorts
from wps_enrolment.api.compliance import router as compliance
from wps_enrolment.api.enrolments import router as enrolments
from wps_enrolment.api.imports import router as imports
from wps_enrolment.api.recognitions import router as recognitions
from wps_enrolment.api.reports import router as reports
from wps_enrolment.api.results import router as results
from wps_enrolment.api.trainees import router as trainees

PREFIX = "/v1"
routers = (
    academies,
    trainees,
    compliance,
    clearance,
    recognitions,
    imports,
    cohorts,
    enrolments,
    results,
    reports,
)

__all__ = ["PREFIX", "routers"]
