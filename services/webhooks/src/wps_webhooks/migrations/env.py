"""Alembic environment of the webhooks service (run through `wps-webhooks migrate`)."""

from wps_common.migrations import run_env
from wps_webhooks.models import Base

run_env(Base.metadata)
