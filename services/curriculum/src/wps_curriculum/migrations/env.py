"""Alembic environment of the curriculum service (run through `wps-curriculum migrate`)."""

from wps_common.migrations import run_env
from wps_curriculum.models import Base

run_env(Base.metadata)
