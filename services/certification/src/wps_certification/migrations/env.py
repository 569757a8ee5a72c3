"""Alembic environment of the certification service (run through `wps-certification migrate`)."""

from wps_common.migrations import run_env
from wps_certification.models import Base

run_env(Base.metadata)
