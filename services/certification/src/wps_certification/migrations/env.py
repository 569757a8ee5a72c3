"""Alembic environment of the certification service (run through `wps-certification migrate`)."""

from wps_certification.models import Base
from wps_common.migrations import run_env

run_env(Base.metadata)
