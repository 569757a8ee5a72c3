"""The portal's pages, one module per group of people who use them."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from wps_portal.pages import (
        academy,
        academy_oversight,
        academy_settings,
        clearance,
        hr,
        public,
        recognitions,
        review,
        signatures,
        teaching,
        trainee,
    )

    return [
        public.router,
        trainee.router,
        academy.router,
        academy_oversight.router,
        signatures.router,
        recognitions.router,
        academy_settings.router,
        teaching.router,
        review.router,
        hr.router,
        clearance.router,
    ]
