"""Curriculum REST API (/v1/modules, /v1/tracks, /v1/requirements, /v1/clearance-profiles): one
router per subdomain."""

from __future__ import annotations

from fastapi import APIRouter

from wps_curriculum.api import clearance_profiles, modules, requirements, tracks

router = APIRouter(prefix="/v1")
router.include_router(modules.router)
router.include_router(tracks.router)
router.include_router(requirements.router)
router.include_router(clearance_profiles.router)
