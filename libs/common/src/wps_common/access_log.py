"""Access log lines that name the route, not the person: query values and verification codes
are replaced before a line is written (names, employee numbers and gender arrive as queries;
a verification code is a bearer secret for a certificate's details)."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

from uvicorn.config import LOGGING_CONFIG

REDACTED = "…"
# /v1/verify/<code> and /v1/verify/<code>.pdf: the code is the secret, the route is not.
SECRET_SEGMENTS = re.compile(r"(/v1/verify/)[^/?#]+")


def redact(target: str) -> str:
    path, question, query = target.partition("?")
    path = SECRET_SEGMENTS.sub(rf"\g<1>{REDACTED}", path)
    if question:
        keys = (part.partition("=")[0] for part in query.split("&") if part)
        query = "&".join(f"{key}={REDACTED}" for key in keys)
    return path + question + query


class RedactingFilter(logging.Filter):
    """For uvicorn's access logger, whose arguments are (client, method, target, version,
    status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, target, version, status = record.args
            record.args = (client, method, redact(str(target)), version, status)
        return True


def log_config(service: str | None = None, log_format: str = "console") -> dict[str, Any]:
    """uvicorn's logging configuration, its handlers writing through the platform's formatter
    (wps_common.logs: JSON or console lines), the redacting filter on its access log, and the
    root logger on the same handler so every other logger writes the same way."""
    config = copy.deepcopy(LOGGING_CONFIG)
    for name in ("default", "access"):
        config["formatters"][name] = {
            "()": "wps_common.logs.formatter",
            "service": service,
            "log_format": log_format,
        }
    config.setdefault("filters", {})["redact"] = {"()": RedactingFilter}
    config["handlers"]["access"]["filters"] = ["redact"]
    config["root"] = {"handlers": ["default"], "level": "INFO"}
    return config
