"""Alembic environment of the enrolment service (run through `wps-enrolment migrate`)."""

from wps_common.migrations import run_env
from wps_enrolment.models import Base

run_env(Base.metadata)
